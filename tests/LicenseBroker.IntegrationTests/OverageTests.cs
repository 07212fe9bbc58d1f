using System.Collections.Concurrent;
using Dapper;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;
using Npgsql;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Issue 32, overage: a pool grants shared seats beyond the purchased count up to its allowance, decided by the one
/// admission rule in the grant path; each such grant says so, the pool's crossing of the line is audited and sent to
/// webhooks, waiters get an overage seat only in BURST, and lowering the allowance ends no session.
/// </summary>
public sealed class OverageTests : IAsyncLifetime
{
    private const string Product = "remote-support";

    private static readonly Dictionary<string, string?> Settings = new()
    {
        ["Webhooks:AllowHttp"] = "true",
        ["Webhooks:AllowedInternalNetworks:0"] = "127.0.0.0/8",
        ["Webhooks:PollInterval"] = "00:00:00.100",
    };

    private readonly List<BrokerTestHost> _replicas = [];
    private TestDatabase? _database;

    private BrokerTestHost Host => _replicas[0];

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync();
        var first = await BrokerTestHost.StartAsync(_database, Settings);
        _replicas.Add(first);
        var shared = new Dictionary<string, string?>(Settings) { ["Redis:KeyPrefix"] = first.Services.GetRequiredRedisPrefix() };
        _replicas.Add(await BrokerTestHost.StartAsync(_database, shared, signingKey: first.SigningKey));
        _replicas.Add(await BrokerTestHost.StartAsync(_database, shared, signingKey: first.SigningKey));
    }

    public async Task DisposeAsync()
    {
        foreach (var replica in _replicas)
        {
            await replica.DisposeAsync();
        }

        await _database!.DisposeAsync();
    }

    [Fact]
    public async Task Purchased_10_allowance_25_percent_14_racing_acquires_over_3_replicas_give_10_plain_3_flagged_1_refused_every_round()
    {
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: 10);
        await SetOverageAsync(account, OverageMode.Alert, percent: 25);
        var ids = await seeder.AgentsAsync(account, 14, "CONCURRENT");
        var agents = ids.Select((id, i) => _replicas[i % _replicas.Count].Agent(account, id)).ToArray();

        for (var round = 0; round < 15; round++)
        {
            var granted = new ConcurrentBag<(AgentClient Agent, AcquireSeatResponse Response)>();
            var refused = new ConcurrentBag<RpcException>();
            using var start = new Barrier(agents.Length);
            await Task.WhenAll(agents.Select(agent => Task.Run(async () =>
            {
                start.SignalAndWait();
                try
                {
                    granted.Add((agent, await agent.AcquireAsync(Product, sessionId: "s-" + round)));
                }
                catch (RpcException ex)
                {
                    refused.Add(ex);
                }
            })));

            // The invariant of every round: 10 plain grants, 3 flagged with how far over, the 14th refused as full.
            Assert.Equal(10, granted.Count(g => !g.Response.Overage));
            var flagged = granted.Where(g => g.Response.Overage).Select(g => g.Response.OverageInfo).ToList();
            Assert.Equal(3, flagged.Count);
            Assert.All(flagged, info => Assert.Equal(("OVERAGE_ALERT", "10", "13"), (info.Reason, info.Metadata["limit"], info.Metadata["cap"])));
            Assert.Equal(["11", "12", "13"], flagged.Select(info => info.Metadata["in_use"]).Order(StringComparer.Ordinal));
            var refusal = Assert.Single(refused);
            Assert.Equal((StatusCode.ResourceExhausted, "ALL_SHARED_SEATS_IN_USE"), (refusal.StatusCode, Errors.Info(refusal).Reason));

            foreach (var (agent, response) in granted)
            {
                Assert.True(await agent.ReleaseAsync(response.Lease));
            }
        }

        // Each round crossed the line once each way: audited, in order.
        await Eventually.Until(
            async () => await CountAsync(account, "pool.overage_ended") == 15 ? "audited" : null,
            TimeSpan.FromSeconds(20),
            "15 pool.overage_ended in the audit log");
        Assert.Equal(15, await CountAsync(account, "pool.overage_started"));
    }

    [Fact]
    public async Task The_first_overage_grant_reaches_a_webhook_within_5_seconds_and_a_pool_without_overage_sends_none()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var seeder = new CatalogSeeder(_database!);
        var over = await seeder.AccountAsync(concurrentSeats: 2);
        await SetOverageAsync(over, OverageMode.Alert, seats: 1);
        var plain = await seeder.AccountAsync(concurrentSeats: 2);
        foreach (var account in new[] { over, plain })
        {
            var endpoint = await Host.AdminClient.CreateWebhookEndpointAsync(
                new CreateWebhookEndpointRequest { Url = receiver.Url, EventTypes = { "pool.overage_started", "pool.overage_ended" } }, Host.AdminHeaders(account));
            receiver.Secrets.Add(endpoint.Secret);
        }

        // The plain pool is filled and refuses a third: no overage, no message.
        var plainIds = await seeder.AgentsAsync(plain, 3, "CONCURRENT", prefix: "plain");
        await Host.Agent(plain, plainIds[0]).AcquireAsync(Product);
        await Host.Agent(plain, plainIds[1]).AcquireAsync(Product);
        await Assert.ThrowsAsync<RpcException>(() => Host.Agent(plain, plainIds[2]).AcquireAsync(Product));

        var ids = await seeder.AgentsAsync(over, 3, "CONCURRENT", prefix: "over");
        await Host.Agent(over, ids[0]).AcquireAsync(Product);
        await Host.Agent(over, ids[1]).AcquireAsync(Product);
        var third = await Host.Agent(over, ids[2]).AcquireAsync(Product);
        Assert.True(third.Overage);
        var answered = DateTimeOffset.UtcNow;
        var started = await Eventually.Until(
            async () => { await Task.Yield(); return receiver.Accepted.FirstOrDefault(m => m.Body.Contains("pool.overage_started", StringComparison.Ordinal)); },
            TimeSpan.FromSeconds(5),
            "the pool.overage_started message");
        Assert.True(started.At - answered < TimeSpan.FromSeconds(5));
        Assert.Contains(over, started.Body, StringComparison.Ordinal);

        Assert.True(await Host.Agent(over, ids[2]).ReleaseAsync(third.Lease));
        await Eventually.Until(
            async () => { await Task.Yield(); return receiver.Accepted.FirstOrDefault(m => m.Body.Contains("pool.overage_ended", StringComparison.Ordinal)); },
            TimeSpan.FromSeconds(5),
            "the pool.overage_ended message");
        Assert.DoesNotContain(receiver.Accepted, m => m.Body.Contains(plain, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(OverageMode.Alert, false)]
    [InlineData(OverageMode.Burst, true)]
    public async Task A_waiter_gets_a_seat_beyond_the_purchased_ones_only_in_burst(OverageMode mode, bool waiterGetsIt)
    {
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: 2);
        await SetOverageAsync(account, mode, seats: 1);
        var ids = await seeder.AgentsAsync(account, 4, "CONCURRENT");
        var leases = new List<Lease>();
        for (var i = 0; i < 3; i++)
        {
            leases.Add((await Host.Agent(account, ids[i]).AcquireAsync(Product)).Lease);
        }

        using var waiter = await WaitStream.JoinAsync(Host.Agent(account, ids[3]), ids[3]);

        // The overage seat frees (3 in use → 2, the purchased count): the head of the queue gets it in BURST only.
        Assert.True(await Host.Agent(account, ids[2]).ReleaseAsync(leases[2]));
        if (waiterGetsIt)
        {
            await waiter.Granted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }
        else
        {
            var usage = await Host.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, Host.AdminHeaders(account));
            Assert.Equal(2, usage.Products.Single().ConcurrentSeatsInUse);
            Assert.False(waiter.Granted.Task.IsCompleted);

            // A purchased seat frees: now it is the waiter's.
            Assert.True(await Host.Agent(account, ids[0]).ReleaseAsync(leases[0]));
            await waiter.Granted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public async Task The_shared_sessions_mark_the_seats_granted_beyond_the_purchased_ones_until_they_are_freed()
    {
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: 2);
        await SetOverageAsync(account, OverageMode.Alert, seats: 2);
        var ids = await seeder.AgentsAsync(account, 4, "CONCURRENT");
        var leases = new List<Lease>();
        foreach (var id in ids)
        {
            leases.Add((await Host.Agent(account, id).AcquireAsync(Product)).Lease);
        }

        async Task<Dictionary<string, bool>> MarksAsync() =>
            (await Host.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, Host.AdminHeaders(account))).Sessions
                .ToDictionary(s => s.LeaseId, s => s.Overage);
        var marks = await MarksAsync();
        Assert.Equal([false, false, true, true], leases.Select(l => marks[l.LeaseId]));

        // A purchased seat freed: the overage seats stay marked (they were granted as such) until they are freed too.
        Assert.True(await Host.Agent(account, ids[0]).ReleaseAsync(leases[0]));
        Assert.True(await Host.Agent(account, ids[2]).ReleaseAsync(leases[2]));
        marks = await MarksAsync();
        Assert.Equal([false, true], new[] { leases[1], leases[3] }.Select(l => marks[l.LeaseId]));
        Assert.True(await Host.Agent(account, ids[3]).ReleaseAsync(leases[3]));
        Assert.All((await MarksAsync()).Values, Assert.False);
    }

    [Fact]
    public async Task Raising_the_allowance_in_burst_gives_a_waiter_its_seat_at_once_with_nobody_else_calling()
    {
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: 1);
        var ids = await seeder.AgentsAsync(account, 2, "CONCURRENT");
        await Host.Agent(account, ids[0]).AcquireAsync(Product);
        using var waiter = await WaitStream.JoinAsync(Host.Agent(account, ids[1]), ids[1]);
        Assert.False(waiter.Granted.Task.IsCompleted);

        // The admin's change is the only call: the queue's head gets the new overage seat in the same operation.
        await SetOverageAsync(account, OverageMode.Burst, seats: 1);
        await waiter.Granted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var usage = await Host.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, Host.AdminHeaders(account));
        Assert.Equal((2, 1), (usage.Products.Single().ConcurrentSeatsInUse, usage.Products.Single().OverageSeatsInUse));
    }

    [Fact]
    public async Task Lowering_the_allowance_ends_no_live_session_and_admits_nobody_until_under_it()
    {
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: 2);
        await SetOverageAsync(account, OverageMode.Alert, seats: 2);
        var ids = await seeder.AgentsAsync(account, 5, "CONCURRENT");
        var agents = ids.Select(id => Host.Agent(account, id)).ToArray();
        var leases = new List<Lease>();
        for (var i = 0; i < 4; i++)
        {
            leases.Add((await agents[i].AcquireAsync(Product)).Lease);
        }

        await SetOverageAsync(account, OverageMode.None, seats: 0);
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(leases[i].LeaseId, (await agents[i].HeartbeatAsync(leases[i])).LeaseId);
        }

        var usage = await Host.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, Host.AdminHeaders(account));
        Assert.Equal(4, usage.Products.Single().ConcurrentSeatsInUse);
        Assert.Equal(StatusCode.ResourceExhausted, (await Assert.ThrowsAsync<RpcException>(() => agents[4].AcquireAsync(Product))).StatusCode);
    }

    [Fact]
    public async Task A_group_s_overage_cap_keeps_its_members_to_their_share_and_cannot_exceed_the_allowance()
    {
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: 2);
        await SetOverageAsync(account, OverageMode.Alert, seats: 2);
        var plain = await seeder.AgentsAsync(account, 3, "CONCURRENT", prefix: "plain");
        var night = await seeder.AgentsAsync(account, 2, "CONCURRENT", prefix: "night");
        await Host.AdminClient.UpsertAgentGroupAsync(
            new UpsertAgentGroupRequest { GroupId = "night", DisplayName = "Night shift", ReplaceMembers = true, MemberIds = { night } }, Host.AdminHeaders(account));
        await Host.AdminClient.SetGroupSeatRuleAsync(
            new SetGroupSeatRuleRequest { Product = Product, GroupId = "night", ReservedSeats = 0, OverageMaxSeats = 1 }, Host.AdminHeaders(account));

        // The purchased seats taken, the first night-shift member gets a seat beyond them; the second is held to the cap.
        await Host.Agent(account, plain[0]).AcquireAsync(Product);
        await Host.Agent(account, plain[1]).AcquireAsync(Product);
        var first = await Host.Agent(account, night[0]).AcquireAsync(Product);
        Assert.True(first.Overage);
        var refused = await Assert.ThrowsAsync<RpcException>(() => Host.Agent(account, night[1]).AcquireAsync(Product));
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Equal(("GROUP_OVERAGE_CAP_REACHED", "Night shift", "1"), (Errors.Info(refused).Reason, Errors.Info(refused).Metadata["group_name"], Errors.Info(refused).Metadata["cap"]));

        // Someone outside the group still gets the pool's last overage seat; the member's seat freed, the next member gets one.
        Assert.True((await Host.Agent(account, plain[2]).AcquireAsync(Product)).Overage);
        Assert.True(await Host.Agent(account, night[0]).ReleaseAsync(first.Lease));
        Assert.True((await Host.Agent(account, night[1]).AcquireAsync(Product)).Overage);

        // A cap above the pool's allowance (2 seats) is refused, naming the field; the rule stays as it was.
        var tooHigh = await Assert.ThrowsAsync<RpcException>(() => Host.AdminClient.SetGroupSeatRuleAsync(
            new SetGroupSeatRuleRequest { Product = Product, GroupId = "night", ReservedSeats = 0, OverageMaxSeats = 3 }, Host.AdminHeaders(account)).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, tooHigh.StatusCode);
        Assert.Contains(Errors.BadRequest(tooHigh).FieldViolations, v => v.Field == "overage_max_seats");
        var negative = await Assert.ThrowsAsync<RpcException>(() => Host.AdminClient.SetGroupSeatRuleAsync(
            new SetGroupSeatRuleRequest { Product = Product, GroupId = "night", ReservedSeats = 0, OverageMaxSeats = -1 }, Host.AdminHeaders(account)).ResponseAsync);
        Assert.Contains(Errors.BadRequest(negative).FieldViolations, v => v.Field == "overage_max_seats");
        var rule = Assert.Single((await Host.AdminClient.ListAgentGroupsAsync(new ListAgentGroupsRequest(), Host.AdminHeaders(account))).Groups.Single(g => g.GroupId == "night").Rules);
        Assert.Equal(1, rule.OverageMaxSeats);
    }

    [Fact]
    public async Task Bad_allowances_are_refused_naming_the_field_and_change_nothing()
    {
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: 10);
        await SetOverageAsync(account, OverageMode.Alert, percent: 25);
        var before = await GetAsync(account);
        var cases = new (Action<Subscription> Change, string Field)[]
        {
            (s => s.OveragePercent = -1, "overage_percent"),
            (s => s.OveragePercent = 1001, "overage_percent"),
            (s => s.OverageSeats = -3, "overage_seats"),
            (s => s.OverageSeats = 1_000_001, "overage_seats"),
            (s => { s.OverageSeats = 2; s.OveragePercent = 10; }, "overage_percent"),
            (s => s.OverageMode = OverageMode.Unspecified, "overage_mode"),
            (s => s.OverageMode = (OverageMode)42, "overage_mode"),
        };
        foreach (var (change, field) in cases)
        {
            var subscription = before.Clone();
            change(subscription);
            var refused = await Assert.ThrowsAsync<RpcException>(() => Host.SubscriptionClient.UpsertSubscriptionAsync(new UpsertSubscriptionRequest { Subscription = subscription }, Host.ServiceHeaders()).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
            Assert.Contains(Errors.BadRequest(refused).FieldViolations, v => v.Field == "subscription." + field);
        }

        Assert.Equal(before, await GetAsync(account));
    }

    [Fact]
    public async Task The_statement_of_a_synthetic_trace_is_exact_to_the_millisecond_and_the_same_when_computed_again()
    {
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: 10);
        var day = new DateTimeOffset(2026, 11, 30, 0, 0, 0, TimeSpan.Zero);
        var trace = new (DateTimeOffset At, string Action, int Seats)[]
        {
            (day.AddHours(10), "pool.overage_started", 1),
            (day.AddHours(10.5), "pool.overage_changed", 3),
            (day.AddHours(11), "pool.overage_changed", 2),
            (day.AddHours(12), "pool.overage_ended", 0),
            (day.AddDays(1).AddHours(23), "pool.overage_started", 1),
            (day.AddDays(2).AddHours(1).AddMilliseconds(1), "pool.overage_ended", 0),
        };
        await using (var connection = new NpgsqlConnection(_database!.ConnectionString))
        {
            foreach (var (at, action, seats) in trace)
            {
                await connection.ExecuteAsync(
                    """
                    INSERT INTO audit_events (occurred_at, account_id, product_code, actor, action, subject, after, event_seq, retention_days)
                    VALUES (@at, @account, @product, 'broker', @action, 'agent-1', jsonb_build_object('overage_seats', @seats), @seq, lb_event_retention_days(@account))
                    """,
                    new { at = at.UtcDateTime, account, product = Product, action, seats, seq = at.ToUnixTimeMilliseconds() * 1000 });
            }
        }

        async Task<GetOverageStatementResponse> StatementAsync(DateTimeOffset from, DateTimeOffset to) =>
            await Host.AdminClient.GetOverageStatementAsync(
                new GetOverageStatementRequest { Product = Product, From = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(from), To = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(to) },
                Host.AdminHeaders(account));

        var statement = await StatementAsync(day, day.AddDays(3));
        Assert.Equal(
            [("2026-11-30", 14_400.0, 3), ("2026-12-01", 3_600.0, 1), ("2026-12-02", 3_600.001, 1)],
            statement.Days.Select(d => (d.Period, d.OverageSeatSeconds, d.PeakOverageSeats)));
        Assert.Equal([("2026-11", 14_400.0), ("2026-12", 7_200.001)], statement.Months.Select(m => (m.Period, m.OverageSeatSeconds)));
        Assert.Equal(statement, await StatementAsync(day, day.AddDays(3)));

        // A range that starts during an overage starts from the seats the last event before it left.
        var later = await StatementAsync(day.AddHours(10.75), day.AddDays(1));
        Assert.Equal(9_900.0, later.Days.Single().OverageSeatSeconds);

        var refused = await Assert.ThrowsAsync<RpcException>(() => Host.AdminClient.GetOverageStatementAsync(
            new GetOverageStatementRequest { Product = Product, From = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(day) }, Host.AdminHeaders(account)).ResponseAsync);
        Assert.Contains(Errors.BadRequest(refused).FieldViolations, v => v.Field == "to");
    }

    [Fact]
    public async Task The_statement_is_served_as_csv_over_rest_with_the_same_figures_and_bad_input_named()
    {
        await using var rest = await RestBroker.StartAsync(_database!);
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: 10);
        var day = new DateTimeOffset(2026, 11, 30, 0, 0, 0, TimeSpan.Zero);
        await using (var connection = new NpgsqlConnection(_database!.ConnectionString))
        {
            foreach (var (at, action, seats) in new[] { (day.AddHours(10), "pool.overage_started", 2), (day.AddHours(11.5), "pool.overage_ended", 0) })
            {
                await connection.ExecuteAsync(
                    """
                    INSERT INTO audit_events (occurred_at, account_id, product_code, actor, action, subject, after, event_seq, retention_days)
                    VALUES (@at, @account, @product, 'broker', @action, 'agent-1', jsonb_build_object('overage_seats', @seats), @seq, lb_event_retention_days(@account))
                    """,
                    new { at = at.UtcDateTime, account, product = Product, action, seats, seq = at.ToUnixTimeMilliseconds() * 1000 });
            }
        }

        var token = RestBroker.Token(rest.Host.AdminHeaders(account));
        using var request = RestBroker.Request(HttpMethod.Get, "/v1/admin/products/remote-support/overage-statement.csv?from=2026-11-30T00:00:00Z&to=2026-12-01T00:00:00Z", token);
        var response = await rest.Http.SendAsync(request);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/csv", response.Content.Headers.ContentType?.MediaType);
        var lines = (await response.Content.ReadAsStringAsync()).Trim().Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        Assert.Equal(["kind,period,overage_seat_seconds,overage_seat_hours,peak_overage_seats", "day,2026-11-30,10800,3,2", "month,2026-11,10800,3,2"], lines);

        using var bad = RestBroker.Request(HttpMethod.Get, "/v1/admin/products/remote-support/overage-statement.csv?from=yesterday&to=2026-12-01T00:00:00Z", token);
        var badResponse = await rest.Http.SendAsync(bad);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, badResponse.StatusCode);
        Assert.Contains("\"from\"", await badResponse.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var anonymous = RestBroker.Request(HttpMethod.Get, "/v1/admin/products/remote-support/overage-statement.csv?from=2026-11-30T00:00:00Z&to=2026-12-01T00:00:00Z", null);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await rest.Http.SendAsync(anonymous)).StatusCode);
    }

    [Fact]
    public async Task Overage_grants_and_releases_are_the_statement_s_events()
    {
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: 1);
        await SetOverageAsync(account, OverageMode.Alert, seats: 2);
        var ids = await seeder.AgentsAsync(account, 3, "CONCURRENT");
        var from = DateTimeOffset.UtcNow.AddMinutes(-1);
        var leases = new List<(AgentClient Agent, Lease Lease)>();
        foreach (var id in ids)
        {
            var agent = Host.Agent(account, id);
            leases.Add((agent, (await agent.AcquireAsync(Product)).Lease));
        }

        foreach (var (agent, lease) in Enumerable.Reverse(leases))
        {
            Assert.True(await agent.ReleaseAsync(lease));
        }

        await Eventually.Until(
            async () => await CountAsync(account, "pool.overage_ended") == 1 ? "audited" : null,
            TimeSpan.FromSeconds(10),
            "the overage's end in the audit log");
        Assert.Equal((1, 2), (await CountAsync(account, "pool.overage_started"), await CountAsync(account, "pool.overage_changed")));
        var statement = await Host.AdminClient.GetOverageStatementAsync(
            new GetOverageStatementRequest
            {
                Product = Product,
                From = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(from),
                To = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddMinutes(1)),
            },
            Host.AdminHeaders(account));
        Assert.Equal(2, statement.Days.Max(d => d.PeakOverageSeats));
        Assert.True(statement.Days.Sum(d => d.OverageSeatSeconds) > 0);
    }

    private async Task<Subscription> GetAsync(string account) =>
        (await Host.SubscriptionClient.GetSubscriptionAsync(new GetSubscriptionRequest { AccountId = account, Product = Product }, Host.ServiceHeaders())).Subscription;

    private async Task SetOverageAsync(string account, OverageMode mode, int seats = 0, int percent = 0)
    {
        var subscription = await GetAsync(account);
        subscription.OverageMode = mode;
        subscription.OverageSeats = seats;
        subscription.OveragePercent = percent;
        await Host.SubscriptionClient.UpsertSubscriptionAsync(new UpsertSubscriptionRequest { Subscription = subscription }, Host.ServiceHeaders());
    }

    private async Task<long> CountAsync(string account, string action)
    {
        await using var connection = new NpgsqlConnection(_database!.ConnectionString);
        return await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM audit_events WHERE account_id = @account AND action = @action", new { account, action });
    }
}
