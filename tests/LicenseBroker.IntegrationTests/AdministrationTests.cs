using Dapper;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;
using Npgsql;

namespace LicenseBroker.IntegrationTests;

/// <summary>Subscriptions, agents, seat assignment, provisioning and devices, with their limits under races.</summary>
public sealed class AdministrationTests : IClassFixture<BrokerFixture>
{
    private const string Product = "remote-support";
    private readonly BrokerFixture _fixture;

    public AdministrationTests(BrokerFixture fixture)
    {
        _fixture = fixture;
    }

    private BrokerTestHost Host => _fixture.Host;

    [Fact]
    public async Task Fifty_parallel_named_assignments_on_a_limit_of_ten_grant_exactly_ten()
    {
        var account = await _fixture.Seeder.AccountAsync(namedSeats: 10);
        var agents = await _fixture.Seeder.AgentsAsync(account, 50, seatType: null);
        var headers = Host.AdminHeaders(account);

        var outcomes = await Task.WhenAll(agents.Select(async agent =>
        {
            try
            {
                await Host.AdminClient.AssignSeatAsync(new AssignSeatRequest { AgentId = agent, Product = Product, SeatType = SeatType.Named }, headers);
                return (StatusCode?)null;
            }
            catch (RpcException ex)
            {
                Assert.Equal("NAMED_SEAT_LIMIT_REACHED", Errors.Info(ex).Reason);
                Assert.Contains("All 10 named seats", ex.Status.Detail, StringComparison.Ordinal);
                return ex.StatusCode;
            }
        }));

        Assert.Equal(10, outcomes.Count(o => o is null));
        Assert.All(outcomes.Where(o => o is not null), o => Assert.Equal(StatusCode.FailedPrecondition, o));
        Assert.Equal(10, await CountAsync("SELECT count(*) FROM seat_assignments WHERE account_id = @account AND seat_type = 'NAMED'", account));
    }

