using System.Globalization;
using LicenseBroker.IntegrationTests.Infrastructure;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Redis;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Counts, not timings: how many Redis commands one Heartbeat and one AcquireSeat + ReleaseSeat run
/// inside their scripts on a pool with nothing due, on a Redis of the test's own (INFO commandstats
/// after CONFIG RESETSTAT). The limits are today's counts, so a change that makes the hot scripts do
/// more work fails here; lower them when a change does less (BENCHMARKS.md, Redis time per call).
/// </summary>
public sealed class HotScriptCommandTests
{
    // Commands per call (this test's own measurement). Before the pool's due time (library/03_epoch.lua,
    // schedule()), on 2026-11-30: heartbeat 9 (3 ZRANGEBYSCORE of the purge, HGET epoch and lease,
    // GET fence, TIME, ZADD, HSET), acquire + release 38. With it: heartbeat 6 and acquire + release 33 (heartbeat: TIME, HMGET epoch
    // due + recovering_until, HGET lease, GET fence, ZADD, HSET). A heartbeat that changes nothing but the
    // expiry no longer rewrites the lease record (heartbeat.lua): 5, without the HSET. An acquire touches
    // today's stats once and rewrites the pool's settings only when they changed: acquire + release 32,
    // two writes fewer (an HMGET instead of an HSET, one HSETNX instead of two). See BENCHMARKS.md.
    // Seat events journaled by the scripts themselves (issue 25: none lost when a broker dies): one XADD (all
    // the call's events in one entry) and one HSET of the epoch's evseq per call that has events, so acquire + release 36 (the
    // heartbeat, without events, stays at 5: evseq comes with the HMGET it already makes). Issue 28, item 3: the first read
    // of the epoch also brings an acquire's settings, today's day and peak, and the count of compact shared leases, which
    // finish() writes with evseq; 35.7 measured before (the compact layout's counter and bucket list), 30.7 after: 31.
    // The fencing counter's copy in the epoch (issue 28, item 1): the fast heartbeat reads due time, recovery window and
    // fence in one HMGET, 4 (TIME, HMGET, HGET record, ZADD).
    // Holders counted in their entries (issue 28, item 2), in a pool whose holders hash is empty ('only': no HLEN), and no
    // read of the fencing counter when the evidence is within the epoch's copy: acquire + release 24.7 (30.7 before), 25.
    private const double HeartbeatCommands = 4;
    private const double AcquireReleaseCommands = 25;
    private const int Calls = 200;

    [Fact]
    public async Task Hot_scripts_run_no_more_redis_commands_per_call_than_today()
    {
        await using var redis = new RedisServerProcess();
        await redis.StartAsync(persistence: false);
        await using var database = await TestDatabase.CreateAsync();
        await using var host = await BrokerTestHost.StartAsync(database, new Dictionary<string, string?> { ["Redis:Configuration"] = redis.Configuration + ",allowAdmin=true" });
        var account = await host.Seeder().AccountAsync(concurrentSeats: 10);
        var agents = await host.Seeder().AgentsAsync(account, 2, "CONCURRENT");
        var agent = host.Agent(account, agents[0]);
        var lease = (await agent.AcquireAsync("remote-support")).Lease;
        await agent.HeartbeatAsync(lease);

        using var admin = await ConnectionMultiplexer.ConnectAsync(redis.Configuration + ",allowAdmin=true");
        var server = admin.GetServer(admin.GetEndPoints()[0]);

        var heartbeat = await PerCallAsync(server, async () => await agent.HeartbeatAsync(lease));
        var other = host.Agent(account, agents[1]);
        var acquireRelease = await PerCallAsync(server, async () => await other.ReleaseAsync((await other.AcquireAsync("remote-support")).Lease), scriptsPerCall: 2);

        // A quarter of a command of slack per call absorbs one-off work (a day's first stats field, a rare purge).
        Assert.True(heartbeat.Commands <= HeartbeatCommands + 0.25, $"a heartbeat ran {heartbeat.Commands:F3} commands (limit {HeartbeatCommands}): {heartbeat.Breakdown}");
        Assert.True(acquireRelease.Commands <= AcquireReleaseCommands + 0.25, $"an acquire + release ran {acquireRelease.Commands:F3} commands (limit {AcquireReleaseCommands}): {acquireRelease.Breakdown}");
    }

