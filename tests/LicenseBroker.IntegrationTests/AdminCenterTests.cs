using Dapper;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;
using LicenseBroker.Storage.Redis;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using StackExchange.Redis;
using PoolId = LicenseBroker.Domain.Seats.PoolId;

namespace LicenseBroker.IntegrationTests;

/// <summary>Live shared sessions, ForceRelease, Seats &amp; Devices numbers, audit and history.</summary>
public sealed class AdminCenterTests : IClassFixture<BrokerFixture>
{
    private const string Product = "remote-support";
    private readonly BrokerFixture _fixture;

    public AdminCenterTests(BrokerFixture fixture)
    {
        _fixture = fixture;
    }

    private BrokerTestHost Host => _fixture.Host;

    [Fact]
    public async Task Sessions_list_shows_exactly_the_live_shared_leases_with_names_and_pages_stably()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 10, namedSeats: 1);
        var ids = await _fixture.Seeder.AgentsAsync(account, 5, "CONCURRENT");
        var named = (await _fixture.Seeder.AgentsAsync(account, 1, "NAMED", prefix: "named"))[0];
        await Host.Agent(account, named).AcquireAsync(Product);

        var leases = new List<Lease>();
        leases.Add((await Host.Agent(account, ids[0]).AcquireAsync(Product, deviceId: "desktop", platform: Platform.Windows)).Lease);
        leases.Add((await Host.Agent(account, ids[0]).AcquireAsync(Product, deviceId: "phone", platform: Platform.Ios, kind: SessionKind.Attended)).Lease);
        foreach (var id in ids.Skip(1).Take(3))
        {
            leases.Add((await Host.Agent(account, id).AcquireAsync(Product)).Lease);
        }

        var released = leases[^1];
        await Host.Agent(account, ids[3]).ReleaseAsync(released);
        var live = leases.Take(4).Select(l => l.LeaseId).ToHashSet();

        // Page through two at a time; a session starting in between must not disturb the pages.
        var seen = new List<SharedSession>();
        var token = string.Empty;
        var pages = 0;
        do
        {
            var page = await Host.AdminClient.ListSharedSessionsAsync(
                new ListSharedSessionsRequest { Product = Product, Page = new PageRequest { PageSize = 2, PageToken = token } }, Host.AdminHeaders(account));
            if (pages++ == 0)
            {
                Assert.Equal(4, page.TotalSessions);
                Assert.Equal(3, page.SeatsInUse);
                await Host.Agent(account, ids[4]).AcquireAsync(Product);
            }

            seen.AddRange(page.Sessions);
            token = page.NextPageToken;
        }
        while (token.Length > 0);

        Assert.Equal(seen.Count, seen.Select(s => s.LeaseId).Distinct().Count());
        Assert.Subset(seen.Select(s => s.LeaseId).ToHashSet(), live);
        Assert.DoesNotContain(seen, s => s.LeaseId == released.LeaseId);
        Assert.DoesNotContain(seen, s => s.AgentId == named);
        var phone = Assert.Single(seen, s => s.Device.Id == "phone");
        Assert.Equal(ids[0], phone.AgentId);
        Assert.Equal($"{ids[0]}@example.test", phone.Email);
        Assert.Equal(ids[0], phone.DisplayName);
        Assert.Equal(Platform.Ios, phone.Device.Platform);
        Assert.Equal(SessionKind.Attended, phone.SessionKind);
        Assert.True(phone.ExpiresAt.ToDateTimeOffset() > phone.LastHeartbeatAt.ToDateTimeOffset());
        Assert.True(seen.Select(s => s.StartedAt.ToDateTimeOffset()).SequenceEqual(seen.Select(s => s.StartedAt.ToDateTimeOffset()).Order()));
    }

    [Fact]
    public async Task Force_release_frees_several_seats_at_once_is_idempotent_and_tells_the_evicted_app_who()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 2);
        var ids = await _fixture.Seeder.AgentsAsync(account, 3, "CONCURRENT");
        var first = (await Host.Agent(account, ids[0]).AcquireAsync(Product)).Lease;
        var second = (await Host.Agent(account, ids[1]).AcquireAsync(Product)).Lease;
        Assert.Equal(StatusCode.ResourceExhausted, (await Assert.ThrowsAsync<RpcException>(() => Host.Agent(account, ids[2]).AcquireAsync(Product))).StatusCode);

        var request = new ForceReleaseRequest { Product = Product, LeaseIds = { first.LeaseId }, AgentIds = { ids[1] } };
        var released = await Host.AdminClient.ForceReleaseAsync(request, Host.AdminHeaders(account, "admin-7"));
        Assert.Equal(new[] { first.LeaseId, second.LeaseId }.Order(), released.Released.Select(s => s.LeaseId).Order());

        // At once: the third agent gets in; the evicted apps hear who ended their lease.
        await Host.Agent(account, ids[2]).AcquireAsync(Product);
        var revoked = await Assert.ThrowsAsync<RpcException>(() => Host.Agent(account, ids[0]).HeartbeatAsync(first));
        Assert.Equal(StatusCode.FailedPrecondition, revoked.StatusCode);
        var info = Errors.Info(revoked);
        Assert.Equal("LEASE_REVOKED", info.Reason);
        Assert.Equal("admin-7", info.Metadata["revoked_by"]);
        Assert.Contains("admin-7", revoked.Status.Detail, StringComparison.Ordinal);

        var again = await Host.AdminClient.ForceReleaseAsync(request, Host.AdminHeaders(account, "admin-7"));
        Assert.Empty(again.Released);

        await Eventually.Until(
            async () => await CountAsync("SELECT count(*) FROM audit_events WHERE account_id = @account AND action = 'seat.force_released' AND actor = 'admin-7'", account) == 2 ? "audited" : null,
            TimeSpan.FromSeconds(10),
            "both force releases in the audit log");
    }

    [Fact]
    public async Task Usage_numbers_match_a_scripted_scenario_exactly()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 3, namedSeats: 4);
        var headers = Host.AdminHeaders(account);
        await Host.SubscriptionClient.UpsertSubscriptionAsync(new UpsertSubscriptionRequest
        {
            Subscription = new Subscription
            {
                AccountId = account, Product = Product, Plan = Plan.Paid, ValidUntil = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(30)),
                NamedSeatLimit = 4, ConcurrentSeatLimit = 3, UnattendedDeviceLimit = 5,
            },
        }, Host.ServiceHeaders());
        var named = await _fixture.Seeder.AgentsAsync(account, 2, "NAMED", prefix: "n");
        var shared = await _fixture.Seeder.AgentsAsync(account, 5, "CONCURRENT", prefix: "c");
        await Host.AdminClient.RegisterUnattendedDeviceAsync(new RegisterUnattendedDeviceRequest { Product = Product, DeviceId = "srv", DisplayName = "Server", Platform = Platform.Linux }, headers);

        await Host.Agent(account, named[0]).AcquireAsync(Product);
        var leases = new List<Lease>();
        foreach (var id in shared.Take(3))
        {
            leases.Add((await Host.Agent(account, id).AcquireAsync(Product)).Lease);
        }

        for (var i = 0; i < 2; i++)
        {
            await Assert.ThrowsAsync<RpcException>(() => Host.Agent(account, shared[3]).AcquireAsync(Product));
        }

        await Host.Agent(account, shared[0]).ReleaseAsync(leases[0]);

        var usage = Assert.Single((await Host.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, headers)).Products);
        Assert.Equal(Product, usage.Product);
        Assert.Equal(2, usage.NamedSeatsAssigned);
        Assert.Equal(4, usage.NamedSeatLimit);
        Assert.Equal(2, usage.ConcurrentSeatsInUse);
        Assert.Equal(3, usage.ConcurrentSeatLimit);
        Assert.Equal(5, usage.ConcurrentEligibleAgents);
        Assert.Equal(1, usage.UnattendedDevicesInUse);
        Assert.Equal(5, usage.UnattendedDeviceLimit);
        Assert.Equal(0, usage.MonitoredDevices);
        Assert.Equal(3, usage.ConcurrentPeakToday);
        Assert.Equal(2, usage.RefusalsToday);
    }

    [Fact]
    public async Task A_pool_rebuilding_after_redis_lost_its_data_says_until_when_in_the_usage()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 2);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        await Host.Agent(account, ids[0]).AcquireAsync(Product);
        async Task<ProductSeatUsage> UsageAsync() =>
            Assert.Single((await Host.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, Host.AdminHeaders(account))).Products);
        Assert.Null((await UsageAsync()).RecoveringUntil);

        // Redis loses the pool; the next call finds it gone and opens the recovery window (one lease lifetime).
        await RedisDataLoss.LosePoolAsync(Host.Services, new PoolId(account, Product));
        var lost = DateTimeOffset.UtcNow;
        var refused = await Assert.ThrowsAsync<RpcException>(() => Host.Agent(account, ids[1]).AcquireAsync(Product));
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);

        var until = (await UsageAsync()).RecoveringUntil?.ToDateTimeOffset();
        Assert.NotNull(until);
        var ttl = Host.Services.GetRequiredService<LicenseBroker.Domain.Seats.SeatOptions>().LeaseTtl;
        Assert.InRange(until!.Value, lost + ttl - TimeSpan.FromSeconds(1), DateTimeOffset.UtcNow + ttl + TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task Peak_and_refusal_counters_are_exact_under_200_racing_acquires_and_survive_losing_redis()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 10);
        var ids = await _fixture.Seeder.AgentsAsync(account, 200, "CONCURRENT");
        var outcomes = await Task.WhenAll(ids.Select(async id =>
        {
            try
            {
                await Host.Agent(account, id).AcquireAsync(Product);
                return true;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
            {
                return false;
            }
        }));
        Assert.Equal(10, outcomes.Count(granted => granted));

        var usage = Assert.Single((await Host.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, Host.AdminHeaders(account))).Products);
        Assert.Equal(10, usage.ConcurrentPeakToday);
        Assert.Equal(190, usage.RefusalsToday);

        // Wait until the counters are persisted, then lose this pool's Redis data entirely.
        await Eventually.Until(
            async () => await CountAsync("SELECT count(*) FROM usage_daily WHERE account_id = @account AND peak_concurrent = 10 AND refused = 190", account) == 1 ? "persisted" : null,
            TimeSpan.FromSeconds(10),
            "the daily counters to reach PostgreSQL");
        var redis = Host.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        await RedisDataLoss.LosePoolAsync(Host.Services, new PoolId(account, Product));

        var afterLoss = Assert.Single((await Host.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, Host.AdminHeaders(account))).Products);
        Assert.Equal(0, afterLoss.ConcurrentSeatsInUse);
        Assert.Equal(10, afterLoss.ConcurrentPeakToday);
        Assert.Equal(190, afterLoss.RefusalsToday);

        // Distinct agents come from the audit rows: the counters above may reach PostgreSQL in a batch
        // before the last grant's row (grants and refusals are recorded in the order their calls returned).
        await Host.AuditWrittenAsync();
        var today = DateTime.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        var history = await Host.AdminClient.GetUsageHistoryAsync(new GetUsageHistoryRequest { Product = Product, From = today, To = today }, Host.AdminHeaders(account));
        var day = Assert.Single(history.Days);
        Assert.Equal(today, day.Day);
        Assert.Equal(10, day.PeakConcurrent);
        Assert.Equal(190, day.Refused);
        Assert.Equal(10, day.DistinctAgents);
    }

    [Fact]
    public async Task Seat_events_are_audited_off_the_request_path()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 1);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        var lease = (await Host.Agent(account, ids[0]).AcquireAsync(Product)).Lease;
        await Assert.ThrowsAsync<RpcException>(() => Host.Agent(account, ids[1]).AcquireAsync(Product));
        await Host.Agent(account, ids[0]).ReleaseAsync(lease);

        await Eventually.Until(
            async () => await CountAsync("SELECT count(*) FROM audit_events WHERE account_id = @account AND action IN ('seat.granted', 'seat.refused', 'seat.released')", account) == 3 ? "audited" : null,
            TimeSpan.FromSeconds(10),
            "grant, refusal and release in the audit log");
        await using var connection = new NpgsqlConnection(Host.Database.ConnectionString);
        var granted = await connection.QuerySingleAsync<string>(
            "SELECT after->>'lease_id' FROM audit_events WHERE account_id = @account AND action = 'seat.granted'", new { account });
        Assert.Equal(lease.LeaseId, granted);
        var update = await Assert.ThrowsAsync<PostgresException>(() => connection.ExecuteAsync("UPDATE audit_events SET actor = 'x' WHERE account_id = @account", new { account }));
        Assert.Contains("append-only", update.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Admin_center_calls_reject_bad_input_and_plain_agents()
    {
        var account = await _fixture.Seeder.AccountAsync();
        var bad = await Assert.ThrowsAsync<RpcException>(async () => await Host.AdminClient.ForceReleaseAsync(
            new ForceReleaseRequest { Product = Product, LeaseIds = { "nope" } }, Host.AdminHeaders(account)));
        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        Assert.Contains(Errors.BadRequest(bad).FieldViolations, v => v.Field == "lease_ids[0]");

        var history = await Assert.ThrowsAsync<RpcException>(async () => await Host.AdminClient.GetUsageHistoryAsync(
            new GetUsageHistoryRequest { Product = Product, From = "2026-02-01", To = "2026-01-01" }, Host.AdminHeaders(account)));
        Assert.Equal(StatusCode.InvalidArgument, history.StatusCode);

        var agent = BrokerTestHost.Bearer(Cli.DevTokens.Mint(Host.SigningKey, account, "someone", TimeSpan.FromMinutes(5)));
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(async () => await Host.AdminClient.ListSharedSessionsAsync(
            new ListSharedSessionsRequest { Product = Product }, agent))).StatusCode);
    }

    [Fact]
    public async Task Audit_log_pages_newest_first_filters_by_kind_product_and_time_and_stays_in_the_account()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 1);
        var other = await _fixture.Seeder.AccountAsync(concurrentSeats: 1);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        await _fixture.Seeder.AgentsAsync(other, 1, "CONCURRENT");
        foreach (var id in new[] { "zoe", "yann" })
        {
            await Host.AdminClient.UpsertAgentAsync(new UpsertAgentRequest { AgentId = id, Email = id + "@example.test", DisplayName = id, Role = AgentRole.Member }, Host.AdminHeaders(account));
        }

        var lease = (await Host.Agent(account, ids[0]).AcquireAsync(Product)).Lease;
        await Assert.ThrowsAsync<RpcException>(() => Host.Agent(account, ids[1]).AcquireAsync(Product));
        await Host.Agent(account, ids[0]).ReleaseAsync(lease);
        await Host.AuditWrittenAsync();
        var headers = Host.AdminHeaders(account);

        // Every row of the account, page by page (3 a page), newest first, no repeats.
        var all = new List<AuditEvent>();
        var token = string.Empty;
        do
        {
            var page = await Host.AdminClient.ListAuditEventsAsync(new ListAuditEventsRequest { Page = new PageRequest { PageSize = 3, PageToken = token } }, headers);
            Assert.True(page.Events.Count <= 3);
            all.AddRange(page.Events);
            token = page.NextPageToken;
        }
        while (token.Length > 0);
        await using (var connection = new NpgsqlConnection(Host.Database.ConnectionString))
        {
            var expected = (await connection.QueryAsync<long>("SELECT id FROM audit_events WHERE account_id = @account ORDER BY id DESC", new { account })).ToList();
            Assert.Equal(expected, all.Select(e => e.EventId).ToList());
        }

        Assert.True(all.Count >= 5, $"{all.Count} rows");
        Assert.Contains(all, e => e.Action == "agent.upsert" && e.Subject == "zoe" && e.AfterJson.Contains("zoe@example.test", StringComparison.Ordinal));
        var refused = await Host.AdminClient.ListAuditEventsAsync(new ListAuditEventsRequest { Actions = { "seat.refused" } }, headers);
        Assert.Equal([ids[1]], refused.Events.Select(e => e.Subject));
        var seatEvents = await Host.AdminClient.ListAuditEventsAsync(new ListAuditEventsRequest { Actions = { "seat" }, Product = Product }, headers);
        Assert.Equal(["seat.released", "seat.refused", "seat.granted"], seatEvents.Events.Select(e => e.Action).Where(a => a is "seat.released" or "seat.refused" or "seat.granted"));
        Assert.All(seatEvents.Events, e => Assert.StartsWith("seat.", e.Action, StringComparison.Ordinal));
        var future = await Host.AdminClient.ListAuditEventsAsync(
            new ListAuditEventsRequest { From = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddHours(1)) }, headers);
        Assert.Empty(future.Events);

        // The other account's admin sees only its own rows, and a page token from this account's log reveals nothing there.
        var others = await Host.AdminClient.ListAuditEventsAsync(new ListAuditEventsRequest(), Host.AdminHeaders(other));
        Assert.DoesNotContain(others.Events, e => ids.Contains(e.Subject));

        // A manager (not ADMIN) may not read the log; a bad kind is named.
        var manager = BrokerTestHost.Bearer(Cli.DevTokens.Mint(Host.SigningKey, account, "mgr", TimeSpan.FromMinutes(5), extraClaims: Cli.DevTokens.Claims("MANAGER", ["MANAGE_SEATS", "MANAGE_USERS"])));
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(async () => await Host.AdminClient.ListAuditEventsAsync(new ListAuditEventsRequest(), manager))).StatusCode);
        var bad = await Assert.ThrowsAsync<RpcException>(async () => await Host.AdminClient.ListAuditEventsAsync(new ListAuditEventsRequest { Actions = { "seat", "Seat'--" } }, headers));
        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        Assert.Contains(Errors.BadRequest(bad).FieldViolations, v => v.Field == "actions[1]");
    }

    [Fact]
    public async Task Devices_and_agents_lists_page_search_and_stay_in_the_account()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 2);
        await using (var connection = new NpgsqlConnection(Host.Database.ConnectionString))
        {
            await connection.ExecuteAsync("UPDATE subscriptions SET unattended_device_limit = 5 WHERE account_id = @account", new { account });
        }

        var headers = Host.AdminHeaders(account);
        foreach (var name in new[] { "pc-c", "pc-a", "pc-b" })
        {
            await Host.AdminClient.RegisterUnattendedDeviceAsync(
                new RegisterUnattendedDeviceRequest { Product = Product, DeviceId = name, DisplayName = "Desk " + name, Platform = Platform.Windows }, headers);
        }

        var first = await Host.AdminClient.ListUnattendedDevicesAsync(new ListUnattendedDevicesRequest { Product = Product, Page = new PageRequest { PageSize = 2 } }, headers);
        var second = await Host.AdminClient.ListUnattendedDevicesAsync(
            new ListUnattendedDevicesRequest { Product = Product, Page = new PageRequest { PageSize = 2, PageToken = first.NextPageToken } }, headers);
        Assert.Equal(["pc-a", "pc-b", "pc-c"], first.Devices.Concat(second.Devices).Select(d => d.DeviceId));
        Assert.Equal(3, first.DevicesInUse);
        Assert.Empty(second.NextPageToken);
        Assert.Equal(Platform.Windows, first.Devices[0].Platform);

        var other = await _fixture.Seeder.AccountAsync();
        Assert.Empty((await Host.AdminClient.ListUnattendedDevicesAsync(new ListUnattendedDevicesRequest { Product = Product }, Host.AdminHeaders(other))).Devices);
        var unsubscribed = await Assert.ThrowsAsync<RpcException>(async () => await Host.AdminClient.ListUnattendedDevicesAsync(
            new ListUnattendedDevicesRequest { Product = "monitoring" }, headers));
        Assert.Equal(StatusCode.FailedPrecondition, unsubscribed.StatusCode);

        await Host.AdminClient.UpsertAgentAsync(new UpsertAgentRequest { AgentId = "grace", Email = "grace.hopper@example.test", DisplayName = "Grace Hopper", Role = AgentRole.Member }, headers);
        await Host.AdminClient.UpsertAgentAsync(new UpsertAgentRequest { AgentId = "under_score", Email = "u@example.test", DisplayName = "100% Under", Role = AgentRole.Member }, headers);
        Assert.Equal(["grace"], (await Host.AdminClient.ListAgentsAsync(new ListAgentsRequest { Query = "HOPPER" }, headers)).Agents.Select(a => a.AgentId));
        Assert.Equal(["grace"], (await Host.AdminClient.ListAgentsAsync(new ListAgentsRequest { Query = "grace.hopper@" }, headers)).Agents.Select(a => a.AgentId));

        // LIKE wildcards in the query are literal text.
        Assert.Equal(["under_score"], (await Host.AdminClient.ListAgentsAsync(new ListAgentsRequest { Query = "%" }, headers)).Agents.Select(a => a.AgentId));
        Assert.Equal(["under_score"], (await Host.AdminClient.ListAgentsAsync(new ListAgentsRequest { Query = "_" }, headers)).Agents.Select(a => a.AgentId));
        Assert.Empty((await Host.AdminClient.ListAgentsAsync(new ListAgentsRequest { Query = "grace" }, Host.AdminHeaders(other))).Agents);
    }

    private async Task<long> CountAsync(string sql, string account)
    {
        await using var connection = new NpgsqlConnection(Host.Database.ConnectionString);
        return await connection.ExecuteScalarAsync<long>(sql, new { account });
    }
}