    [Fact]
    public async Task Fifty_parallel_device_registrations_on_a_limit_of_ten_register_exactly_ten()
    {
        var account = await _fixture.Seeder.AccountAsync();
        await SetSubscription(account, s => s.UnattendedDeviceLimit = 10);
        var headers = Host.AdminHeaders(account);

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 50).Select(async i =>
        {
            try
            {
                await Host.AdminClient.RegisterUnattendedDeviceAsync(
                    new RegisterUnattendedDeviceRequest { Product = Product, DeviceId = $"pc-{i}", DisplayName = $"PC {i}", Platform = Platform.Windows }, headers);
                return true;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.FailedPrecondition)
            {
                Assert.Equal("DEVICE_LIMIT_REACHED", Errors.Info(ex).Reason);
                return false;
            }
        }));

        Assert.Equal(10, outcomes.Count(ok => ok));
        Assert.Equal(10, await CountAsync("SELECT count(*) FROM devices WHERE account_id = @account", account));

        // Registering a known machine again is idempotent.
        var again = await Host.AdminClient.RegisterUnattendedDeviceAsync(
            new RegisterUnattendedDeviceRequest { Product = Product, DeviceId = (await FirstDevice(account)), DisplayName = "again", Platform = Platform.Windows }, headers);
        Assert.Equal(10, again.DevicesInUse);
        Assert.Equal(10, again.DeviceLimit);
    }

    [Fact]
    public async Task Seats_cannot_be_given_without_an_active_subscription()
    {
        var account = await _fixture.Seeder.AccountAsync();
        var agent = (await _fixture.Seeder.AgentsAsync(account, 1, seatType: null))[0];

        var noSubscription = await Assert.ThrowsAsync<RpcException>(async () => await Host.AdminClient.AssignSeatAsync(
            new AssignSeatRequest { AgentId = agent, Product = "service-desk", SeatType = SeatType.Concurrent }, Host.AdminHeaders(account)));
        Assert.Equal(StatusCode.FailedPrecondition, noSubscription.StatusCode);
        Assert.Equal("NO_ACTIVE_SUBSCRIPTION", Errors.Info(noSubscription).Reason);

        // Ending a subscription now: the back office sends the current time (a time already past is refused).
        await SetSubscription(account, s => s.ValidUntil = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow));
        var expired = await Assert.ThrowsAsync<RpcException>(async () => await Host.AdminClient.AssignSeatAsync(
            new AssignSeatRequest { AgentId = agent, Product = Product, SeatType = SeatType.Concurrent }, Host.AdminHeaders(account)));
        Assert.Equal(StatusCode.FailedPrecondition, expired.StatusCode);
    }

    [Fact]
    public async Task A_subscription_that_ends_by_the_clock_ends_the_waits_of_its_pool_with_nobody_writing()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 1);
        var agents = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        await Host.Agent(account, agents[0]).AcquireAsync(Product);
        await SetSubscription(account, s => s.ValidUntil = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddSeconds(2)));
        using var waiting = await WaitStream.JoinAsync(Host.Agent(account, agents[1]), agents[1]);

        // Nobody calls or writes: the end of the subscription ends the wait, with the reason, and the queue is empty.
        var ended = await waiting.Ended.Task.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal("NO_ACTIVE_SUBSCRIPTION", Errors.Info(ended).Reason);
        await Eventually.Until(
            async () => (await Host.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, Host.AdminHeaders(account))).Products.Single().AgentsWaiting == 0 ? "empty" : null,
            TimeSpan.FromSeconds(5),
            "the queue to be empty");
    }

    [Fact]
    public async Task An_expired_trial_refuses_acquire()
    {
        var account = await _fixture.Seeder.AccountAsync(plan: "TRIAL", concurrentSeats: 3);
        var agent = (await _fixture.Seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];
        await Host.Agent(account, agent).AcquireAsync(Product);

        await SetSubscription(account, s => s.ValidUntil = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddMinutes(-1)));
        var refused = await Assert.ThrowsAsync<RpcException>(() => Host.Agent(account, agent).AcquireAsync(Product));
        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Equal("NO_ACTIVE_SUBSCRIPTION", Errors.Info(refused).Reason);
    }

    [Fact]
    public async Task Lowering_named_or_device_limits_below_usage_is_refused_with_how_many_to_remove()
    {
        var account = await _fixture.Seeder.AccountAsync(namedSeats: 5);
        await _fixture.Seeder.AgentsAsync(account, 4, "NAMED");

        var refused = await Assert.ThrowsAsync<RpcException>(() => SetSubscription(account, s => s.NamedSeatLimit = 1));
        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        var info = Errors.Info(refused);
        Assert.Equal("LIMIT_BELOW_USAGE", info.Reason);
        Assert.Equal("3", info.Metadata["must_remove"]);
        Assert.Contains("remove 3", refused.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(5, (await GetSubscription(account)).NamedSeatLimit);

        await SetSubscription(account, s => s.UnattendedDeviceLimit = 2);
        foreach (var id in new[] { "m1", "m2" })
        {
            await Host.AdminClient.RegisterUnattendedDeviceAsync(
                new RegisterUnattendedDeviceRequest { Product = Product, DeviceId = id, DisplayName = id, Platform = Platform.Mac }, Host.AdminHeaders(account));
        }

        var devices = await Assert.ThrowsAsync<RpcException>(() => SetSubscription(account, s => s.UnattendedDeviceLimit = 1));
        Assert.Equal("1", Errors.Info(devices).Metadata["must_remove"]);

        // Raising takes effect at once.
        await SetSubscription(account, s => s.NamedSeatLimit = 6);
        var agent = (await _fixture.Seeder.AgentsAsync(account, 1, seatType: null, prefix: "extra"))[0];
        await Host.AdminClient.AssignSeatAsync(new AssignSeatRequest { AgentId = agent, Product = Product, SeatType = SeatType.Named }, Host.AdminHeaders(account));
    }

    [Fact]
    public async Task A_lower_concurrent_limit_keeps_holders_and_admits_nobody_until_under_it()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 3);
        var ids = await _fixture.Seeder.AgentsAsync(account, 4, "CONCURRENT");
        var leases = new List<Lease>();
        foreach (var id in ids.Take(3))
        {
            leases.Add((await Host.Agent(account, id).AcquireAsync(Product)).Lease);
        }

        await SetSubscription(account, s => s.ConcurrentSeatLimit = 1);

        // Holders keep their seats...
        for (var i = 0; i < 3; i++)
        {
            await Host.Agent(account, ids[i]).HeartbeatAsync(leases[i]);
        }

        // ...nobody new gets in while 3 >= 1, nor at 2 >= 1, but at 0 < 1.
        var newcomer = Host.Agent(account, ids[3]);
        Assert.Equal(StatusCode.ResourceExhausted, (await Assert.ThrowsAsync<RpcException>(() => newcomer.AcquireAsync(Product))).StatusCode);
        await Host.Agent(account, ids[0]).ReleaseAsync(leases[0]);
        await Host.Agent(account, ids[1]).ReleaseAsync(leases[1]);
        Assert.Equal(StatusCode.ResourceExhausted, (await Assert.ThrowsAsync<RpcException>(() => newcomer.AcquireAsync(Product))).StatusCode);
        await Host.Agent(account, ids[2]).ReleaseAsync(leases[2]);
        await newcomer.AcquireAsync(Product);
    }

    [Fact]
    public async Task Unassigning_keeps_the_agent_and_ends_the_live_lease()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 1);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        var agent = Host.Agent(account, ids[0]);
        var lease = (await agent.AcquireAsync(Product)).Lease;

        var result = await Host.AdminClient.UnassignSeatAsync(new UnassignSeatRequest { AgentId = ids[0], Product = Product }, Host.AdminHeaders(account, "boss"));
        Assert.True(result.Removed);
        Assert.Equal(1, result.LeasesEnded);

        var revoked = await Assert.ThrowsAsync<RpcException>(() => agent.HeartbeatAsync(lease));
        Assert.Equal(StatusCode.FailedPrecondition, revoked.StatusCode);
        Assert.Equal("LEASE_REVOKED", Errors.Info(revoked).Reason);
        Assert.Equal("boss", Errors.Info(revoked).Metadata["revoked_by"]);

        // The seat is free at once, the agent still exists, and cannot take a seat any more.
        await Host.Agent(account, ids[1]).AcquireAsync(Product);
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => agent.AcquireAsync(Product))).StatusCode);
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM agents WHERE account_id = @account AND id = 'agent-001'", account));
        Assert.False((await Host.AdminClient.UnassignSeatAsync(new UnassignSeatRequest { AgentId = ids[0], Product = Product }, Host.AdminHeaders(account))).Removed);
    }

    [Fact]
    public async Task Switching_between_named_and_concurrent_is_one_call_and_audited()
    {
        var account = await _fixture.Seeder.AccountAsync(namedSeats: 1);
        var agent = (await _fixture.Seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];
        var switched = await Host.AdminClient.AssignSeatAsync(
            new AssignSeatRequest { AgentId = agent, Product = Product, SeatType = SeatType.Named }, Host.AdminHeaders(account, "boss"));
        Assert.True(switched.Changed);
        Assert.Equal(SeatType.Named, (await Host.Agent(account, agent).AcquireAsync(Product)).Lease.SeatType);

        var again = await Host.AdminClient.AssignSeatAsync(
            new AssignSeatRequest { AgentId = agent, Product = Product, SeatType = SeatType.Named }, Host.AdminHeaders(account, "boss"));
        Assert.False(again.Changed);
        Assert.Equal(1, await CountAsync(
            "SELECT count(*) FROM audit_events WHERE account_id = @account AND action = 'seat.assign' AND actor = 'boss' AND before->>'seat_type' = 'CONCURRENT' AND after->>'seat_type' = 'NAMED'", account));
    }

    [Fact]
    public async Task Bulk_provisioning_is_idempotent_and_all_or_nothing_leaves_nothing_applied()
    {
        var account = await _fixture.Seeder.AccountAsync(namedSeats: 2);
        var agents = await _fixture.Seeder.AgentsAsync(account, 4, seatType: null);
        var request = new BulkAssignSeatsRequest { AllOrNothing = true };
        request.Items.Add(new BulkAssignItem { AgentId = agents[0], Product = Product, SeatType = SeatType.Named });
        request.Items.Add(new BulkAssignItem { AgentId = agents[1], Product = Product, SeatType = SeatType.Concurrent });
        request.Items.Add(new BulkAssignItem { AgentId = agents[2], Product = Product, SeatType = SeatType.Concurrent });

        var first = await Host.AdminClient.BulkAssignSeatsAsync(request, Host.AdminHeaders(account));
        Assert.True(first.Committed);
        Assert.All(first.Results, r => Assert.True(r.Changed));
        var replay = await Host.AdminClient.BulkAssignSeatsAsync(request, Host.AdminHeaders(account));
        Assert.True(replay.Committed);
        Assert.All(replay.Results, r => Assert.Equal(0, r.Code));
        Assert.All(replay.Results, r => Assert.False(r.Changed));
        Assert.Equal(3, await CountAsync("SELECT count(*) FROM seat_assignments WHERE account_id = @account", account));

        // Two more named seats than the limit allows: all-or-nothing applies none of the batch.
        var tooMany = new BulkAssignSeatsRequest { AllOrNothing = true };
        tooMany.Items.Add(new BulkAssignItem { AgentId = agents[3], Product = Product, SeatType = SeatType.Named });
        tooMany.Items.Add(new BulkAssignItem { AgentId = agents[1], Product = Product, SeatType = SeatType.Named });
        tooMany.Items.Add(new BulkAssignItem { AgentId = agents[2], Product = Product });
        var aborted = await Host.AdminClient.BulkAssignSeatsAsync(tooMany, Host.AdminHeaders(account));
        Assert.False(aborted.Committed);
        Assert.Equal((int)StatusCode.FailedPrecondition, aborted.Results[1].Code);
        Assert.Equal("NAMED_SEAT_LIMIT_REACHED", aborted.Results[1].Reason);
        Assert.Equal((int)StatusCode.Aborted, aborted.Results[0].Code);
        Assert.Equal((int)StatusCode.Aborted, aborted.Results[2].Code);
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM seat_assignments WHERE account_id = @account AND seat_type = 'NAMED'", account));
        Assert.Equal(3, await CountAsync("SELECT count(*) FROM seat_assignments WHERE account_id = @account", account));

        // The same batch item by item: the failing item alone is skipped.
        tooMany.AllOrNothing = false;
        var partial = await Host.AdminClient.BulkAssignSeatsAsync(tooMany, Host.AdminHeaders(account));
        Assert.True(partial.Committed);
        Assert.Equal(new[] { 0, (int)StatusCode.FailedPrecondition, 0 }, partial.Results.Select(r => r.Code));
        Assert.Equal(2, await CountAsync("SELECT count(*) FROM seat_assignments WHERE account_id = @account AND seat_type = 'NAMED'", account));
        Assert.Equal(3, await CountAsync("SELECT count(*) FROM seat_assignments WHERE account_id = @account", account));
    }

    [Fact]
    public async Task Agents_are_created_listed_by_seat_type_paged_and_removed_with_their_leases()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 5, namedSeats: 5);
        var headers = Host.AdminHeaders(account);
        for (var i = 0; i < 7; i++)
        {
            var created = await Host.AdminClient.UpsertAgentAsync(new UpsertAgentRequest
            {
                AgentId = $"a{i}", Email = $"a{i}@example.test", DisplayName = $"Agent {i}", Role = AgentRole.Member,
            }, headers);
            Assert.True(created.Created);
            if (i < 2)
            {
                await Host.AdminClient.AssignSeatAsync(new AssignSeatRequest { AgentId = $"a{i}", Product = Product, SeatType = SeatType.Named }, headers);
            }
            else if (i < 5)
            {
                await Host.AdminClient.AssignSeatAsync(new AssignSeatRequest { AgentId = $"a{i}", Product = Product, SeatType = SeatType.Concurrent }, headers);
            }
        }

        var duplicate = await Assert.ThrowsAsync<RpcException>(async () => await Host.AdminClient.UpsertAgentAsync(
            new UpsertAgentRequest { AgentId = "other", Email = "A0@example.test", DisplayName = "x", Role = AgentRole.Member }, headers));
        Assert.Equal(StatusCode.AlreadyExists, duplicate.StatusCode);

        async Task<List<string>> ListAll(SeatFilter filter)
        {
            var ids = new List<string>();
            var token = string.Empty;
            do
            {
                var page = await Host.AdminClient.ListAgentsAsync(
                    new ListAgentsRequest { Product = Product, SeatFilter = filter, Page = new PageRequest { PageSize = 2, PageToken = token } }, headers);
                Assert.True(page.Agents.Count <= 2);
                ids.AddRange(page.Agents.Select(a => a.AgentId));
                token = page.NextPageToken;
            }
            while (token.Length > 0);
            return ids;
        }

        Assert.Equal(["a0", "a1"], await ListAll(SeatFilter.Named));
        Assert.Equal(["a2", "a3", "a4"], await ListAll(SeatFilter.Concurrent));
        Assert.Equal(["a5", "a6"], await ListAll(SeatFilter.None));
        Assert.Equal(7, (await ListAll(SeatFilter.Unspecified)).Count);

        var lease = (await Host.Agent(account, "a2").AcquireAsync(Product)).Lease;
        var removed = await Host.AdminClient.RemoveAgentAsync(new RemoveAgentRequest { AgentId = "a2" }, headers);
        Assert.True(removed.Removed);
        Assert.Equal(1, removed.LeasesEnded);
        Assert.Equal("LEASE_REVOKED", Errors.Info(await Assert.ThrowsAsync<RpcException>(() => Host.Agent(account, "a2").HeartbeatAsync(lease))).Reason);
        Assert.Equal(["a3", "a4"], await ListAll(SeatFilter.Concurrent));
    }

    [Fact]
    public async Task Unattended_sessions_may_name_only_registered_machines()
    {
        var account = await _fixture.Seeder.AccountAsync();
        await SetSubscription(account, s => s.UnattendedDeviceLimit = 5);
        var agent = Host.Agent(account, (await _fixture.Seeder.AgentsAsync(account, 1, "CONCURRENT"))[0]);
        await Host.AdminClient.RegisterUnattendedDeviceAsync(
            new RegisterUnattendedDeviceRequest { Product = Product, DeviceId = "server-7", DisplayName = "Server 7", Platform = Platform.Linux }, Host.AdminHeaders(account));

        var request = new AcquireSeatRequest
        {
            Product = Product, SessionId = "u-1", SessionKind = SessionKind.Unattended, UnattendedDeviceId = "server-8",
            Device = new Device { Id = "desk", Platform = Platform.Windows },
        };
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await agent.Raw.AcquireSeatAsync(request, agent.Headers));
        Assert.Equal("DEVICE_NOT_REGISTERED", Errors.Info(refused).Reason);
        request.UnattendedDeviceId = "server-7";
        Assert.Equal(SeatType.Concurrent, (await agent.Raw.AcquireSeatAsync(request, agent.Headers)).Lease.SeatType);
    }

    [Fact]
    public async Task Admin_and_service_calls_need_the_right_claims()
    {
        var account = await _fixture.Seeder.AccountAsync();
        var member = BrokerTestHost.Bearer(Cli.DevTokens.Mint(Host.SigningKey, account, "m", TimeSpan.FromMinutes(5)));
        var manager = BrokerTestHost.Bearer(Cli.DevTokens.Mint(Host.SigningKey, account, "m", TimeSpan.FromMinutes(5),
            extraClaims: Cli.DevTokens.Claims(role: "MANAGER", privileges: ["MANAGE_SEATS"])));

        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(async () => await Host.AdminClient.UnassignSeatAsync(
            new UnassignSeatRequest { AgentId = "x", Product = Product }, member))).StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(async () => await Host.SubscriptionClient.GetSubscriptionAsync(
            new GetSubscriptionRequest { AccountId = account, Product = Product }, Host.AdminHeaders(account)))).StatusCode);

        // MANAGE_SEATS allows seat changes but not agent changes.
        Assert.False((await Host.AdminClient.UnassignSeatAsync(new UnassignSeatRequest { AgentId = "x", Product = Product }, manager)).Removed);
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(async () => await Host.AdminClient.RemoveAgentAsync(
            new RemoveAgentRequest { AgentId = "x" }, manager))).StatusCode);
    }

    [Fact]
    public async Task A_product_is_named_by_the_catalog_unless_the_account_names_it_and_a_bad_name_changes_nothing()
    {
        var account = await _fixture.Seeder.AccountAsync();
        Assert.Equal("Remote Support", (await GetSubscription(account)).DisplayName);
        async Task<ProductSeatUsage> UsageAsync() =>
            (await Host.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, Host.AdminHeaders(account))).Products.Single();
        Assert.Equal("Remote Support", (await UsageAsync()).DisplayName);
        Assert.False((await UsageAsync()).Unlimited);

        // The account's own name, everywhere the product is shown; refused names change nothing.
        await SetSubscription(account, s => s.DisplayName = "  Assistance à distance ");
        Assert.Equal("Assistance à distance", (await GetSubscription(account)).DisplayName);
        Assert.Equal("Assistance à distance", (await UsageAsync()).DisplayName);
        foreach (var bad in new[] { "   ", "tab\there", new string('x', 81), "line\nbreak" })
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => SetSubscription(account, s => s.DisplayName = bad));
            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
            Assert.Contains("subscription.display_name", error.Status.Detail, StringComparison.Ordinal);
        }

        Assert.Equal("Assistance à distance", (await UsageAsync()).DisplayName);

        // Empty, or the catalog's own name read and written back: the catalog's name again, stored as none of its own.
        await SetSubscription(account, s => s.DisplayName = string.Empty);
        Assert.Equal("Remote Support", (await GetSubscription(account)).DisplayName);
        await SetSubscription(account, _ => { });
        Assert.Null(await ScalarOrNullAsync("SELECT display_name FROM subscriptions WHERE account_id = @account AND product_code = 'remote-support'", account));

        // Monitoring is for everyone: named as such, flagged unlimited.
        await _fixture.Seeder.SubscribeAsync(account, "monitoring");
        var monitoring = (await Host.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = "monitoring" }, Host.AdminHeaders(account))).Products.Single();
        Assert.Equal("Monitoring", monitoring.DisplayName);
        Assert.True(monitoring.Unlimited);
    }

    private async Task<string?> ScalarOrNullAsync(string sql, string account)
    {
        await using var connection = new NpgsqlConnection(Host.Database.ConnectionString);
        return await connection.ExecuteScalarAsync<string?>(sql, new { account });
    }

    private async Task<Subscription> GetSubscription(string account) =>
        (await Host.SubscriptionClient.GetSubscriptionAsync(new GetSubscriptionRequest { AccountId = account, Product = Product }, Host.ServiceHeaders())).Subscription;

    private async Task SetSubscription(string account, Action<Subscription> change)
    {
        var subscription = await GetSubscription(account);
        change(subscription);
        await Host.SubscriptionClient.UpsertSubscriptionAsync(new UpsertSubscriptionRequest { Subscription = subscription }, Host.ServiceHeaders());
    }

    private async Task<string> FirstDevice(string account)
    {
        await using var connection = new NpgsqlConnection(Host.Database.ConnectionString);
        return await connection.QueryFirstAsync<string>("SELECT id FROM devices WHERE account_id = @account ORDER BY id", new { account });
    }

    private async Task<long> CountAsync(string sql, string account)
    {
        await using var connection = new NpgsqlConnection(Host.Database.ConnectionString);
        return await connection.ExecuteScalarAsync<long>(sql, new { account });
    }
}
