using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Health.V1;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// 5,000+ generated malformed requests over every RPC, each with at least one field made invalid
/// and the others random: never INTERNAL, UNKNOWN or UNAVAILABLE (the backends are healthy), nothing
/// stored changes, the server stays healthy.
/// </summary>
public sealed class MalformedInputTests : IClassFixture<BrokerFixture>
{
    private const string Account = "fuzzed";
    private readonly BrokerFixture _fixture;

    public MalformedInputTests(BrokerFixture fixture)
    {
        _fixture = fixture;
    }

    [Fact]
    public async Task Five_thousand_malformed_requests_get_clean_refusals_and_change_nothing()
    {
        var host = _fixture.Host;
        await using (var connection = new Npgsql.NpgsqlConnection(host.Database.ConnectionString))
        {
            await Dapper.SqlMapper.ExecuteAsync(connection, "INSERT INTO accounts (id, name) VALUES ('fuzzed', 'fuzzed')");
            await Dapper.SqlMapper.ExecuteAsync(connection,
                "INSERT INTO subscriptions (account_id, product_code, plan, valid_until, named_seat_limit, concurrent_seat_limit) VALUES ('fuzzed', 'remote-support', 'PAID', now() + interval '1 day', 5, 5)");
        }

        var agent = (await new CatalogSeeder(host.Database).AgentsAsync(Account, 1, "CONCURRENT"))[0];
        await host.Agent(Account, agent).AcquireAsync("remote-support");
        await host.AuditWrittenAsync();
        var before = await StateSnapshot.TakeAsync(host, Account);

        var agentHeaders = BrokerTestHost.Bearer(Cli.DevTokens.Mint(host.SigningKey, Account, agent, TimeSpan.FromMinutes(30)));
        var adminHeaders = host.AdminHeaders(Account);
        var serviceHeaders = host.ServiceHeaders();
        var random = new Random(20261123);
        var junk = new Junk(random);
        var seat = new SeatService.SeatServiceClient(host.Channel);
        var admin = new SeatAdminService.SeatAdminServiceClient(host.Channel);
        var subscriptions = new SubscriptionService.SubscriptionServiceClient(host.Channel);
        var entitlements = new EntitlementService.EntitlementServiceClient(host.Channel);

        // Each generator returns a call whose request has at least one invalid field.
        var generators = new List<Func<Task>>
        {
            () => Call(seat.AcquireSeatAsync(Broken(junk, new AcquireSeatRequest { Product = junk.Product(), SessionId = junk.Id(), Device = junk.Device(), SessionKind = junk.Enum<SessionKind>(), UnattendedDeviceId = junk.Maybe() }), agentHeaders)),
            () => Call(seat.HeartbeatAsync(new HeartbeatRequest { Product = junk.Product(), LeaseId = junk.Bad(), SessionId = junk.Maybe(), FencingToken = junk.Long(), Device = junk.Device(), SessionKind = junk.Enum<SessionKind>(), LeaseProof = junk.Maybe() }, agentHeaders)),
            () => Call(seat.HeartbeatAsync(new HeartbeatRequest { Product = "remote-support", LeaseId = Domain.Seats.SeatBroker.NewLeaseId(), SessionId = "s-1", FencingToken = junk.Choose(-1L, long.MinValue, long.MaxValue, Domain.Seats.FencingTokens.MaxValue + 1), LeaseProof = junk.Maybe() }, agentHeaders)),
            () => Call(seat.HeartbeatAsync(new HeartbeatRequest { Product = "remote-support", LeaseId = Domain.Seats.SeatBroker.NewLeaseId(), SessionId = "s-1", FencingToken = 1, LeaseProof = junk.Bad() }, agentHeaders)),
            () => Call(seat.HeartbeatAsync(new HeartbeatRequest { Product = "remote-support", LeaseId = Domain.Seats.SeatBroker.NewLeaseId(), SessionId = "s-1", IdleFor = junk.Duration() }, agentHeaders)),
            () => Call(seat.ReleaseSeatAsync(new ReleaseSeatRequest { Product = junk.Product(), LeaseId = junk.Bad() }, agentHeaders)),
            () => Call(admin.ForceReleaseAsync(new ForceReleaseRequest { Product = junk.Bad(), LeaseIds = { junk.Maybe() }, AgentIds = { junk.Maybe() } }, adminHeaders)),
            () => Call(admin.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = junk.Bad(), Page = new PageRequest { PageSize = junk.Int(), PageToken = junk.Maybe() } }, adminHeaders)),
            () => Call(admin.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = "remote-support", Page = new PageRequest { PageSize = junk.Choose(-1, 1001, int.MaxValue, int.MinValue), PageToken = junk.Maybe() } }, adminHeaders)),
            () => Call(admin.GetSeatUsageAsync(new GetSeatUsageRequest { Product = junk.Bad() }, adminHeaders)),
            () => Call(admin.GetUsageHistoryAsync(new GetUsageHistoryRequest { Product = junk.Product(), From = junk.Bad(), To = junk.Maybe() }, adminHeaders)),
            () => Call(admin.GetUsageHistoryAsync(new GetUsageHistoryRequest
            {
                Product = "remote-support", From = junk.Choose("0001-01-01", "9999-12-30", "1999-12-31", "2026-02-30"), To = junk.Choose("0001-01-02", "9999-12-31", "2200-01-01"),
            }, adminHeaders)),
            () => Call(admin.EraseAgentAsync(new EraseAgentRequest { AgentId = junk.Bad() }, adminHeaders)),
            () => Call(admin.SetEventRetentionAsync(new SetEventRetentionRequest { RetentionDays = junk.Choose(-1, 0, 1, 399, 401, 3650, int.MaxValue, int.MinValue) }, adminHeaders)),
            () => Call(admin.ListAuditEventsAsync(new ListAuditEventsRequest { AgentId = junk.Bad() }, adminHeaders)),
            () => Call(admin.PlanSeatsAsync(
                new PlanSeatsRequest
                {
                    Product = junk.Product(),
                    From = new Google.Protobuf.WellKnownTypes.Timestamp { Seconds = junk.Long(), Nanos = junk.Choose(-1, 1_000_000_000, 0) },
                    To = random.Next(3) == 0 ? null : Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(junk.Choose(-500, -1, 0, 1, 500))),
                    Candidates = { junk.Choose(-1, 0, 100_001, int.MaxValue, int.MinValue) },
                    MaxUnservedPercent = junk.Choose(double.NaN, double.PositiveInfinity, -1, 101, 0.5),
                    MaxP95Wait = junk.Duration(),
                },
                adminHeaders)),
            () => Call(admin.ListAgentsAsync(new ListAgentsRequest { Page = new PageRequest { PageToken = System.Buffers.Text.Base64Url.EncodeToString(junk.Choose("\0"u8.ToArray(), "a\nb"u8.ToArray(), [0xFF, 0xFE], [0xC3, 0x28])) } }, adminHeaders)),
            () => Call(admin.AssignSeatAsync(new AssignSeatRequest { AgentId = junk.Id(), Product = junk.Product(), SeatType = junk.Choose(SeatType.Unspecified, SeatType.Unlimited, (SeatType)77, (SeatType)(-5)) }, adminHeaders)),
            () => Call(admin.UnassignSeatAsync(new UnassignSeatRequest { AgentId = junk.Bad(), Product = junk.Product() }, adminHeaders)),
            () => Call(admin.BulkAssignSeatsAsync(new BulkAssignSeatsRequest { AllOrNothing = random.Next(2) == 0, Items = { new BulkAssignItem { AgentId = junk.Bad(), Product = junk.Product(), SeatType = junk.Enum<SeatType>() } } }, adminHeaders)),
            () => Call(admin.ListAgentsAsync(new ListAgentsRequest { Product = junk.Bad(), SeatFilter = junk.Enum<SeatFilter>(), Page = new PageRequest { PageSize = junk.Int() } }, adminHeaders)),
            () => Call(admin.ListAgentsAsync(new ListAgentsRequest { Query = junk.Choose(new string('q', 101), "a\u0000b", "%\n", "_\u001b") }, adminHeaders)),
            () => Call(admin.ListUnattendedDevicesAsync(new ListUnattendedDevicesRequest { Product = junk.Bad(), Page = new PageRequest { PageSize = junk.Int(), PageToken = junk.Maybe() } }, adminHeaders)),
            () => Call(admin.ListAuditEventsAsync(new ListAuditEventsRequest
            {
                Product = junk.Maybe(),
                Actions = { junk.Choose("SEAT", "seat.", ".seat", "a.b.c.d", "seat;drop", new string('a', 33), junk.Bad()) },
                From = new Google.Protobuf.WellKnownTypes.Timestamp { Seconds = junk.Long(), Nanos = junk.Choose(-1, 1_000_000_000, 0) },
                Page = new PageRequest { PageSize = junk.Int(), PageToken = junk.Choose(junk.Maybe(), System.Buffers.Text.Base64Url.EncodeToString("-5"u8), System.Buffers.Text.Base64Url.EncodeToString("99999999999999999999"u8), System.Buffers.Text.Base64Url.EncodeToString("0"u8)) },
            }, adminHeaders)),
            () => Call(admin.UpsertAgentAsync(new UpsertAgentRequest { AgentId = junk.Id(), Email = junk.Bad(), DisplayName = junk.Maybe(), Role = junk.Enum<AgentRole>(), Privileges = { junk.Enum<Privilege>() } }, adminHeaders)),
            () => Call(admin.RemoveAgentAsync(new RemoveAgentRequest { AgentId = junk.Bad() }, adminHeaders)),
            () => Call(admin.RegisterUnattendedDeviceAsync(new RegisterUnattendedDeviceRequest { Product = junk.Product(), DeviceId = junk.Bad(), DisplayName = junk.Maybe(), Platform = junk.Enum<Platform>() }, adminHeaders)),
            () => Call(admin.UnregisterUnattendedDeviceAsync(new UnregisterUnattendedDeviceRequest { Product = junk.Bad(), DeviceId = junk.Maybe() }, adminHeaders)),
            () => Call(admin.CreateProvisioningTokenAsync(new CreateProvisioningTokenRequest { Name = junk.Choose(string.Empty, "   ", "ok\u0000", new string('n', 101)) }, adminHeaders)),
            () => Call(admin.RevokeProvisioningTokenAsync(new RevokeProvisioningTokenRequest { TokenId = junk.Choose(junk.Bad(), "pt_0123456789ABCDEF", "pt_0123", "lbp_pt_0123456789abcdef") }, adminHeaders)),
            () => Call(admin.MapProvisioningGroupAsync(new MapProvisioningGroupRequest
            {
                GroupName = junk.Maybe(), Product = junk.Product(), SeatType = junk.Choose(SeatType.Unspecified, SeatType.Unlimited, (SeatType)77, (SeatType)(-5)),
            }, adminHeaders)),
            () => Call(admin.UpsertAgentGroupAsync(new UpsertAgentGroupRequest
            {
                GroupId = junk.Bad(), DisplayName = junk.Maybe(), ReplaceMembers = random.Next(2) == 0,
                MemberIds = { Enumerable.Range(0, junk.Choose(0, 2, 10_001)).Select(_ => junk.Id()) },
            }, adminHeaders)),
            () => Call(admin.UpsertAgentGroupAsync(new UpsertAgentGroupRequest
            {
                GroupId = "team", DisplayName = "Team", ReplaceMembers = true, MemberIds = { "agent-1", junk.Choose(string.Empty, "a|b", "x;y", new string('m', 129)) },
            }, adminHeaders)),
            () => Call(admin.ListAgentGroupsAsync(new ListAgentGroupsRequest { GroupId = junk.Choose("a|b", "x\u0001", new string('g', 129), "{tag}") }, adminHeaders)),
            () => Call(admin.DeleteAgentGroupAsync(new DeleteAgentGroupRequest { GroupId = junk.Bad() }, adminHeaders)),
            () => Call(admin.SetGroupSeatRuleAsync(new SetGroupSeatRuleRequest
            {
                Product = junk.Product(), GroupId = junk.Id(), ReservedSeats = junk.Choose(-1, int.MinValue, 1_000_001), MaxSeats = junk.Int(),
            }, adminHeaders)),
            () => Call(admin.SetGroupSeatRuleAsync(new SetGroupSeatRuleRequest { Product = "remote-support", GroupId = "team", ReservedSeats = 2, MaxSeats = junk.Choose(-1, 0, 1, 1_000_001) }, adminHeaders)),
            () => Call(admin.RemoveGroupSeatRuleAsync(new RemoveGroupSeatRuleRequest { Product = junk.Product(), GroupId = junk.Bad() }, adminHeaders)),
            () => Call(admin.SetSessionTimeoutsAsync(new SetSessionTimeoutsRequest
            {
                Product = junk.Product(), PendingTimeoutSeconds = junk.Choose(-1, 1, 86_401, int.MaxValue, int.MinValue), IdleTimeoutSeconds = junk.Int(),
            }, adminHeaders)),
            () => Call(admin.SetMyPreferencesAsync(new SetMyPreferencesRequest
            {
                TimeZone = junk.Choose("Mars/Olympus", "../../etc/passwd", "Europe/Paris\0", new string('A', 65), "UTC;DROP", junk.Bad()),
            }, adminHeaders)),
            () => Call(admin.CreateWebhookEndpointAsync(new CreateWebhookEndpointRequest
            {
                Url = junk.Choose("https://10.1.2.3/x", "https://[::1]/x", "http://93.184.216.34/x", "https://169.254.169.254/", "gopher://x", "", junk.Bad()),
                EventTypes = { Enumerable.Range(0, junk.Choose(0, 1, 11)).Select(_ => junk.Choose("seat.granted", "pool.threshold", junk.Bad())) },
                ThresholdPercent = junk.Choose(0, 1, 101, -5, int.MaxValue),
            }, adminHeaders)),
            () => Call(admin.UpdateWebhookEndpointAsync(new UpdateWebhookEndpointRequest
            {
                EndpointId = junk.Choose("whe_0123456789abcdef", junk.Bad()), Url = junk.Choose("https://10.9.9.9/x", junk.Bad()), EventTypes = { "seat.granted" },
                State = junk.Choose(WebhookEndpointState.Failing, (WebhookEndpointState)42, WebhookEndpointState.Active),
            }, adminHeaders)),
            () => Call(admin.DeleteWebhookEndpointAsync(new DeleteWebhookEndpointRequest { EndpointId = junk.Bad() }, adminHeaders)),
            () => Call(admin.RotateWebhookSecretAsync(new RotateWebhookSecretRequest { EndpointId = junk.Bad() }, adminHeaders)),
            () => Call(admin.ListWebhookDeliveriesAsync(new ListWebhookDeliveriesRequest
            {
                EndpointId = junk.Choose("whe_0123456789abcdef", junk.Bad()), Page = new PageRequest { PageSize = junk.Choose(-1, 1001), PageToken = junk.Maybe() },
            }, adminHeaders)),
            () => Call(admin.UnmapProvisioningGroupAsync(new UnmapProvisioningGroupRequest { GroupName = junk.Choose(string.Empty, new string('g', 257), "a\u0001b"), Product = junk.Product() }, adminHeaders)),
            () => Call(subscriptions.UpsertSubscriptionAsync(new UpsertSubscriptionRequest
            {
                Subscription = random.Next(5) == 0 ? null : new Subscription
                {
                    AccountId = junk.Bad(), Product = junk.Product(), Plan = junk.Enum<Plan>(), ValidUntil = random.Next(3) == 0 ? null : Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow),
                    NamedSeatLimit = junk.Int(), ConcurrentSeatLimit = junk.Int(), UnattendedDeviceLimit = junk.Int(),
                },
            }, serviceHeaders)),
            () => Call(subscriptions.UpsertSubscriptionAsync(new UpsertSubscriptionRequest
            {
                Subscription = new Subscription
                {
                    AccountId = Account, Product = "remote-support", Plan = Plan.Paid, ValidUntil = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow),
                    NamedSeatLimit = junk.Choose(-1, int.MinValue, 1_000_001, int.MaxValue), ConcurrentSeatLimit = junk.Int(), UnattendedDeviceLimit = junk.Int(),
                    PendingTimeoutSeconds = junk.Int(), IdleTimeoutSeconds = junk.Choose(-1, 1, 59, 86_401, int.MinValue, int.MaxValue),
                },
            }, serviceHeaders)),
            () => Call(subscriptions.UpsertSubscriptionAsync(new UpsertSubscriptionRequest
            {
                Subscription = new Subscription
                {
                    AccountId = Account, Product = "remote-support", Plan = Plan.Paid, NamedSeatLimit = 5, ConcurrentSeatLimit = 5,
                    ValidUntil = junk.Choose(
                        new Timestamp { Seconds = 1_900_000_000, Nanos = -1 }, new Timestamp { Seconds = 1_900_000_000, Nanos = 2_000_000_000 },
                        new Timestamp { Seconds = long.MaxValue }, new Timestamp { Seconds = long.MinValue }, new Timestamp { Seconds = -62135596800 },
                        Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(-2))),
                },
            }, serviceHeaders)),
            () => Call(subscriptions.UpsertSubscriptionAsync(new UpsertSubscriptionRequest
            {
                Subscription = new Subscription
                {
                    AccountId = Account, Product = "remote-support", Plan = Plan.Paid, NamedSeatLimit = 5, ConcurrentSeatLimit = 5,
                    ValidUntil = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(30)),
                    QueueMaxWaiters = junk.Choose(-1, 1_000_001, int.MinValue), QueueMaxWaitSeconds = junk.Choose(0, 600, 86_401, -5), QueueAgeStepSeconds = junk.Choose(0, 3_601, int.MaxValue),
                },
            }, serviceHeaders)),
            () => Call(admin.SetGroupSeatRuleAsync(new SetGroupSeatRuleRequest
            {
                Product = "remote-support", GroupId = "team", ReservedSeats = 0, QueuePriority = (QueuePriority)junk.Choose(5, 77, -1, int.MaxValue),
            }, adminHeaders)),
            // Waits whose queue ticket or lost lease is malformed: refused by field before anything joins.
            () => First(seat.WaitForSeat(new WaitForSeatRequest
            {
                Product = "remote-support", SessionId = "w-1", Device = new Device { Id = "d-1", Platform = Platform.Windows }, SessionKind = SessionKind.Pending,
                QueueTicket = junk.Choose(new string('q', 200), "qt1.k1.1.2.3.4.a b", "qt1.k1.1.2.3.4.\u0000", junk.Bad() + "!"),
            }, agentHeaders)),
            () => First(seat.WaitForSeat(new WaitForSeatRequest
            {
                Product = "remote-support", SessionId = "w-1", Device = new Device { Id = "d-1", Platform = Platform.Windows }, SessionKind = SessionKind.Pending,
                LostLease = new Lease
                {
                    LeaseId = junk.Choose(Domain.Seats.SeatBroker.NewLeaseId(), junk.Bad()), SessionId = junk.Choose("s-1", junk.Bad()),
                    FencingToken = junk.Choose(-1L, 0L, Domain.Seats.FencingTokens.MaxValue + 1, long.MinValue), SeatType = junk.Enum<SeatType>(), LeaseProof = junk.Maybe(),
                },
            }, agentHeaders)),
            () => Call(subscriptions.GetSubscriptionAsync(new GetSubscriptionRequest { AccountId = junk.Bad(), Product = junk.Maybe() }, serviceHeaders)),
            () => Call(entitlements.CheckEntitlementAsync(new CheckEntitlementRequest { AccountId = junk.Id(), AgentId = junk.Bad(), Product = junk.Product() }, serviceHeaders)),
            () => Call(entitlements.BatchCheckEntitlementsAsync(new BatchCheckEntitlementsRequest
            {
                Checks = { Enumerable.Range(0, random.Next(2) == 0 ? 1001 : 3).Select(_ => new CheckEntitlementRequest { AccountId = junk.Bad(), AgentId = junk.Id(), Product = junk.Product() }) },
            }, serviceHeaders)),
            () => Call(entitlements.GetEntitlementSnapshotAsync(new GetEntitlementSnapshotRequest { AccountId = junk.Bad() }, serviceHeaders)),
            () => First(entitlements.WatchEntitlements(new WatchEntitlementsRequest { AccountId = junk.Bad(), SinceVersion = junk.Long() }, serviceHeaders)),
            () => First(entitlements.WatchEntitlements(new WatchEntitlementsRequest { AccountId = Account, SinceVersion = junk.Choose(-1L, long.MinValue, long.MaxValue, 1L << 40) }, serviceHeaders)),
        };

        var statuses = new Dictionary<StatusCode, int>();
        const int total = 5200;
        for (var i = 0; i < total; i += 8)
        {
            var batch = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => generators[random.Next(generators.Count)]()).Select(Outcome));
            foreach (var status in batch)
            {
                statuses[status] = statuses.GetValueOrDefault(status) + 1;
            }
        }

        Assert.Equal(total, statuses.Values.Sum());
        Assert.False(statuses.ContainsKey(StatusCode.Internal), Describe(statuses));
        Assert.False(statuses.ContainsKey(StatusCode.Unknown), Describe(statuses));
        Assert.False(statuses.ContainsKey(StatusCode.Unavailable), Describe(statuses));
        Assert.False(statuses.ContainsKey(StatusCode.OK), Describe(statuses));
        Assert.True(statuses.GetValueOrDefault(StatusCode.InvalidArgument) > total / 2, Describe(statuses));
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await new Health.HealthClient(host.Channel).CheckAsync(new HealthCheckRequest())).Status);
        await host.AuditWrittenAsync();
        Assert.Equal(before, await StateSnapshot.TakeAsync(host, Account));
    }

    private static AcquireSeatRequest Broken(Junk junk, AcquireSeatRequest request)
    {
        // Make sure at least one field is invalid.
        switch (junk.Random.Next(4))
        {
            case 0: request.Product = junk.Bad(); break;
            case 1: request.SessionId = junk.Bad(); break;
            case 2: request.Device = null; break;
            default: request.SessionKind = SessionKind.Unspecified; break;
        }

        return request;
    }

    private static Task Call<T>(AsyncUnaryCall<T> call) => call.ResponseAsync;

    // A stream refused at its start fails its first read.
    private static async Task First<T>(AsyncServerStreamingCall<T> call)
    {
        using (call)
        {
            await call.ResponseStream.MoveNext(CancellationToken.None);
        }
    }

    private static async Task<StatusCode> Outcome(Task call)
    {
        try
        {
            await call;
            return StatusCode.OK;
        }
        catch (RpcException ex)
        {
            return ex.StatusCode;
        }
    }

    private static string Describe(Dictionary<StatusCode, int> statuses) => string.Join(", ", statuses.Select(s => $"{s.Key}: {s.Value}"));

    /// <summary>Random values, from plausible to hostile.</summary>
    private sealed class Junk(Random random)
    {
        private static readonly string[] Hostile =
        [
            "", " ", "\0", "\n", "{braces}", "a}b", "' OR 1=1 --", "'; DROP TABLE agents; --", "<script>alert(1)</script>", "../../etc/passwd",
            "é", "😀", "\u202Eevil", "ａｂｃ", "x\u0301", "%00", "ls_short", "ls_!!!!!!!!!!!!!!!!!!!!!!", "REMOTE-SUPPORT", "remote support",
        ];

        public Random Random => random;

        /// <summary>Always invalid for an id, a product, a lease id, an e-mail and a date.</summary>
        public string Bad() => random.Next(6) switch
        {
            0 => new string('x', random.Next(129, 5000)),
            1 => new string('é', random.Next(1, 300)),
            2 => "bad value " + random.Next(),
            _ => Hostile[random.Next(3)] + Hostile[random.Next(Hostile.Length)] + "{",
        };

        public string Maybe() => random.Next(3) == 0 ? Bad() : "ok-" + random.Next(1000);

        public string Id() => random.Next(2) == 0 ? Bad() : "agent-" + random.Next(100);

        public string Product() => random.Next(2) == 0 ? Bad() : random.Next(2) == 0 ? "remote-support" : "p" + random.Next(10);

        public int Int() => Choose(0, 1, -1, int.MinValue, int.MaxValue, random.Next());

        public long Long() => Choose(0L, -1L, long.MinValue, long.MaxValue, random.NextInt64());

        /// <summary>A duration, mostly out of range or malformed (negative nanos, nanos over a second, mixed signs).</summary>
        public Google.Protobuf.WellKnownTypes.Duration Duration() => new() { Seconds = Long(), Nanos = Choose(0, -1, 1_000_000_000, int.MaxValue, int.MinValue, random.Next(1_000_000_000)) };

        public T Choose<T>(params T[] values) => values[random.Next(values.Length)];

        public TEnum Enum<TEnum>()
            where TEnum : struct, System.Enum => (TEnum)(object)Choose(0, 1, 2, 3, 999, -1, int.MaxValue);

        public Device? Device() => random.Next(4) switch
        {
            0 => null,
            1 => new Device { Id = Bad(), Platform = Enum<Platform>() },
            _ => new Device { Id = "d-" + random.Next(10), Platform = Enum<Platform>() },
        };
    }
}
