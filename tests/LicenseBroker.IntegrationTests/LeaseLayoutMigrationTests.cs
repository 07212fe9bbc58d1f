using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using SeatBroker = LicenseBroker.Domain.Seats.SeatBroker;
using SeatOptions = LicenseBroker.Domain.Seats.SeatOptions;
using LicenseBroker.IntegrationTests.Infrastructure;
using LicenseBroker.Storage.Redis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;
using PoolId = LicenseBroker.Domain.Seats.PoolId;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Two broker versions side by side on one Redis, as in a rolling deploy: a version before a layout change and this
/// one. The version before is what it keeps in Redis and how: its pool library exactly as it was (a fixture), loaded
/// beside this version's and called with the arguments its broker passed; and its replica's presence, a connection
/// subscribed to the channels its version subscribed to. Three such versions: before the compact lease layout
/// (Fixtures/PoolLibraryBeforeCompact, commit 83d8e65), before short lease records
/// (Fixtures/PoolLibraryBeforeShortRecords, commit 4778749) and before holder entries
/// (Fixtures/PoolLibraryBeforeHolderEntries, commit 267890c). No lease is dropped: not while both run, not when the new
/// layout starts, not after.
/// </summary>
public sealed partial class LeaseLayoutMigrationTests : IClassFixture<BrokerFixture>
{
    private const string Product = "remote-support";
    private readonly BrokerFixture _fixture;

    public LeaseLayoutMigrationTests(BrokerFixture fixture)
    {
        _fixture = fixture;
    }

    private BrokerTestHost Host => _fixture.Host;

    private LeaseLayoutGate Gate => Host.Services.GetRequiredService<LeaseLayoutGate>();

