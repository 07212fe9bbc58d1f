using System.Diagnostics;
using Dapper;
using LicenseBroker.Domain.Seats;
using LicenseBroker.IntegrationTests.Infrastructure;
using LicenseBroker.Storage.Redis;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Finding 6: 50,000+ leases of one pool expire together (a fleet outage longer than the TTL). The
/// next calls into that pool drop a bounded number each and the janitor drains the rest in bounded
/// batches: the drain takes at least one script call per 100 leases (each call that expires leases
/// appends one entry to the pool's journal: the XADDs are counted by keyspace notification), none
/// stalls (Redis SLOWLOG), another account's heartbeats go on meanwhile, and every expired lease is
/// audited exactly once.
/// </summary>
/// <remarks>
/// Bounded work is asserted by counting calls, not by timing them: a CPU burner beside the suite
/// stretches a 5 ms sweep past 100 ms of wall time. How fast a sweep is belongs to bench/; the
/// timing bounds here (one second) only catch a stall.
/// </remarks>
[Collection(MeasuredAlone.Name)]
public sealed class MassExpiryTests : IClassFixture<BrokerFixture>
{
    private const string Product = "remote-support";
    private const int Leases = 55_000;
    private readonly BrokerFixture _fixture;
    private readonly ITestOutputHelper _output;

    public MassExpiryTests(BrokerFixture fixture, ITestOutputHelper output)
    {
        _fixture = fixture;
        _output = output;
    }