    [Fact]
    public async Task An_acquire_sends_the_pools_terms_only_while_the_pool_may_not_have_them()
    {
        await using var redis = new RedisServerProcess();
        await redis.StartAsync(persistence: false);
        await using var database = await TestDatabase.CreateAsync();
        await using var host = await BrokerTestHost.StartAsync(database, new Dictionary<string, string?> { ["Redis:Configuration"] = redis.Configuration + ",allowAdmin=true" });
        var account = await host.Seeder().AccountAsync(concurrentSeats: 10);
        var agents = await host.Seeder().AgentsAsync(account, 3, "CONCURRENT");
        using var admin = await ConnectionMultiplexer.ConnectAsync(redis.Configuration + ",allowAdmin=true");
        var server = admin.GetServer(admin.GetEndPoints()[0]);
        await server.ExecuteAsync("CONFIG", "SET", "slowlog-log-slower-than", "0");
        await server.ExecuteAsync("CONFIG", "SET", "slowlog-max-len", "10000");

        // How many arguments each acquire's FCALL carried, in order (SLOWLOG keeps the first 31 and counts the rest).
        async Task<List<int>> AcquireArgumentCountsAsync()
        {
            var traces = await server.SlowlogGetAsync(10000);
            await server.SlowlogResetAsync();
            return traces.Reverse()
                .Where(t => t.Arguments.Length > 1 && ((string?)t.Arguments[0])!.Equals("FCALL", StringComparison.OrdinalIgnoreCase) && ((string?)t.Arguments[1])!.EndsWith("_acquire", StringComparison.Ordinal))
                .Select(t => ((string?)t.Arguments[^1])!.StartsWith("... (", StringComparison.Ordinal)
                    ? t.Arguments.Length - 1 + int.Parse(((string?)t.Arguments[^1])!.Split(' ')[1][1..], CultureInfo.InvariantCulture)
                    : t.Arguments.Length)
                .ToList();
        }

        // The pool's first acquire sends them (twice: it finds no epoch, asks PostgreSQL whether the pool existed and
        // calls again, as every first use of a pool); the next one does not: twelve arguments fewer.
        await server.SlowlogResetAsync();
        await host.Agent(account, agents[0]).AcquireAsync("remote-support");
        await host.Agent(account, agents[1]).AcquireAsync("remote-support");
        var counts = await AcquireArgumentCountsAsync();
        Assert.Equal([counts[0], counts[0], counts[0] - 12], counts);

        // The pool forgets them (its terms no longer carry the id this replica knows): the acquire is answered TERMS and
        // sent again with them, and is granted.
        var epoch = host.Services.GetRequiredService<RedisKeys>().Pool(new PoolId(account, "remote-support"))[10];
        await admin.GetDatabase().HashSetAsync(epoch, "terms_id", string.Empty);
        Assert.NotNull((await host.Agent(account, agents[2]).AcquireAsync("remote-support")).Lease);
        Assert.Equal([counts[2], counts[0]], await AcquireArgumentCountsAsync());
    }

    /// <summary>Commands run inside scripts per call, from commandstats around <see cref="Calls"/> calls.</summary>
    private static async Task<(double Commands, string Breakdown)> PerCallAsync(IServer server, Func<Task> call, int scriptsPerCall = 1)
    {
        await server.ConfigResetStatisticsAsync();
        for (var i = 0; i < Calls; i++)
        {
            await call();
        }

        var stats = (await server.InfoAsync("commandstats")).SelectMany(g => g)
            .ToDictionary(kv => kv.Key["cmdstat_".Length..], kv => long.Parse(kv.Value.Split(',')[0].Split('=')[1], CultureInfo.InvariantCulture));
        var scripts = stats.GetValueOrDefault("fcall");
        Assert.InRange(scripts, Calls * scriptsPerCall, (Calls * scriptsPerCall) + 20);

        // What the scripts ran; the client's own housekeeping (PING, INFO, CONFIG, SUBSCRIBE...) is not theirs.
        // SELECT: StackExchange.Redis re-selects the database after a command it does not know (FCALL), outside the script.
        // XRANGE, XDEL, XLEN: the journal's drain (SeatEventDrainService), a background reader, not the scripts.
        string[] housekeeping = ["fcall", "select", "evalsha", "eval", "ping", "info", "config|resetstat", "config", "client", "subscribe", "psubscribe", "ssubscribe", "echo", "cluster", "hello", "script",
            "xrange", "xdel", "xlen"];
        var inside = stats.Where(kv => !housekeeping.Contains(kv.Key, StringComparer.OrdinalIgnoreCase) && !kv.Key.StartsWith("client|", StringComparison.Ordinal)
            && !kv.Key.StartsWith("config|", StringComparison.Ordinal) && !kv.Key.StartsWith("script|", StringComparison.Ordinal)
            && !kv.Key.StartsWith("function|", StringComparison.Ordinal)).ToList();

        // The pool's due work (library/03_epoch.lua due_time and library/06_leases.lua purge: a ZRANGEBYSCORE of a timed set, and the TIME it reads) runs when
        // something of the pool comes due by the clock, not because of the call: on a machine slowed by a CPU burner
        // more of it falls inside the measured calls (seen: 0.1 of each per call). It is not the hot path: not counted.
        var due = stats.GetValueOrDefault("zrangebyscore");
        var hot = inside.Sum(kv => kv.Value) - (2 * due);
        return (hot / (double)Calls, string.Join(", ", inside.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key}={kv.Value / (double)Calls:F1}")) + $"; due work not counted: {due} ZRANGEBYSCORE and as many TIME");
    }
}