    [Fact]
    public async Task A_rolling_deploy_keeps_every_lease_and_the_limit_across_both_layouts()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 3);
        var ids = await _fixture.Seeder.AgentsAsync(account, 5, "CONCURRENT");
        var pool = new PoolId(account, Product);
        var agents = ids.Select(id => Host.Agent(account, id)).ToArray();

        // The version before still runs: this one writes what it can read (classic leases).
        var previous = await PreviousBroker.StartAsync(Host, PreviousVersion.BeforeCompact);
        await Gate.RefreshAsync();
        Assert.Equal(NewLeaseForm.Classic, Gate.NewLeases);
        var first = (await agents[0].AcquireAsync(Product, sessionId: "s-0")).Lease;
        Assert.StartsWith("ls_", first.LeaseId, StringComparison.Ordinal);

        var (secondLease, third) = await BothVersionsServeEachOtherAsync(previous, pool, ids, agents, first);

        // The last replica of the version before stops: new leases are compact, the classic ones live on.
        await previous.DisposeAsync();
        await GateOpensAsync(NewLeaseForm.CompactShort);
        Assert.True(await agents[0].ReleaseAsync(first));
        var fourth = (await agents[3].AcquireAsync(Product, sessionId: "s-3")).Lease;
        Assert.Matches("^lc_[1-9][0-9]*_", fourth.LeaseId);
        Assert.Equal(StatusCode.ResourceExhausted, (await Assert.ThrowsAsync<RpcException>(() => agents[4].AcquireAsync(Product))).StatusCode);

        // Listed together, page by page across the layouts (classic ones first), none twice.
        var listed = new List<string>();
        string? token = null;
        do
        {
            var page = await Host.AdminClient.ListSharedSessionsAsync(
                new ListSharedSessionsRequest { Product = Product, Page = new PageRequest { PageSize = 2, PageToken = token ?? string.Empty } }, Host.AdminHeaders(account));
            Assert.Equal(3, page.TotalSessions);
            listed.AddRange(page.Sessions.Select(s => s.LeaseId));
            token = page.NextPageToken.Length == 0 ? null : page.NextPageToken;
        }
        while (token is not null);
        Assert.Equal([secondLease.LeaseId, third.LeaseId, fourth.LeaseId], listed);

        // A retried acquire finds the compact lease by its session; classic leases renew and end as before.
        var again = await agents[3].AcquireAsync(Product, sessionId: "s-3");
        Assert.True(again.Resumed);
        Assert.Equal(fourth.LeaseId, again.Lease.LeaseId);
        Assert.Equal(secondLease.FencingToken, (await agents[1].HeartbeatAsync(secondLease)).FencingToken);
        Assert.True(await agents[2].ReleaseAsync(third));
        Assert.Matches("^lc_", (await agents[4].AcquireAsync(Product)).Lease.LeaseId);

        // What Redis holds: the classic structures keep only the classic lease that is left; compact ones have none.
        var keys = Host.Services.GetRequiredService<RedisKeys>().Pool(pool);
        var redis = Host.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        Assert.Equal(1, await redis.HashLengthAsync(keys[1]));
        Assert.Equal(1, await redis.HashLengthAsync(keys[2]));
        Assert.Equal(1, await redis.SortedSetLengthAsync(keys[8]));
        Assert.Equal(3, await SharedSeatsInUse.ReadAsync(redis, keys));
        Assert.Equal(3, await redis.SortedSetLengthAsync(keys[0]));
    }

    [Fact]
    public async Task A_peak_the_previous_version_raised_is_kept_when_this_one_grants()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 4);
        var ids = await _fixture.Seeder.AgentsAsync(account, 4, "CONCURRENT");
        var pool = new PoolId(account, Product);
        async Task<int> PeakTodayAsync() =>
            (await Host.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, Host.AdminHeaders(account))).Products.Single().ConcurrentPeakToday;

        // This version opens the day beside the previous one: its epoch holds a copy of today's peak (1).
        List<Dictionary<string, string>> granted;
        var previous = await PreviousBroker.StartAsync(Host, PreviousVersion.BeforeCompact);
        await Gate.RefreshAsync();
        var first = (await Host.Agent(account, ids[0]).AcquireAsync(Product, sessionId: "s-0")).Lease;
        Assert.Equal(1, await PeakTodayAsync());

        // The previous version raises the peak to 3 in the stats alone (it knows no copy), and its leases end.
        await using (previous)
        {
            granted = [await previous.AcquireAsync(pool, ids[1], "s-1"), await previous.AcquireAsync(pool, ids[2], "s-2")];
        }

        Assert.Equal(3, await PeakTodayAsync());
        Assert.True(await Host.Agent(account, ids[1]).ReleaseAsync(LeaseOf(granted[0], "s-1")));
        Assert.True(await Host.Agent(account, ids[2]).ReleaseAsync(LeaseOf(granted[1], "s-2")));

        // 2 in use is above this version's copy (1) but below the day's peak: the peak stays 3, and the copy learns it.
        await Host.Agent(account, ids[3]).AcquireAsync(Product, sessionId: "s-3");
        Assert.Equal(3, await PeakTodayAsync());
        var day = (long)(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 86_400_000);
        var epoch = Host.Services.GetRequiredService<RedisKeys>().Pool(pool)[10];
        var redis = Host.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        Assert.Equal(day.ToString(CultureInfo.InvariantCulture), (string?)await redis.HashGetAsync(epoch, "day"));
        Assert.Equal("3", (string?)await redis.HashGetAsync(epoch, "peak"));
        Assert.True(await Host.Agent(account, ids[0]).ReleaseAsync(first));
    }

    [Fact]
    public async Task Fences_the_previous_version_hands_out_reach_the_epochs_copy_that_the_fast_heartbeat_reads()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 3);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        var pool = new PoolId(account, Product);
        var keys = Host.Services.GetRequiredService<RedisKeys>().Pool(pool);
        var redis = Host.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        async Task<(string? Counter, string? Copy)> FencesAsync() => ((string?)await redis.StringGetAsync(keys[4]), (string?)await redis.HashGetAsync(keys[10], "fence"));

        // This version's grant writes the copy with the counter.
        var first = (await Host.Agent(account, ids[0]).AcquireAsync(Product, sessionId: "s-0")).Lease;
        Assert.Equal(("1", "1"), await FencesAsync());

        // The previous version INCRs the counter alone: the copy is behind, never ahead.
        Dictionary<string, string> granted;
        await using (var previous = await PreviousBroker.StartAsync(Host, PreviousVersion.BeforeCompact))
        {
            granted = await previous.AcquireAsync(pool, ids[1], "s-1");
        }

        Assert.Equal(("2", "1"), await FencesAsync());

        // Its lease renews here (this replica's evidence, 1, is within the copy); the broker now knows fence 2, above the
        // copy: the next heartbeat takes the full way, whose epoch check brings the copy up to the counter.
        var second = LeaseOf(granted, "s-1");
        Assert.Equal(second.FencingToken, (await Host.Agent(account, ids[1]).HeartbeatAsync(second)).FencingToken);
        Assert.Equal(first.FencingToken, (await Host.Agent(account, ids[0]).HeartbeatAsync(first)).FencingToken);
        Assert.Equal(("2", "2"), await FencesAsync());
        Assert.True(await Host.Agent(account, ids[0]).ReleaseAsync(first));
        Assert.True(await Host.Agent(account, ids[1]).ReleaseAsync(second));
    }

    [Fact]
    public async Task A_lease_written_as_json_by_an_earlier_broker_still_renews_lists_and_releases()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 2);
        var agentId = (await _fixture.Seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];
        var agent = Host.Agent(account, agentId);
        var pool = new PoolId(account, Product);
        var redis = Host.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        var keys = Host.Services.GetRequiredService<RedisKeys>().Pool(pool);

        // Brokers older still wrote JSON records, in the classic layout: a classic lease, its record rewritten so.
        Lease lease;
        await using (var previous = await PreviousBroker.StartAsync(Host, PreviousVersion.BeforeCompact))
        {
            await Gate.RefreshAsync();
            lease = (await agent.AcquireAsync(Product, sessionId: "s-json", deviceId: "desk-1")).Lease;
        }

        var fields = ((string?)await redis.HashGetAsync(keys[1], lease.LeaseId))!.Split('|');
        var json = $$"""{"agent":"{{fields[0]}}","session":"{{fields[1]}}","seat":"CONCURRENT","device":"{{fields[3]}}","platform":"{{fields[4]}}","kind":"{{fields[5]}}","started":{{fields[6]}},"beat":{{fields[7]}},"fence":{{fields[8]}}}""";
        await redis.HashSetAsync(keys[1], lease.LeaseId, json);

        var renewed = await agent.HeartbeatAsync(lease);
        var sessions = await Host.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, Host.AdminHeaders(account));
        var again = await agent.AcquireAsync(Product, sessionId: "s-json", deviceId: "desk-1");

        Assert.Equal(lease.FencingToken, renewed.FencingToken);
        var listed = Assert.Single(sessions.Sessions);
        Assert.Equal((lease.LeaseId, agentId, "desk-1"), (listed.LeaseId, listed.AgentId, listed.Device.Id));
        Assert.True(again.Resumed);
        Assert.Equal(lease.LeaseId, again.Lease.LeaseId);
        Assert.True(await agent.ReleaseAsync(lease));
        Assert.False(await redis.HashExistsAsync(keys[1], lease.LeaseId));
        Assert.Equal(0, await SharedSeatsInUse.ReadAsync(redis, keys));
    }

    [Fact]
    public async Task A_rolling_deploy_to_short_records_keeps_every_lease_and_the_limit_across_both_forms()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 3);
        var ids = await _fixture.Seeder.AgentsAsync(account, 5, "CONCURRENT");
        var pool = new PoolId(account, Product);
        var agents = ids.Select(id => Host.Agent(account, id)).ToArray();
        Task<string?> RecordAsync(string leaseId) => LeaseRecords.ReadAsync(Host.Services, pool, leaseId);

        // The version before still runs: this one writes compact leases with the long record, which it reads.
        var previous = await PreviousBroker.StartAsync(Host, PreviousVersion.BeforeShortRecords);
        await Gate.RefreshAsync();
        Assert.Equal(NewLeaseForm.Compact, Gate.NewLeases);
        var first = (await agents[0].AcquireAsync(Product, sessionId: "s-0")).Lease;
        Assert.Equal(13, (await RecordAsync(first.LeaseId))!.Split('|').Length);

        var (second, third) = await BothVersionsServeEachOtherAsync(previous, pool, ids, agents, first);
        Assert.Matches("^lc_", second.LeaseId);

        // The last replica of the version before stops: new leases take the short record, the long ones live on.
        await previous.DisposeAsync();
        await GateOpensAsync(NewLeaseForm.CompactShort);
        Assert.True(await agents[0].ReleaseAsync(first));
        var fourth = (await agents[3].AcquireAsync(Product, sessionId: "s-3")).Lease;
        Assert.StartsWith("~", await RecordAsync(fourth.LeaseId), StringComparison.Ordinal);
        Assert.Equal(StatusCode.ResourceExhausted, (await Assert.ThrowsAsync<RpcException>(() => agents[4].AcquireAsync(Product))).StatusCode);

        // Both forms renew (a change of kind rewrites each in its own form), list together in fence order, resume.
        Assert.Equal(second.FencingToken, (await agents[1].HeartbeatAsync(second, SessionKind.Attended)).FencingToken);
        Assert.Equal(fourth.FencingToken, (await agents[3].HeartbeatAsync(fourth, SessionKind.Attended)).FencingToken);
        Assert.Equal(third.FencingToken, (await agents[2].HeartbeatAsync(third)).FencingToken);
        Assert.Equal("Attended", (await RecordAsync(second.LeaseId))!.Split('|')[5]);
        Assert.Equal("CAW", (await RecordAsync(fourth.LeaseId))!.Split('|')[2]);
        var sessions = await Host.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, Host.AdminHeaders(account));
        Assert.Equal([second.LeaseId, third.LeaseId, fourth.LeaseId], sessions.Sessions.Select(s => s.LeaseId));
        Assert.All(sessions.Sessions, s => Assert.Equal(Platform.Windows, s.Device.Platform));
        Assert.Equal(["Attended", "Pending", "Attended"], sessions.Sessions.Select(s => s.SessionKind.ToString()));
        var again = await agents[3].AcquireAsync(Product, sessionId: "s-3");
        Assert.True(again.Resumed);
        Assert.Equal(fourth.LeaseId, again.Lease.LeaseId);

        // Every lease ends; the seats they held are free.
        Assert.True(await agents[1].ReleaseAsync(second));
        Assert.True(await agents[2].ReleaseAsync(third));
        Assert.True(await agents[3].ReleaseAsync(fourth));
        Assert.Equal(0, (await Host.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, Host.AdminHeaders(account))).Products.Single().ConcurrentSeatsInUse);
    }

    [Fact]
    public async Task A_rolling_deploy_to_holder_entries_keeps_the_limit_while_holders_move_and_the_way_back_moves_them_back()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 3);
        var ids = await _fixture.Seeder.AgentsAsync(account, 5, "CONCURRENT");
        var pool = new PoolId(account, Product);
        var agents = ids.Select(id => Host.Agent(account, id)).ToArray();
        var keys = Host.Services.GetRequiredService<RedisKeys>().Pool(pool);
        var redis = Host.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        async Task<(long InHash, string? InEntries, string? Mode)> CountsAsync()
        {
            var epoch = await redis.HashGetAsync(keys[10], ["entry_seats", "holders"]);
            return (await redis.HashLengthAsync(keys[3]), (string?)epoch[0], (string?)epoch[1]);
        }

        Task<string?> EntryAsync(int agent) => redis.HashGetAsync(keys[7], ids[agent]).ContinueWith(t => (string?)t.Result, TaskScheduler.Default);

        // The version before still runs: this one counts holders in the hash, which it reads.
        var previous = await PreviousBroker.StartAsync(Host, PreviousVersion.BeforeHolderEntries);
        await Gate.RefreshAsync();
        Assert.Equal(NewLeaseForm.CompactShort, Gate.NewLeases);
        Assert.False(Gate.HolderEntries);
        var first = (await agents[0].AcquireAsync(Product, sessionId: "s-0")).Lease;
        var (second, third) = await BothVersionsServeEachOtherAsync(previous, pool, ids, agents, first);
        Assert.Equal((3L, (string?)null, (string?)null), await CountsAsync());

        // The last replica of the version before stops: the next acquire switches the pool. The new holder is counted
        // in its entry, the earlier ones stay in the hash, and the limit counts both.
        await previous.DisposeAsync();
        await GateOpensAsync(NewLeaseForm.CompactShort);
        Assert.True(await agents[0].ReleaseAsync(first));
        var fourth = (await agents[3].AcquireAsync(Product, sessionId: "s-3")).Lease;
        Assert.Equal((2L, "1", "entries"), await CountsAsync());
        Assert.StartsWith("1/1 ", await EntryAsync(3), StringComparison.Ordinal);
        Assert.Equal(StatusCode.ResourceExhausted, (await Assert.ThrowsAsync<RpcException>(() => agents[4].AcquireAsync(Product))).StatusCode);

        // A holder counted in the hash that opens a second session moves to its entry: still one seat.
        var secondDevice = (await agents[1].AcquireAsync(Product, sessionId: "s-1b")).Lease;
        Assert.Equal((1L, "2", "entries"), await CountsAsync());
        Assert.StartsWith("2/2 ", await EntryAsync(1), StringComparison.Ordinal);
        Assert.Equal(3, (await Host.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, Host.AdminHeaders(account))).Products.Single().ConcurrentSeatsInUse);
        Assert.Equal(3, (await Host.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, Host.AdminHeaders(account))).SeatsInUse);

        // Its first session ends: still a holder, on its other one. Then the last, and agent 2's (the hash's last
        // holder): the hash is empty and stays so ('only': no HLEN any more); agent 4 takes a free seat.
        Assert.True(await agents[1].ReleaseAsync(second));
        Assert.Equal((1L, "2", "entries"), await CountsAsync());
        Assert.StartsWith("1/1 ", await EntryAsync(1), StringComparison.Ordinal);
        Assert.True(await agents[1].ReleaseAsync(secondDevice));
        Assert.Null(await EntryAsync(1));
        Assert.True(await agents[2].ReleaseAsync(third));
        Assert.Equal((0L, "1", "only"), await CountsAsync());
        var fifth = (await agents[4].AcquireAsync(Product, sessionId: "s-4")).Lease;
        Assert.Equal((0L, "2", "only"), await CountsAsync());

        // The way back (Redis__LeaseLayout=HolderHash on every replica, then the version before): the next acquire counts
        // new holders in the hash again, and a holder counted in its entry moves back when its leases change. Once none is
        // left in an entry ('entry_seats' 0), the version before counts every seat.
        await using (previous = await PreviousBroker.StartAsync(Host, PreviousVersion.BeforeHolderEntries))
        {
            await Gate.RefreshAsync();
            Assert.False(Gate.HolderEntries);
            var sixth = (await agents[1].AcquireAsync(Product, sessionId: "s-1c")).Lease;
            Assert.Equal((1L, "2", (string?)null), await CountsAsync());
            Assert.Equal(StatusCode.ResourceExhausted, (await Assert.ThrowsAsync<RpcException>(() => agents[0].AcquireAsync(Product))).StatusCode);
            var again = (await agents[3].AcquireAsync(Product, sessionId: "s-3b")).Lease;
            Assert.Equal((2L, "1", (string?)null), await CountsAsync());
            Assert.Equal("2", (string?)await redis.HashGetAsync(keys[3], ids[3]));
            Assert.StartsWith("2 ", await EntryAsync(3), StringComparison.Ordinal);
            Assert.True(await agents[4].ReleaseAsync(fifth));
            Assert.Equal((2L, "0", (string?)null), await CountsAsync());
            var back = await previous.AcquireAsync(pool, ids[0], "s-0b");
            Assert.Equal("GRANTED", back["status"]);
            Assert.Equal("FULL", (await previous.AcquireAsync(pool, ids[2], "s-2b"))["status"]);
            Assert.True(await agents[1].ReleaseAsync(sixth));
            Assert.True(await agents[3].ReleaseAsync(again));
            Assert.True(await agents[3].ReleaseAsync(fourth));
            Assert.True(await agents[0].ReleaseAsync(LeaseOf(back, "s-0b")));
        }

        // Every seat is free, in both places; with the version before gone again, the next acquire finds the hash empty.
        Assert.Equal(0, await SharedSeatsInUse.ReadAsync(redis, keys));
        Assert.Equal(0, await redis.HashLengthAsync(keys[7]));
        await GateOpensAsync(NewLeaseForm.CompactShort);
        var last = (await agents[0].AcquireAsync(Product, sessionId: "s-0c")).Lease;
        Assert.Equal((0L, "1", "only"), await CountsAsync());
        Assert.True(await agents[0].ReleaseAsync(last));
        Assert.Equal((0L, "0", "only"), await CountsAsync());
    }

    [Fact]
    public async Task A_layout_opens_only_once_every_replica_has_read_it_for_the_settle_time_and_a_returning_old_replica_restarts_the_wait()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        var keys = Host.Services.GetRequiredService<RedisKeys>();
        var redis = Host.Services.GetRequiredService<IConnectionMultiplexer>();
        var gate = new LeaseLayoutGate(redis, keys, new RedisOptions { LayoutSettleTime = TimeSpan.FromMinutes(5) }, NullLogger<LeaseLayoutGate>.Instance, clock);
        async Task<bool> HolderEntriesAfterRefreshAsync()
        {
            await gate.RefreshAsync();
            return gate.HolderEntries;
        }

        // A replica of the version before is connected: closed, and the wait has not begun.
        var previous = await PreviousBroker.StartAsync(Host, PreviousVersion.BeforeHolderEntries);
        // (This host's own gate, refreshing every 2 s, may write the key once more from a count made a moment before.)
        await Eventually.Until(
            async () => !await HolderEntriesAfterRefreshAsync() && !await redis.GetDatabase().KeyExistsAsync(keys.LayoutGate("holders")) ? "closed" : null,
            TimeSpan.FromSeconds(10),
            "the gate to close and forget the wait while a replica of the version before is connected");

        // It stops (or restarts): the wait begins, and the gate opens only after the settle time.
        await previous.DisposeAsync();
        await Eventually.Until(
            async () => !await HolderEntriesAfterRefreshAsync() && await redis.GetDatabase().KeyExistsAsync(keys.LayoutGate("holders")) ? "waiting" : null,
            TimeSpan.FromSeconds(10),
            "the wait to begin once the previous version's connection is gone");
        clock.Now += TimeSpan.FromMinutes(4);
        Assert.False(await HolderEntriesAfterRefreshAsync());

        // Back within it (a restart): closed again at once, and the wait starts over when it leaves. (The clock goes back
        // to the real one: this host's own gate, with no settle time, writes the same key with it.)
        clock.Now = DateTimeOffset.UtcNow;
        previous = await PreviousBroker.StartAsync(Host, PreviousVersion.BeforeHolderEntries);
        Assert.False(await HolderEntriesAfterRefreshAsync());
        await previous.DisposeAsync();
        await Eventually.Until(
            async () => !await HolderEntriesAfterRefreshAsync() && await redis.GetDatabase().KeyExistsAsync(keys.LayoutGate("holders")) ? "waiting" : null,
            TimeSpan.FromSeconds(10),
            "the wait to begin again");
        clock.Now += TimeSpan.FromMinutes(4);
        Assert.False(await HolderEntriesAfterRefreshAsync());
        clock.Now += TimeSpan.FromMinutes(1.5);
        Assert.True(await HolderEntriesAfterRefreshAsync());
        Assert.Equal(NewLeaseForm.CompactShort, gate.NewLeases);
    }

    private sealed class ManualClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    /// <summary>
    /// Both versions at work on a pool of 3 seats where this one granted <paramref name="first"/> to ids[0]: the previous
    /// one grants ids[1] and ids[2] and renews the first lease, this one renews the second, and the limit counts the
    /// leases of both (ids[3] is refused by either). Returns the second and third leases.
    /// </summary>
    private static async Task<(Lease Second, Lease Third)> BothVersionsServeEachOtherAsync(
        PreviousBroker previous, PoolId pool, IReadOnlyList<string> ids, IReadOnlyList<AgentClient> agents, Lease first)
    {
        var granted = await previous.AcquireAsync(pool, ids[1], "s-1");
        Assert.Equal("GRANTED", granted["status"]);
        var second = LeaseOf(granted, "s-1");
        Assert.Equal("RENEWED", (await previous.HeartbeatAsync(pool, ids[0], first.LeaseId, "s-0"))["status"]);
        Assert.Equal(second.FencingToken, (await agents[1].HeartbeatAsync(second)).FencingToken);
        var third = LeaseOf(await previous.AcquireAsync(pool, ids[2], "s-2"), "s-2");
        Assert.Equal(StatusCode.ResourceExhausted, (await Assert.ThrowsAsync<RpcException>(() => agents[3].AcquireAsync(Product))).StatusCode);
        Assert.Equal("FULL", (await previous.AcquireAsync(pool, ids[3], "s-3"))["status"]);
        return (second, third);
    }

    /// <summary>Waits for the gate to say <paramref name="form"/> (with holder entries when the short form) once the previous version's connection is gone.</summary>
    private async Task GateOpensAsync(NewLeaseForm form) => await Eventually.Until(
        async () =>
        {
            await Gate.RefreshAsync();
            return Gate.NewLeases == form && Gate.HolderEntries == (form == NewLeaseForm.CompactShort) ? "open" : null;
        },
        TimeSpan.FromSeconds(10),
        $"the gate to say {form} once the previous version's connection is gone");

    private static Lease LeaseOf(IReadOnlyDictionary<string, string> granted, string session) => new()
    {
        Product = Product, LeaseId = granted["lease_id"], SessionId = session,
        FencingToken = long.Parse(granted["fence"], CultureInfo.InvariantCulture),
    };

    /// <summary>
    /// A broker version before a layout change: its frozen library (Fixtures/Folder), the name its functions take here,
    /// whether its replicas announced that they read compact leases, and the arguments its broker passed beyond those
    /// every version passes.
    /// </summary>
    private sealed record PreviousVersion(string Folder, string Library, bool ReadsCompact, IReadOnlyDictionary<string, string> Arguments, bool ReadsShort = false)
    {
        public static readonly PreviousVersion BeforeCompact = new("PoolLibraryBeforeCompact", "lbprev", false, new Dictionary<string, string>());

        public static readonly PreviousVersion BeforeShortRecords = new("PoolLibraryBeforeShortRecords", "lbprev_short", true, ArgumentsSinceOverage("1"));

        public static readonly PreviousVersion BeforeHolderEntries = new("PoolLibraryBeforeHolderEntries", "lbprev_holders", true, ArgumentsSinceOverage("2"), ReadsShort: true);

        private static Dictionary<string, string> ArgumentsSinceOverage(string compact) => new()
        {
            ["compact"] = compact, ["overage_mode"] = "NONE", ["overage_seats"] = "0", ["overage_caps"] = string.Empty, ["revive_ms"] = "0",
            ["grace_ms"] = "0", ["proven_grace_ms"] = "0", ["outage_from_ms"] = "0", ["outage_to_ms"] = "0",
        };
    }

    /// <summary>A broker version before a layout change, as Redis sees it: its library and its replica's subscriptions.</summary>
    private sealed partial class PreviousBroker : IAsyncDisposable
    {
        private static readonly System.Collections.Concurrent.ConcurrentDictionary<PreviousVersion, (string Text, Dictionary<string, List<string>> Names)> Libraries = new();
        private readonly BrokerTestHost _host;
        private readonly ConnectionMultiplexer _connection;
        private readonly PreviousVersion _version;
        private readonly Dictionary<string, List<string>> _names;

        private PreviousBroker(BrokerTestHost host, ConnectionMultiplexer connection, PreviousVersion version, Dictionary<string, List<string>> names)
        {
            _host = host;
            _connection = connection;
            _version = version;
            _names = names;
        }

        public static async Task<PreviousBroker> StartAsync(BrokerTestHost host, PreviousVersion version)
        {
            var connection = await ConnectionMultiplexer.ConnectAsync(TestEnvironment.Redis);
            var keys = host.Services.GetRequiredService<RedisKeys>();
            await connection.GetSubscriber().SubscribeAsync(keys.CatalogInvalidationChannel, static (_, _) => { });
            if (version.ReadsCompact)
            {
                await connection.GetSubscriber().SubscribeAsync(keys.CompactReadersChannel, static (_, _) => { });
            }

            if (version.ReadsShort)
            {
                await connection.GetSubscriber().SubscribeAsync(keys.ShortRecordReadersChannel, static (_, _) => { });
            }

            var library = Libraries.GetOrAdd(version, Build);
            await connection.GetDatabase().ExecuteAsync("FUNCTION", "LOAD", "REPLACE", library.Text);
            return new PreviousBroker(host, connection, version, library.Names);
        }

        public Task<Dictionary<string, string>> AcquireAsync(PoolId pool, string agent, string session) =>
            CallAsync("acquire", pool, new Dictionary<string, string>
            {
                ["agent"] = agent, ["session"] = session, ["lease_id"] = SeatBroker.NewLeaseId(), ["seat"] = "CONCURRENT", ["limit"] = "3",
                ["device"] = "desktop-1", ["platform"] = "Windows", ["kind"] = "Pending", ["rate_window_ms"] = "0", ["rate_pool"] = "0",
                ["rate_agent"] = "0", ["claim_ms"] = "10000",
            });

        public Task<Dictionary<string, string>> HeartbeatAsync(PoolId pool, string agent, string leaseId, string session) =>
            CallAsync("heartbeat", pool, new Dictionary<string, string>
            {
                ["agent"] = agent, ["lease_id"] = leaseId, ["session"] = session, ["proven_token"] = "0", ["seat"] = "CONCURRENT", ["limit"] = "3",
                ["device"] = "desktop-1", ["platform"] = "Windows", ["kind"] = string.Empty, ["idle_for_ms"] = "0",
            });

        public async ValueTask DisposeAsync() => await _connection.DisposeAsync();

        /// <summary>Calls one of its functions, with the settings the pool stores (ttl, rules and their version) as its broker passed them.</summary>
        private async Task<Dictionary<string, string>> CallAsync(string script, PoolId pool, Dictionary<string, string> args)
        {
            var keys = _host.Services.GetRequiredService<RedisKeys>().Pool(pool);
            var db = _connection.GetDatabase();
            var stored = await db.HashGetAsync(keys[10], ["ttl", "rules", "rules_version"]);
            args["ttl_ms"] = ((long)_host.Services.GetRequiredService<SeatOptions>().LeaseTtl.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
            args["rules"] = (string?)stored[1] ?? string.Empty;
            args["rules_version"] = (string?)stored[2] ?? "0";
            args["epoch_mode"] = "KNOWN";
            args["evidence"] = "0";
            args["pending_ms"] = "0";
            args["idle_ms"] = "0";
            args["group"] = string.Empty;
            foreach (var (name, value) in _version.Arguments)
            {
                args[name] = value;
            }

            var argv = _names[script].Select(name => (RedisValue)args[name]).ToArray();
            var command = new List<object> { _version.Library + "_" + script, keys.Length };
            command.AddRange(keys.Select(k => (object)k));
            command.AddRange(argv.Select(a => (object)a));
            var reply = (RedisResult[])(await db.ExecuteAsync("FCALL", command.ToArray()))!;
            var payload = (RedisResult[])reply[1]!;
            var fields = new Dictionary<string, string>();
            for (var i = 0; i + 1 < payload.Length; i += 2)
            {
                fields[(string)payload[i]!] = payload[i + 1].Resp2Type == ResultType.Array ? "(list)" : (string?)payload[i + 1] ?? string.Empty;
            }

            return fields;
        }

        /// <summary>Its library as its broker built it: the parts in order, then each script's function, its @names turned into ARGV[n] in code (not in comments).</summary>
        private static (string, Dictionary<string, List<string>>) Build(PreviousVersion version)
        {
            var folder = Path.Combine(AppContext.BaseDirectory, "Fixtures", version.Folder);
            var text = new StringBuilder("#!lua name=" + version.Library + "\n");
            foreach (var part in Directory.GetFiles(Path.Combine(folder, "library"), "*.lua").Order(StringComparer.Ordinal))
            {
                text.Append(File.ReadAllText(part)).Append('\n');
            }

            var names = new Dictionary<string, List<string>>();
            foreach (var script in new[] { "acquire", "heartbeat" })
            {
                var used = new List<string>();
                var body = new StringBuilder();
                foreach (var line in File.ReadAllText(Path.Combine(folder, script + ".lua")).Split('\n'))
                {
                    var comment = line.IndexOf("--", StringComparison.Ordinal);
                    var code = comment < 0 ? line : line[..comment];
                    body.Append(ArgumentName().Replace(code, match =>
                    {
                        var name = match.Groups[1].Value;
                        if (!used.Contains(name))
                        {
                            used.Add(name);
                        }

                        return "ARGV[" + (used.IndexOf(name) + 1).ToString(CultureInfo.InvariantCulture) + "]";
                    })).Append('\n');
                }

                names[script] = used;
                text.Append("\nredis.register_function('").Append(version.Library).Append('_').Append(script).Append("', function(KEYS, ARGV)\nbegin_call(KEYS)\n").Append(body).Append("\nend)\n");
            }

            return (text.ToString(), names);
        }

        [GeneratedRegex("@([a-z_]+)")]
        private static partial Regex ArgumentName();
    }
}