    [Fact]
    public async Task Fifty_thousand_leases_expiring_together_stall_no_script_and_are_each_audited_once()
    {
        var host = _fixture.Host;
        var crowded = await _fixture.Seeder.AccountAsync(concurrentSeats: 10);
        var holder = (await _fixture.Seeder.AgentsAsync(crowded, 1, "CONCURRENT"))[0];
        var other = await _fixture.Seeder.AccountAsync(concurrentSeats: 10);
        var otherAgent = host.Agent(other, (await _fixture.Seeder.AgentsAsync(other, 1, "CONCURRENT"))[0]);
        var otherLease = (await otherAgent.AcquireAsync(Product)).Lease;

        // One agent's many sessions (one seat): 55,000 leases that all expire within a few seconds of each other.
        var store = host.Services.GetRequiredService<RedisOccupancyStore>();
        var pool = new PoolId(crowded, Product);
        var ttl = TimeSpan.FromSeconds(25);
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < Leases)
            {
                var outcome = await store.AcquireAsync(
                    new AcquireCommand(pool, holder, "s-" + i, SeatBroker.NewLeaseId(), SeatType.Concurrent, 10, ttl, new DeviceInfo("d", Platform.Windows), SessionKind.Pending),
                    CancellationToken.None);
                Assert.IsType<AcquireOutcome.Granted>(outcome);
            }
        })));

        var redis = host.Services.GetRequiredService<IConnectionMultiplexer>();
        var database = redis.GetDatabase();
        var leasesKey = host.Services.GetRequiredService<RedisKeys>().Pool(pool)[0];
        var lastExpiry = (await database.SortedSetRangeByRankWithScoresAsync(leasesKey, -1, -1))[0].Score;
        await using var admin = await ConnectionMultiplexer.ConnectAsync(TestEnvironment.Redis + ",allowAdmin=true");
        var server = admin.GetServers().Single();
        await Eventually.Until(
            async () => (await server.TimeAsync()) > DateTimeOffset.FromUnixTimeMilliseconds((long)lastExpiry).UtcDateTime ? "expired" : null,
            TimeSpan.FromSeconds(60),
            "every lease of the crowded pool to expire");
        Assert.True(await database.SortedSetLengthAsync(leasesKey) >= 50_000);

        // Slow log: every command of a second or more (a stall), from now on. And every journal entry of the crowded
        // pool, counted: one per script call that expired leases.
        await server.ExecuteAsync("CONFIG", "SET", "slowlog-log-slower-than", "1000000");
        await server.SlowlogResetAsync();
        await server.ExecuteAsync("CONFIG", "SET", "notify-keyspace-events", "Kt");
        var journalKey = host.Services.GetRequiredService<RedisKeys>().SeatEvents(pool).ToString();
        var journalEntries = 0;
        var subscriber = admin.GetSubscriber();
        await subscriber.SubscribeAsync(RedisChannel.Literal("__keyspace@0__:" + journalKey), (_, message) =>
        {
            if (message == "xadd")
            {
                Interlocked.Increment(ref journalEntries);
            }
        });

        // The other account heartbeats throughout; the crowded pool gets calls that meet the backlog.
        using var stop = new CancellationTokenSource();
        var latencies = new List<double>();
        var beating = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var started = Stopwatch.GetTimestamp();
                otherLease = await otherAgent.HeartbeatAsync(otherLease);
                latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        });
        var crowdedAgent = host.Agent(crowded, holder);
        var fresh = (await crowdedAgent.AcquireAsync(Product)).Lease;
        for (var i = 0; i < 20; i++)
        {
            fresh = await crowdedAgent.HeartbeatAsync(fresh);
        }

        await Eventually.Until(
            async () => await database.SortedSetLengthAsync(leasesKey) == 1 ? "drained" : null,
            TimeSpan.FromSeconds(60),
            "the janitor to drain the expired leases");
        await stop.CancelAsync();
        await beating;

        var stalls = (await server.SlowlogGetAsync(128))
            .Where(entry => entry.Arguments.Any(a => a.ToString()!.Contains(crowded, StringComparison.Ordinal) || a.ToString()!.Contains(other, StringComparison.Ordinal)))
            .Select(entry => $"{entry.Duration.TotalMilliseconds} ms: {string.Join(' ', entry.Arguments.Take(2))}")
            .ToList();
        await server.ExecuteAsync("CONFIG", "SET", "slowlog-log-slower-than", "10000");

        // At most 100 expired leases per call (the sweep's batch, and EXPIRED_PER_CALL for the calls that meet the backlog):
        // at least one journal entry per 100 leases. (Notifications arrive after the commands: waited for.)
        await Eventually.Until(
            () => Task.FromResult<string?>(Volatile.Read(ref journalEntries) >= Leases / 100 ? "counted" : null),
            TimeSpan.FromSeconds(10),
            () => $"one journal entry per 100 expired leases (counted {Volatile.Read(ref journalEntries)})");
        await subscriber.UnsubscribeAllAsync();
        await server.ExecuteAsync("CONFIG", "SET", "notify-keyspace-events", "");
        latencies.Sort();
        _output.WriteLine($"drained {Leases} expired leases in {journalEntries} journalled script calls; " +
            $"other account's heartbeats: {latencies.Count}, p50 {latencies[latencies.Count / 2]:F1} ms, max {latencies[^1]:F1} ms");
        Assert.Empty(stalls);
        // The other account kept working throughout. Its latency is reported, not asserted: a wall-clock maximum measures
        // the machine (a loaded CI runner once took 1,067 ms for one call while Redis logged no slow command); what this
        // test can know is above: no script call of a second, and the backlog cut into batches. Latency is bench/'s.
        Assert.True(latencies.Count >= 20, $"{latencies.Count} heartbeats");

        // Every lease expired once: as many expiry rows as leases granted minus the one still live, none twice.
        await host.AuditWrittenAsync();
        await using var connection = new NpgsqlConnection(host.Database.ConnectionString);
        var audit = await connection.QuerySingleAsync<(long Rows, long Distinct)>(
            "SELECT count(*), count(DISTINCT after->>'lease_id') FROM audit_events WHERE account_id = @crowded AND action = 'seat.expired'", new { crowded });
        Assert.Equal(Leases, audit.Rows);
        Assert.Equal(Leases, audit.Distinct);

        // Each expiry is dated when the lease expired, not when the drain found it.
        var latest = await connection.QuerySingleAsync<DateTime>(
            "SELECT max(occurred_at) FROM audit_events WHERE account_id = @crowded AND action = 'seat.expired'", new { crowded });
        Assert.True(
            new DateTimeOffset(latest, TimeSpan.Zero).ToUnixTimeMilliseconds() <= (long)lastExpiry,
            $"latest expiry audited at {latest:O}, the last lease expired at {DateTimeOffset.FromUnixTimeMilliseconds((long)lastExpiry):O}");
    }
}
