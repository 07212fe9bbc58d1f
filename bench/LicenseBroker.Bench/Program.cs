using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Dapper;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using LicenseBroker.Bench;
using LicenseBroker.Cli;
using LicenseBroker.Contracts.V1;
using Npgsql;
using StackExchange.Redis;

// Drives a running broker (./scripts/bench starts one) and prints a markdown report.
// Arguments: --server URL --redis HOST:PORT --postgres CONNSTRING --key BASE64 [--seconds N] [--out FILE]
// [--seed-only | --no-seed] [--cold-only | --entitlements-only | --planner-only | --memory-only] [--memory-notes FILE]
// [--broker-pid PID] [--trace "scenario" ... --trace-tool PATH]
var options = Args.Parse(args);
var seconds = TimeSpan.FromSeconds(options.Seconds);
using var channel = GrpcChannel.ForAddress(options.Server, new GrpcChannelOptions
{
    HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true, PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan },
});
var seat = new SeatService.SeatServiceClient(channel);
var admin = new SeatAdminService.SeatAdminServiceClient(channel);
var health = new Health.HealthClient(channel);
using var redis = await ConnectionMultiplexer.ConnectAsync(options.Redis + ",allowAdmin=true");
var server = redis.GetServer(redis.GetEndPoints()[0]);
await using var postgres = NpgsqlDataSource.Create(options.Postgres);
var tokens = new ConcurrentDictionary<(string, string), Metadata>();
Metadata Agent(string account, string agent) => tokens.GetOrAdd((account, agent), k =>
    new Metadata { { "Authorization", "Bearer " + DevTokens.Mint(options.Key, k.Item1, k.Item2, TimeSpan.FromHours(2)) } });
var adminHeaders = new Metadata { { "Authorization", "Bearer " + DevTokens.Mint(options.Key, "bench-10000", "bench-admin", TimeSpan.FromHours(2), extraClaims: DevTokens.Claims("ADMIN")) } };
var device = new Device { Id = "bench", Platform = Platform.Windows };
var results = new List<(ScenarioResult Result, double Redis, double Postgres, double BrokerCpuMicros, double RedisMicros)>();
var notes = new List<string>();
var log = (string line) => Console.Error.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {line}");

// --memory-only: the memory of live leases in a Redis holding nothing else (./scripts/bench gives it a Redis and a broker
// of its own, before the main run): seeds its one account unless --no-seed, measures, writes its notes to --out, ends.
if (options.MemoryOnly)
{
    // --long-ids: agent ids of 36 characters (a UUID's length) instead of "a" and a number, sessions "s-" and the agent.
    var (memoryAccount, agentName) = options.LongIds
        ? ("memory-long", (Func<int, string>)(i => string.Create(CultureInfo.InvariantCulture, $"0b6f4c1e-7d2a-4c8e-9a51-{i:D12}")))
        : ("memory", i => string.Create(CultureInfo.InvariantCulture, $"a{i}"));
    if (!options.NoSeed)
    {
        await Seed.AccountAsync(postgres, memoryAccount, agents: LivePoolMemory.Leases + 1, concurrent: LivePoolMemory.Leases + 1, agentName: agentName);
    }

    var memoryNotes = await LivePoolMemory.MeasureAsync(redis, server, memoryAccount, agentName, (account, agent) => Acquire(account, agent), log);
    if (options.Out is { } memoryOut)
    {
        await File.WriteAllLinesAsync(memoryOut, memoryNotes);
    }

    memoryNotes.ForEach(Console.WriteLine);
    return;
}

// ---- Seed: accounts and agents for every scenario, straight into PostgreSQL. ./scripts/bench seeds
// first (--seed-only), then restarts the broker, so that the login storm is the first minute after a
// deploy: a broker that just started, facing 2,000 accounts whose pools Redis has never seen.
if (!options.NoSeed)
{
    log("seeding");
    await Seed.AccountsAsync(postgres, "cold", accounts: 2000, agentsPerAccount: 5, concurrent: 5);
    await Seed.AccountsAsync(postgres, "storm", accounts: 2000, agentsPerAccount: 5, concurrent: 5);
    await Seed.AccountsAsync(postgres, "fresh", accounts: 2000, agentsPerAccount: 5, concurrent: 5);
}

// --cold-only with --seed-only: the accounts of the start of the run only (the history's 5,000,000 events take minutes).
if (!options.NoSeed && !options.ColdOnly)
{
    await Seed.AccountsAsync(postgres, "spread", accounts: 10_000, agentsPerAccount: 1, concurrent: 1);
    await Seed.AccountAsync(postgres, "one", agents: 10_000, concurrent: 10_000);
    await Seed.AccountAsync(postgres, "contention", agents: 500, concurrent: 10);
    foreach (var size in new[] { 10, 1000, 10_000, 100_000 })
    {
        await Seed.AccountAsync(postgres, $"bench-{size}", agents: size + 64, concurrent: size + 64);
    }

    // Their queues hold every waiter of the scenario (the automatic length is twice the limit, at least 20).
    await Seed.AccountAsync(postgres, "queue", agents: 210, concurrent: 10, queueMaxWaiters: 200);
    await Seed.AccountAsync(postgres, "tombs", agents: 10_000, concurrent: 10_000);
    await Seed.AccountAsync(postgres, "waiters", agents: 2_010, concurrent: 10, queueMaxWaiters: 2_000);
    await Seed.PostgresDesignAsync(postgres);
    log("seeding 30 days of seat events for the planner");
    await PlannerBench.SeedAsync(postgres);
    log("seeding 5,000,000 seat events over 365 days for the usage history");
    await PlannerBench.SeedHistoryAsync(postgres);
    await using (var connection = await postgres.OpenConnectionAsync())
    {
        // So that autovacuum, woken by the bulk load, does not run during the scenarios.
        await connection.ExecuteAsync("VACUUM ANALYZE");
    }
}

if (options.SeedOnly)
{
    // The "cold" accounts were in use before the deploy: Redis knows their pools (one login each, through the broker
    // that is about to be replaced). The "fresh" and "storm" ones have never been used.
    log("opening the 2,000 pools of the accounts in use before the deploy");
    var opened = -1;
    await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => Task.Run(async () =>
    {
        int i;
        while ((i = Interlocked.Increment(ref opened)) < 2000)
        {
            var lease = await Acquire($"cold-{i}", "a0", "before-the-deploy");
            await seat.ReleaseSeatAsync(new ReleaseSeatRequest { Product = "remote-support", LeaseId = lease.LeaseId }, Agent($"cold-{i}", "a0"));
        }
    })));

    // The broker being replaced stores its seat events before it goes, as a deploy lets it: the new replicas then
    // start with no journal to drain, as in production.
    var database = redis.GetDatabase();
    var drainedBy = Stopwatch.StartNew();
    long left;
    while ((left = (await Task.WhenAll(Enumerable.Range(0, 2000).Select(i => database.StreamLengthAsync($"lb:{{cold-{i}/remote-support}}:seat-events")))).Sum()) > 0
           && drainedBy.Elapsed < TimeSpan.FromSeconds(120))
    {
        await Task.Delay(250);
    }

    log($"seat events left in the journals before the deploy: {left}");
    return;
}

async Task<ScenarioResult> Run(string name, Func<Task<ScenarioResult>> scenario, Func<long, long>? rpcCount = null)
{
    await CompactAppendOnlyFileAsync();
    using var trace = options.TraceScenarios.Contains(name) ? await BrokerTrace.StartAsync(options, name, log) : null;
    log(name);
    var redisBefore = RedisCalls();
    var redisUsecBefore = RedisScriptMicros();
    var commandsBefore = CommandMicros();
    var cpuBefore = BrokerCpu();
    var pgBefore = await PostgresTransactions();
    var result = await scenario();
    var cpuAfter = BrokerCpu();
    var redisCalls = RedisCalls() - redisBefore;
    var redisUsec = RedisScriptMicros() - redisUsecBefore;
    if (redisCalls > 0)
    {
        notes.Add(WhereScriptTimeGoes(name, redisCalls, redisUsec, commandsBefore, CommandMicros()));
    }

    await Task.Delay(1200); // PostgreSQL publishes its counters about once a second
    var rpcs = rpcCount?.Invoke(result.Calls) ?? result.Calls;
    results.Add((result, redisCalls / (double)rpcs, (await PostgresTransactions() - pgBefore) / (double)rpcs,
        cpuBefore is { } before && cpuAfter is { } after ? (after - before).TotalMicroseconds / rpcs : double.NaN,
        redisCalls > 0 ? redisUsec / (double)redisCalls : double.NaN));
    return result;
}

// The broker's CPU time (user + system) from /proc: with --broker-pid, the figure that holds on a
// shared machine where calls/s move with whatever else runs. Clock ticks are USER_HZ, 100 on Linux.
TimeSpan? BrokerCpu()
{
    if (options.BrokerPid <= 0 || !File.Exists($"/proc/{options.BrokerPid}/stat"))
    {
        return null;
    }

    var stat = File.ReadAllText($"/proc/{options.BrokerPid}/stat");
    var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
    var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    return TimeSpan.FromMilliseconds(ticks * 10);
}

// Redis's own time in scripts (INFO commandstats usec of EVAL/EVALSHA): what a shard spends.
long RedisScriptMicros() => server.Info("commandstats").SelectMany(g => g)
    .Where(kv => kv.Key is "cmdstat_eval" or "cmdstat_evalsha" or "cmdstat_fcall")
    .Sum(kv => long.Parse(kv.Value.Split(',')[1].Split('=')[1], CultureInfo.InvariantCulture));

// The profile of a scenario's Redis time: INFO commandstats counts the commands a script runs under their own names,
// with their own time, inside the script's. A script call's time is its commands' plus the rest: the Lua interpreter
// (argument binding, string work, table building, cjson) and FCALL's own cost. The broker sends nothing but scripts on
// the measured paths; what its background work sends directly (journal drain, registry reads) is left out by name.
Dictionary<string, (long Calls, long Micros)> CommandMicros() => server.Info("commandstats").SelectMany(g => g)
    .ToDictionary(kv => kv.Key["cmdstat_".Length..], kv =>
    {
        var parts = kv.Value.Split(',');
        return (long.Parse(parts[0].Split('=')[1], CultureInfo.InvariantCulture), long.Parse(parts[1].Split('=')[1], CultureInfo.InvariantCulture));
    });

string WhereScriptTimeGoes(string scenario, long scriptCalls, long scriptMicros, Dictionary<string, (long Calls, long Micros)> before, Dictionary<string, (long Calls, long Micros)> after)
{
    string[] outside = ["fcall", "eval", "evalsha", "info", "config|resetstat", "ping", "subscribe", "unsubscribe", "pubsub|numsub", "client|setinfo", "client|setname",
        "xrange", "xdel", "xlen", "xinfo|stream", "scan", "zrange", "bgrewriteaof", "function|load", "function|list", "script|load", "cluster|nodes", "echo", "hello", "select", "type"];
    var inside = after.Where(kv => !outside.Contains(kv.Key))
        .Select(kv => (Name: kv.Key.ToUpperInvariant(), Calls: kv.Value.Calls - before.GetValueOrDefault(kv.Key).Calls, Micros: kv.Value.Micros - before.GetValueOrDefault(kv.Key).Micros))
        .Where(c => c.Calls > 0).OrderByDescending(c => c.Micros).ToList();
    var commandMicros = inside.Sum(c => c.Micros);
    var top = string.Join(", ", inside.Take(5).Select(c => $"{c.Name} {c.Micros / (double)scriptCalls:F2} µs ({c.Calls / (double)scriptCalls:F1}×)"));
    return $"Where Redis time goes, {scenario}: {scriptMicros / (double)scriptCalls:F2} µs per script call = {commandMicros / (double)scriptCalls:F2} µs in its "
        + $"{inside.Sum(c => c.Calls) / (double)scriptCalls:F1} commands (top: {top}) + {(scriptMicros - commandMicros) / (double)scriptCalls:F2} µs of Lua and FCALL.";
}

// Redis rewrites its append-only file each time the file has doubled; the previous scenario's writes
// (100,000 leases, thousands of heartbeats a second) set one off every few seconds, and on two shared
// cores the rewriting child takes a core for a second or two, which shows up as stalls of hundreds
// of milliseconds in whatever scenario it falls on. Each scenario starts after a compaction, so it
// measures the broker and not the rewrite its predecessor provoked (bench/results/logs/redis.log
// keeps the rewrites; BENCHMARKS.md says what they cost).
async Task CompactAppendOnlyFileAsync()
{
    try
    {
        await server.ExecuteAsync("BGREWRITEAOF");
    }
    catch (RedisServerException)
    {
        // A rewrite is already running: wait for it below.
    }

    while (server.Info("persistence").SelectMany(g => g).Any(kv => kv.Key is "aof_rewrite_in_progress" or "aof_rewrite_scheduled" && kv.Value == "1"))
    {
        await Task.Delay(100);
    }
}

// Round trips = script invocations: the broker sends nothing else on these paths. (Redis also counts
// the commands a script runs inside itself under their own names; those are not round trips.)
long RedisCalls() => server.Info("commandstats").SelectMany(g => g)
    .Where(kv => kv.Key is "cmdstat_eval" or "cmdstat_evalsha" or "cmdstat_fcall")
    .Sum(kv => long.Parse(kv.Value.Split(',')[0].Split('=')[1], CultureInfo.InvariantCulture));

async Task<long> PostgresTransactions()
{
    await using var connection = await postgres.OpenConnectionAsync();
    return await connection.ExecuteScalarAsync<long>("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()");
}

async Task<Lease> Acquire(string account, string agent, string? session = null) =>
    (await seat.AcquireSeatAsync(new AcquireSeatRequest { Product = "remote-support", SessionId = session ?? "s-" + agent, Device = device, SessionKind = SessionKind.Pending }, Agent(account, agent))).Lease;

async Task<Lease[]> FillAsync(string account, int count)
{
    var leases = new Lease[count];
    var next = -1;
    await Task.WhenAll(Enumerable.Range(0, 128).Select(_ => Task.Run(async () =>
    {
        int i;
        while ((i = Interlocked.Increment(ref next)) < count)
        {
            leases[i] = await Acquire(account, $"a{i}");
        }
    })));
    return leases;
}

// ---- Warm-up, then the baseline: an empty RPC on the same server (a health check of a service
// name nobody registered: answered NOT_FOUND without touching a backend). The warm-up is long
// enough for tiered JIT to reach its optimised code and for the server GC to settle its heap
// count; with two seconds the baseline moved between 12,000 and 27,000 calls/s from run to run.
await Measure.ClosedLoopAsync("warm-up", options.Workers, TimeSpan.FromSeconds(6), async (_, _) => await Noop());
var baseline = await Run("baseline", () => Measure.ClosedLoopAsync("baseline: empty RPC (health Check, unknown service)", options.Workers, seconds,
    async (_, _) => await Noop()));

// The floor of a script on this Redis, measured in the same run: a bare sorted-set acquire (count,
// compare, add), what the heartbeat and acquire scripts are compared with.
{
    const string bare = "if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3]) end return 1";
    var sha = (byte[])(await server.ExecuteAsync("SCRIPT", "LOAD", bare))!;
    var shaText = Convert.ToHexStringLower(sha.Length == 40 ? Convert.FromHexString(System.Text.Encoding.ASCII.GetString(sha)) : sha);
    var db = redis.GetDatabase();
    var callsBefore = RedisCalls();
    var usecBefore = RedisScriptMicros();
    for (var batch = 0; batch < 100; batch++)
    {
        await Task.WhenAll(Enumerable.Range(0, 200).Select(i => db.ExecuteAsync("EVALSHA", shaText, 1, "bench:bare", 1_000_000, batch * 200 + i, $"m{i % 5000}")));
    }

    var bareCalls = RedisCalls() - callsBefore;
    notes.Add($"Same-run reference: a bare sorted-set acquire script (ZCARD, ZADD) costs {(RedisScriptMicros() - usecBefore) / (double)bareCalls:F2} µs of Redis time per call ({bareCalls:N0} calls).");
    await db.KeyDeleteAsync("bench:bare");
}

async Task Noop()
{
    try
    {
        await health.CheckAsync(new HealthCheckRequest { Service = "bench.noop" });
    }
    catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
    {
    }
}

// --planner-only: the seat planner alone.
if (options.PlannerOnly)
{
    await PlannerScenarios();
    notes.ForEach(note => Console.WriteLine("* " + note));
    return;
}

// --entitlements-only: the baseline, then the entitlement scenarios alone.
if (options.EntitlementsOnly)
{
    await EntitlementScenarios();
    PrintRows();
    notes.ForEach(note => Console.WriteLine("* " + note));
    return;
}

// ---- The first minute after a deploy, at a steady rate: 1,000 logins a second spread over 2,000 accounts that were in
// use before it (Redis knows their pools; this broker, just started, has served none of them); each login's acquire is
// timed from the moment it was due, its release follows untimed. Then the same over 2,000 accounts never used (the first
// login of a new account: its pool is opened in Redis and registered in PostgreSQL, durably, before it answers). The
// closed-loop storm below drives as hard as it can instead, so its tail is mostly queueing behind 64 callers.
const double ColdLoginRate = 1000;
// Every agent's app holds its token before it logs in: minted here, not on the generator's cores inside the measured
// seconds (10,000 first mints a second were a share of the two cores the broker runs on).
foreach (var prefix in new[] { "cold", "fresh" })
{
    for (var n = 0; n < 10_000; n++)
    {
        _ = Agent($"{prefix}-{n / 5}", $"a{n % 5}");
    }
}

foreach (var (prefix, line) in new[]
{
    ("cold", $"cold start: first logins after a deploy, open loop at {ColdLoginRate:N0}/s (2,000 pools in use before it)"),
    ("fresh", $"first use: first logins of 2,000 new accounts, open loop at {ColdLoginRate:N0}/s"),
})
{
    await Run(prefix == "cold" ? "cold start, open loop" : "first use, open loop", () => Measure.OpenLoopAsync(line, ColdLoginRate, seconds, async (k, measured) =>
    {
        var n = (int)(k * 7919 % 10_000);
        var (account, agent) = ($"{prefix}-{n / 5}", $"a{n % 5}");
        var lease = await Acquire(account, agent, $"{prefix}-{k}");
        measured();
        await seat.ReleaseSeatAsync(new ReleaseSeatRequest { Product = "remote-support", LeaseId = lease.LeaseId }, Agent(account, agent));
    }, "latency of the acquire; its release follows, untimed"), calls => calls * 2);
}

// ---- Login storm: acquire then release, across 2,000 accounts.
var storm = await Run("login storm", () => Measure.ClosedLoopAsync("login storm: AcquireSeat + ReleaseSeat (2,000 accounts)", options.Workers, seconds, async (w, i) =>
{
    var n = (int)((w * 7919 + i) % 10_000);
    var account = $"storm-{n / 5}";
    var agent = $"a{n % 5}";
    var lease = await Acquire(account, agent, $"storm-{w}-{i}");
    await seat.ReleaseSeatAsync(new ReleaseSeatRequest { Product = "remote-support", LeaseId = lease.LeaseId }, Agent(account, agent));
}, "2 RPCs per iteration; rates count RPCs"), calls => calls * 2);
results[^1] = results[^1] with { Result = results[^1].Result with { Calls = storm.Calls * 2 } };

// --cold-only: the start of the run alone (baseline, cold start, login storm), for work on the cold start.
if (options.ColdOnly)
{
    PrintRows();
    return;
}

void PrintRows()
{
    foreach (var (result, redisPerCall, pgPerCall, cpuPerCall, redisMicros) in results)
    {
        Console.WriteLine(result.Row(baseline.PerSecond, redisPerCall, pgPerCall, cpuPerCall, redisMicros));
    }
}

// ---- Heartbeats: 10,000 live leases in one account, then across 10,000 accounts.
log("filling 10,000 leases in one account and one in each of 10,000 accounts");
var oneLeases = await FillAsync("one", 10_000);
var spreadLeases = new Lease[10_000];
await Task.WhenAll(Enumerable.Range(0, 64).Select(w => Task.Run(async () =>
{
    for (var i = w; i < 10_000; i += 64)
    {
        spreadLeases[i] = await Acquire($"spread-{i}", "a0");
    }
})));

Task Beat(string account, string agent, Lease lease) => seat.HeartbeatAsync(
    new HeartbeatRequest { Product = "remote-support", LeaseId = lease.LeaseId, SessionId = lease.SessionId, FencingToken = lease.FencingToken }, Agent(account, agent)).ResponseAsync;

var heartbeatOne = await Run("heartbeat, one account", () => Measure.ClosedLoopAsync("Heartbeat, 10,000 leases in 1 account", options.Workers, seconds, async (w, i) =>
{
    var n = (int)((w * 104729 + i * 31) % 10_000);
    await Beat("one", $"a{n}", oneLeases[n]);
}));
var heartbeatSpread = await Run("heartbeat, 10,000 accounts", () => Measure.ClosedLoopAsync("Heartbeat, 10,000 leases in 10,000 accounts", options.Workers, seconds, async (w, i) =>
{
    var n = (int)((w * 104729 + i * 31) % 10_000);
    await Beat($"spread-{n}", "a0", spreadLeases[n]);
}));
var halfRate = Math.Round(heartbeatOne.PerSecond / 2);
await Run("heartbeat, open loop", () => Measure.OpenLoopAsync($"Heartbeat, open loop at {halfRate:N0}/s (half of max)", halfRate, seconds, async k =>
{
    var n = (int)(k % 10_000);
    await Beat("one", $"a{n}", oneLeases[n]);
}));

// The empty RPC at the same rate: the latency floor of gRPC, Kestrel and this machine at that load.
await Run("baseline, open loop", () => Measure.OpenLoopAsync($"baseline: empty RPC, open loop at {halfRate:N0}/s", halfRate, seconds, async _ => await Noop()));

// ---- Contention: 500 agents on a 10-seat pool.
var held = new ConcurrentDictionary<int, Lease>();
var refused = 0L;
var contention = await Run("contention", () => Measure.ClosedLoopAsync("contention: 500 agents, 10 seats (acquire or release)", options.Workers, seconds, async (w, i) =>
{
    var n = Random.Shared.Next(500);
    if (held.TryRemove(n, out var lease))
    {
        await seat.ReleaseSeatAsync(new ReleaseSeatRequest { Product = "remote-support", LeaseId = lease.LeaseId }, Agent("contention", $"a{n}"));
        return;
    }

    try
    {
        var granted = (await seat.AcquireSeatAsync(new AcquireSeatRequest { Product = "remote-support", SessionId = $"c{n}-{i}-{w}", Device = device, SessionKind = SessionKind.Pending }, Agent("contention", $"a{n}"))).Lease;
        if (!held.TryAdd(n, granted))
        {
            await seat.ReleaseSeatAsync(new ReleaseSeatRequest { Product = "remote-support", LeaseId = granted.LeaseId }, Agent("contention", $"a{n}"));
        }
    }
    catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
    {
        Interlocked.Increment(ref refused);
    }
}));

// ---- The same seat check as a PostgreSQL transaction: lock the pool row, count, insert.
var pgHeld = new ConcurrentDictionary<int, long>();
var pgDesign = await Run("postgres design", () => Measure.ClosedLoopAsync("same contention as a PostgreSQL transaction", options.Workers, seconds, async (w, i) =>
{
    var n = Random.Shared.Next(500);
    await using var connection = await postgres.OpenConnectionAsync();
    if (pgHeld.TryRemove(n, out var id))
    {
        await connection.ExecuteAsync("DELETE FROM bench_pg_leases WHERE id = @id", new { id });
        return;
    }

    await using var transaction = await connection.BeginTransactionAsync();
    await connection.ExecuteAsync("SELECT 1 FROM bench_pg_pools WHERE id = 1 FOR UPDATE", transaction: transaction);
    var inUse = await connection.ExecuteScalarAsync<long>("SELECT count(DISTINCT agent) FROM bench_pg_leases WHERE pool = 1 AND expires_at > now()", transaction: transaction);
    if (inUse < 10)
    {
        var leaseId = await connection.ExecuteScalarAsync<long>(
            "INSERT INTO bench_pg_leases (pool, agent, expires_at) VALUES (1, @n, now() + interval '90 seconds') RETURNING id", new { n }, transaction);
        await transaction.CommitAsync();
        if (!pgHeld.TryAdd(n, leaseId))
        {
            await connection.ExecuteAsync("DELETE FROM bench_pg_leases WHERE id = @leaseId", new { leaseId });
        }
    }
    else
    {
        await transaction.CommitAsync();
    }
}, "Npgsql + Dapper, same workers"));

// ---- Pool size: acquire + release in pools holding 10 .. 100,000 live leases; memory per lease.
var memoryBefore = MemoryUsed();
foreach (var size in new[] { 10, 1000, 10_000, 100_000 })
{
    log($"filling a pool with {size:N0} leases");
    await FillAsync($"bench-{size}", size);
    if (size == 100_000)
    {
        // Not the per-lease figure of issue 28 (LivePoolMemory measures that in a Redis of its own): this growth also
        // holds the tombstones and seat events of the acquire + release runs of the smaller pools.
        var perLease = (MemoryUsed() - memoryBefore) / (double)(10 + 1000 + 10_000 + 100_000);
        notes.Add($"Redis memory per live lease in the shared Redis: {perLease:F0} bytes (used_memory grew by {(MemoryUsed() - memoryBefore) / 1048576.0:F1} MiB for 111,010 leases, "
            + "with the tombstones and seat events of the smaller pools' acquire + release runs).");

        var structures = await LivePoolMemory.StructuresAsync(server, "bench-100000");
        var parts = structures.Where(s => s.Value > 100_000).OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => $"{s.Key} {s.Value / 100_000.0:F0} B/lease").ToList();

        notes.Add("Per structure at 100,000 leases (MEMORY USAGE / 100,000): " + string.Join(", ", parts) + ".");
    }

    await Run($"pool of {size}", () => Measure.ClosedLoopAsync($"AcquireSeat + ReleaseSeat in a pool of {size:N0} live leases", options.Workers, TimeSpan.FromSeconds(Math.Max(3, options.Seconds / 2)), async (w, i) =>
    {
        var agent = $"a{size + (w % 64)}";
        var lease = (await seat.AcquireSeatAsync(new AcquireSeatRequest { Product = "remote-support", SessionId = $"p{w}-{i}", Device = device, SessionKind = SessionKind.Pending }, Agent($"bench-{size}", agent))).Lease;
        await seat.ReleaseSeatAsync(new ReleaseSeatRequest { Product = "remote-support", LeaseId = lease.LeaseId }, Agent($"bench-{size}", agent));
    }, "2 RPCs per iteration; rates count RPCs"), calls => calls * 2);
    results[^1] = results[^1] with { Result = results[^1].Result with { Calls = results[^1].Result.Calls * 2 } };
}

// ---- What a tombstone and a waiter cost beside a live lease (issue 28). A release is remembered for one lease lifetime
// (a tombstone, so that a retried release still succeeds): 10,000 leases acquired and released, used_memory compared
// with before the acquires. A waiter: 2,000 agents waiting on a pool of 10 taken seats, used_memory compared with
// before they joined. The seat-event stream not yet drained is counted in both (it is stored in PostgreSQL within seconds).
{
    log("measuring a tombstone and a waiter");
    var beforeTombstones = MemoryUsed();
    var released = await FillAsync("tombs", 10_000);
    var releasedNext = -1;
    await Task.WhenAll(Enumerable.Range(0, 128).Select(_ => Task.Run(async () =>
    {
        int i;
        while ((i = Interlocked.Increment(ref releasedNext)) < released.Length)
        {
            await seat.ReleaseSeatAsync(new ReleaseSeatRequest { Product = "remote-support", LeaseId = released[i].LeaseId }, Agent("tombs", $"a{i}"));
        }
    })));
    var perTombstone = (MemoryUsed() - beforeTombstones) / 10_000.0;

    var holders = await FillAsync("waiters", 10);
    var beforeWaiters = MemoryUsed();
    using var stopWaiters = new CancellationTokenSource();
    var waiting = Enumerable.Range(10, 2_000).Select(i => Task.Run(async () =>
    {
        using var call = seat.WaitForSeat(
            new WaitForSeatRequest { Product = "remote-support", SessionId = $"w-{i}", Device = device, SessionKind = SessionKind.Pending },
            Agent("waiters", $"a{i}"), cancellationToken: stopWaiters.Token);
        try
        {
            while (await call.ResponseStream.MoveNext(stopWaiters.Token))
            {
            }
        }
        catch (RpcException) when (stopWaiters.IsCancellationRequested)
        {
        }
        catch (OperationCanceledException)
        {
        }
    })).ToList();
    var queueKey = "lb:{waiters/remote-support}:queue";
    var joinedBy = Stopwatch.StartNew();
    while (await redis.GetDatabase().SortedSetLengthAsync(queueKey) < 2_000 && joinedBy.Elapsed < TimeSpan.FromSeconds(60))
    {
        await Task.Delay(100);
    }

    var joined = await redis.GetDatabase().SortedSetLengthAsync(queueKey);
    var perWaiter = (MemoryUsed() - beforeWaiters) / (double)Math.Max(1, joined);
    await stopWaiters.CancelAsync();
    await Task.WhenAll(waiting);

    // The broker takes each cancelled waiter out of the queue: let it finish before the next scenario starts.
    var leftBy = Stopwatch.StartNew();
    while (await redis.GetDatabase().SortedSetLengthAsync(queueKey) > 0 && leftBy.Elapsed < TimeSpan.FromSeconds(60))
    {
        await Task.Delay(100);
    }

    for (var i = 0; i < holders.Length; i++)
    {
        await seat.ReleaseSeatAsync(new ReleaseSeatRequest { Product = "remote-support", LeaseId = holders[i].LeaseId }, Agent("waiters", $"a{i}"));
    }

    notes.Add($"Redis memory per tombstone (a release remembered for one lease lifetime): {perTombstone:F0} bytes (10,000 leases acquired and released); per waiter: {perWaiter:F0} bytes ({joined:N0} agents waiting).");
}

// ---- AcquireSeat in open loop at half of its maximum rate (pool of 1,000 leases measured above):
// latency is the acquire's alone, from the moment it was due; the release after it is not timed.
var acquireMax = results.Single(r => r.Result.Name.Contains("pool of 1,000 live", StringComparison.Ordinal)).Result.PerSecond / 2;
var acquireHalfRate = Math.Round(acquireMax / 2);
await Run("acquire, open loop", () => Measure.OpenLoopAsync($"AcquireSeat, open loop at {acquireHalfRate:N0}/s (half of max)", acquireHalfRate, seconds, async (k, measured) =>
{
    var agent = Agent("bench-1000", $"a{1000 + (k % 64)}");
    var lease = (await seat.AcquireSeatAsync(new AcquireSeatRequest { Product = "remote-support", SessionId = $"o{k}", Device = device, SessionKind = SessionKind.Pending }, agent)).Lease;
    measured();
    await seat.ReleaseSeatAsync(new ReleaseSeatRequest { Product = "remote-support", LeaseId = lease.LeaseId }, agent);
}, "latency of the acquire; its release follows, untimed"), calls => calls * 2);

// ---- Admin: 10,000 live leases in one account.
await Run("admin list", () => Measure.ClosedLoopAsync("ListSharedSessions, page of 100 among 10,000 leases", 8, seconds, async (_, _) =>
    await admin.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = "remote-support", Page = new PageRequest { PageSize = 100 } }, adminHeaders)));
await Run("admin usage", () => Measure.ClosedLoopAsync("GetSeatUsage, 10,000 leases", 8, seconds, async (_, _) =>
    await admin.GetSeatUsageAsync(new GetSeatUsageRequest { Product = "remote-support" }, adminHeaders)));

await EntitlementScenarios();
await PlannerScenarios();

// ---- The seat planner: 30 days × 1,000 agents (600,000 audit rows), the replay per seat count in this
// process, then PlanSeats end to end (pages read from PostgreSQL, 16 seat counts replayed in the broker).
async Task PlannerScenarios()
{
    log("seat planner");
    var replay = await PlannerBench.ReplayAsync(postgres);
    notes.Add(string.Create(CultureInfo.InvariantCulture,
        $"Seat planner replay, 30 days × 1,000 agents ({replay.Logins:N0} logins): {replay.MeanMs:F0} ms per seat count on average, {replay.MaxMs:F0} ms at most over {replay.Candidates} counts (target ≤ 2,000 ms); {replay.AllocatedPerN / 1024.0 / 1024:F1} MiB allocated per count; the demand itself {replay.DemandBytes / 1024.0 / 1024:F1} MiB."));
    var history = await PlannerBench.HistoryAsync(admin, options.Key, 200);
    history.Sort();
    notes.Add(string.Create(CultureInfo.InvariantCulture,
        $"GetUsageHistory over 365 days of a pool with 5,000,000 seat events, from the daily rollups: {history[history.Count / 2]:F1} ms median, {history[(int)(history.Count * 0.99)]:F1} ms p99, {history[^1]:F1} ms max over {history.Count} calls (target ≤ 50 ms)."));
    var rpc = await PlannerBench.RpcAsync(admin, options.Key, 5);
    notes.Add(string.Create(CultureInfo.InvariantCulture,
        $"PlanSeats end to end over the same 600,000 rows (read in pages of 5,000, 16 seat counts): {rpc.Order().ElementAt(rpc.Count / 2):F0} ms median, {rpc.Max():F0} ms max over {rpc.Count} calls."));
}

// ---- Entitlements for other backends: CheckEntitlement, a batch of 100 pairs, the signed snapshot of the
// 10,064 agents of "bench-10000" (its agent a10063, which no other scenario uses, changes before each
// built snapshot), the SDK's local check over the 10,000 agents of "one" on one core, and a change's way to caches on every replica.
async Task EntitlementScenarios()
{
    var entitlements = new EntitlementService.EntitlementServiceClient(channel);
    var serviceToken = DevTokens.Mint(options.Key, "backoffice", "bench", TimeSpan.FromHours(2), extraClaims: DevTokens.Claims(service: true));
    var service = new Metadata { { "Authorization", "Bearer " + serviceToken } };
    await Run("entitlement check", () => Measure.ClosedLoopAsync("CheckEntitlement, 10,000 agents of one account", options.Workers, seconds, async (w, i) =>
        await entitlements.CheckEntitlementAsync(new CheckEntitlementRequest { AccountId = "one", AgentId = $"a{(w * 7919 + i) % 10_000}", Product = "remote-support" }, service)));
    await Run("entitlement batch", () => Measure.ClosedLoopAsync("BatchCheckEntitlements, 100 pairs per call", options.Workers, seconds, async (w, i) =>
    {
        var batch = new BatchCheckEntitlementsRequest();
        batch.Checks.AddRange(Enumerable.Range(0, 100).Select(k => new CheckEntitlementRequest { AccountId = "one", AgentId = $"a{(w * 7919 + i * 100 + k) % 10_000}", Product = "remote-support" }));
        await entitlements.BatchCheckEntitlementsAsync(batch, service);
    }, "per call of 100 checks"));

    // Built: a seat change of an agent the other scenarios leave alone before each call, so that each
    // snapshot is read at a new version, built and signed; then the same snapshot asked again and again.
    var size = 0;
    await Run("entitlement snapshot, built", async () =>
    {
        // 30 builds, each half a second after its change: the change's own work on every replica (its pool's
        // rules applied, the 10,064-agent policy reloaded by three replicas on two shared cores) is over, so
        // the figure is the build's, as when a service starts on a quiet account.
        var latency = Measure.NewHistogram();
        var clock = Stopwatch.StartNew();
        var calls = 0L;
        while (calls < 30)
        {
            if (calls % 2 == 0)
            {
                await admin.UnassignSeatAsync(new UnassignSeatRequest { AgentId = "a10063", Product = "remote-support" }, adminHeaders);
            }
            else
            {
                await admin.AssignSeatAsync(new AssignSeatRequest { AgentId = "a10063", Product = "remote-support", SeatType = SeatType.Concurrent }, adminHeaders);
            }

            await Task.Delay(500);
            var started = Stopwatch.GetTimestamp();
            size = (await entitlements.GetEntitlementSnapshotAsync(new GetEntitlementSnapshotRequest { AccountId = "bench-10000" }, service)).CalculateSize();
            latency.RecordValue(Stopwatch.GetElapsedTime(started).Ticks);
            calls++;
        }

        return new ScenarioResult("GetEntitlementSnapshot after a change: read, built, signed (10,064 agents)", calls, clock.Elapsed, latency, "30 calls, one at a time; a seat change 0.5 s before each, untimed but in the CPU figure");
    });
    await Run("entitlement snapshot, same version", () => Measure.ClosedLoopAsync("GetEntitlementSnapshot, same version (signed once, served again)", 8, seconds, async (_, _) =>
        size = (await entitlements.GetEntitlementSnapshotAsync(new GetEntitlementSnapshotRequest { AccountId = "bench-10000" }, service)).CalculateSize(), "8 callers"));
    notes.Add($"Entitlement snapshot of 10,064 agents: {size:N0} bytes signed (target ≤ 1 MB); built in the 'after a change' row's latency (target ≤ 100 ms).");

    await using (var cache = new LicenseBroker.Client.Entitlements.EntitlementCache(new() { Address = new Uri(options.Server), AccountId = "one", AccessTokenProvider = _ => ValueTask.FromResult(serviceToken) }))
    {
        await cache.StartAsync();
        var (perSecond, allocated, latency) = EntitlementBench.LocalCheck(cache, 10_000, 100_000_000);
        notes.Add($"SDK local check (EntitlementCache.IsEntitled, 10,000 agents, one thread): {perSecond:N0} checks/s (target ≥ 10,000,000), {allocated:N0} bytes allocated over 100,000,000 checks (target 0); one check timed alone (timer included) p50 {latency.GetValueAtPercentile(50)} ns, p99 {latency.GetValueAtPercentile(99)} ns, p99.9 {latency.GetValueAtPercentile(99.9)} ns (target p99 ≤ 1,000 ns).");
    }

    var brokers = new[] { options.Server }.Concat(args.Select((a, i) => (a, i)).Where(x => x.a == "--replica" && x.i + 1 < args.Length).Select(x => args[x.i + 1])).Select(a => new Uri(a)).ToList();
    var propagation = await EntitlementBench.PropagationAsync(brokers, options.Key, "bench-10", "a0", 200);
    propagation.Sort();
    notes.Add($"A seat change reaches EntitlementCaches on {brokers.Count} replicas: p50 {propagation[propagation.Count / 2]:F1} ms, p99 {propagation[(int)Math.Ceiling(propagation.Count * 0.99) - 1]:F1} ms, max {propagation[^1]:F1} ms over {propagation.Count} (200 changes × {brokers.Count} caches), from the admin's answer (target ≤ 1 s).");
}

// ---- Queue: 10 holders, 200 waiters; each release hands the seat to the head of the queue.
var queueHolders = new ConcurrentQueue<(string Agent, Lease Lease)>();
for (var i = 0; i < 10; i++)
{
    queueHolders.Enqueue(($"a{i}", await Acquire("queue", $"a{i}")));
}

var grants = System.Threading.Channels.Channel.CreateUnbounded<(string Agent, Lease Lease, long At)>();
using var stopWaiting = new CancellationTokenSource();
var waiterTasks = Enumerable.Range(10, 200).Select(i => Task.Run(async () =>
{
    var agent = $"a{i}";
    using var call = seat.WaitForSeat(new WaitForSeatRequest { Product = "remote-support", SessionId = "q-" + agent, Device = device, SessionKind = SessionKind.Pending }, Agent("queue", agent), cancellationToken: stopWaiting.Token);
    try
    {
        while (await call.ResponseStream.MoveNext(stopWaiting.Token))
        {
            if (call.ResponseStream.Current.UpdateCase == WaitForSeatResponse.UpdateOneofCase.Granted)
            {
                await grants.Writer.WriteAsync((agent, call.ResponseStream.Current.Granted, Stopwatch.GetTimestamp()));
                return;
            }
        }
    }
    catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled)
    {
    }
})).ToList();
await Task.Delay(3000); // let every waiter join
log("queue");
var queueLatency = Measure.NewHistogram();
var queueClock = Stopwatch.StartNew();
for (var n = 0; n < 200; n++)
{
    queueHolders.TryDequeue(out var holder);
    var releasedAt = Stopwatch.GetTimestamp();
    await seat.ReleaseSeatAsync(new ReleaseSeatRequest { Product = "remote-support", LeaseId = holder.Lease.LeaseId }, Agent("queue", holder.Agent));
    var granted = await grants.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
    queueLatency.RecordValue(Stopwatch.GetElapsedTime(releasedAt, granted.At).Ticks);
    queueHolders.Enqueue((granted.Agent, granted.Lease));
}

var queueResult = new ScenarioResult("queue: release → grant to the head waiter (200 waiters, 10 seats)", 200, queueClock.Elapsed, queueLatency, "latency = release sent to grant received; one release at a time");
results.Add((queueResult, double.NaN, double.NaN, double.NaN, double.NaN));
notes.Add($"Wait queue: {queueResult.PerSecond:N0} waiters granted per second when seats are released one after another; release-to-grant p50 {queueResult.Percentile(50):F2} ms, p99 {queueResult.Percentile(99):F2} ms.");
await stopWaiting.CancelAsync();
await Task.WhenAll(waiterTasks);

// ---- Webhooks, to one endpoint with a receiver in this process (HttpListener, on loopback). First one grant
// with the receiver up: how long from the event to its message. Then 2,000 events (1,000 acquires and
// releases in the contention pool, spread over every broker given: --server and each --replica, three in
// ./scripts/bench) while the receiver answers 503; once all 2,000 wait in the outbox, the endpoint is
// enabled again (its retry is due now) and the receiver answers 204: the drain rate is the backlog over the
// time from its first message received to its last.
log("webhooks");
var contentionAdmin = new Metadata { { "Authorization", "Bearer " + DevTokens.Mint(options.Key, "contention", "bench-admin", TimeSpan.FromHours(2), extraClaims: DevTokens.Claims("ADMIN")) } };
var hookPort = System.Net.NetworkInformation.IPGlobalProperties.GetIPGlobalProperties().GetActiveTcpListeners().Select(e => e.Port).DefaultIfEmpty(20000).Max() + 1;
using var listener = new System.Net.HttpListener();
listener.Prefixes.Add($"http://127.0.0.1:{hookPort}/");
listener.Start();
var received = new ConcurrentDictionary<string, long>();
var receiverDown = 0;
var receiving = Task.Run(async () =>
{
    while (listener.IsListening)
    {
        System.Net.HttpListenerContext context;
        try
        {
            context = await listener.GetContextAsync();
        }
        catch (System.Net.HttpListenerException)
        {
            return;
        }
        catch (ObjectDisposedException)
        {
            return;
        }

        if (Volatile.Read(ref receiverDown) == 1)
        {
            context.Response.StatusCode = 503;
        }
        else
        {
            received.TryAdd(context.Request.Headers["webhook-id"] ?? "", Stopwatch.GetTimestamp());
            context.Response.StatusCode = 204;
        }

        context.Response.Close();
    }
});
var endpoint = await admin.CreateWebhookEndpointAsync(
    new CreateWebhookEndpointRequest { Url = $"http://127.0.0.1:{hookPort}/hook", EventTypes = { "seat.granted", "seat.released" } }, contentionAdmin);
var replicaChannels = args.Select((a, i) => (a, i)).Where(x => x.a == "--replica" && x.i + 1 < args.Length).Select(x => GrpcChannel.ForAddress(args[x.i + 1])).ToList();
var hookSeats = new[] { seat }.Concat(replicaChannels.Select(c => new SeatService.SeatServiceClient(c))).ToList();

async Task HookEventAsync(int n)
{
    var agent = $"a{n % 10}";
    var via = hookSeats[n % hookSeats.Count];
    var lease = (await via.AcquireSeatAsync(
        new AcquireSeatRequest { Product = "remote-support", SessionId = "h-" + agent, Device = device, SessionKind = SessionKind.Pending }, Agent("contention", agent))).Lease;
    await via.ReleaseSeatAsync(new ReleaseSeatRequest { Product = "remote-support", LeaseId = lease.LeaseId }, Agent("contention", agent));
}

async Task WaitForAsync(Func<Task<bool>> done)
{
    var deadline = Stopwatch.StartNew();
    while (!await done() && deadline.Elapsed < TimeSpan.FromMinutes(2))
    {
        await Task.Delay(20);
    }
}

var oneEventAt = Stopwatch.GetTimestamp();
await HookEventAsync(0);
await WaitForAsync(() => Task.FromResult(received.Count >= 2));
var firstLag = received.IsEmpty ? double.NaN : Stopwatch.GetElapsedTime(oneEventAt, received.Values.Min()).TotalMilliseconds;

Volatile.Write(ref receiverDown, 1);
received.Clear();
var hookClock = Stopwatch.StartNew();
for (var n = 0; n < 1000; n++)
{
    await HookEventAsync(n);
}

var eventsDone = hookClock.Elapsed;
async Task<long> WaitingInOutbox()
{
    await using var connection = await postgres.OpenConnectionAsync();
    return await connection.ExecuteScalarAsync<long>(
        "SELECT count(*) FROM webhook_outbox WHERE endpoint_id = @id AND delivered_at IS NULL", new { id = endpoint.Endpoint.EndpointId });
}

await WaitForAsync(async () => await WaitingInOutbox() >= 2000);
Volatile.Write(ref receiverDown, 0);
await admin.UpdateWebhookEndpointAsync(
    new UpdateWebhookEndpointRequest
    {
        EndpointId = endpoint.Endpoint.EndpointId, Url = endpoint.Endpoint.Url, EventTypes = { endpoint.Endpoint.EventTypes }, State = WebhookEndpointState.Active,
    },
    contentionAdmin);
await WaitForAsync(() => Task.FromResult(received.Count >= 2000));
var drained = received.Count < 2 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(received.Values.Min(), received.Values.Max());
notes.Add($"Webhooks: a backlog of {received.Count:N0} messages (2,000 events made through {hookSeats.Count} broker(s) in {eventsDone.TotalSeconds:F1} s) " +
    $"delivered to one endpoint in {drained.TotalSeconds:F1} s, {received.Count / Math.Max(drained.TotalSeconds, 0.001):N0} messages/s; one event alone: its message {firstLag:F0} ms after the grant was answered.");
await admin.DeleteWebhookEndpointAsync(new DeleteWebhookEndpointRequest { EndpointId = endpoint.Endpoint.EndpointId }, contentionAdmin);
listener.Stop();
await receiving;
replicaChannels.ForEach(c => c.Dispose());

// ---- The empty RPC again at the end: how far the machine drifted during the run.
var baselineAgain = await Run("baseline, end of run", () => Measure.ClosedLoopAsync("baseline again, end of run", options.Workers, seconds,
    async (_, _) => await Noop()));
notes.Add($"Baseline at the start and at the end of the run: {baseline.PerSecond:N0} and {baselineAgain.PerSecond:N0} calls/s (ratios use the first).");

long MemoryUsed() => LivePoolMemory.Used(server);

// ---- Report.
var report = new StringBuilder();
report.AppendLine($"Run {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, {options.Workers} concurrent callers on shared HTTP/2 connections, {options.Seconds} s per scenario.");
report.AppendLine();
report.AppendLine("| scenario | calls/s | of baseline | p50 ms | p99 ms | p99.9 ms | Redis round trips/call | PG xacts/call | broker CPU µs/call | Redis µs/script | note |");
report.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
foreach (var (result, redisPerCall, pgPerCall, cpuPerCall, redisMicros) in results)
{
    report.AppendLine(result.Row(baseline.PerSecond, redisPerCall, pgPerCall, cpuPerCall, redisMicros));
}

report.AppendLine();
string durability;
await using (var connection = await postgres.OpenConnectionAsync())
{
    durability = $"fsync={await connection.ExecuteScalarAsync<string>("SHOW fsync")}, synchronous_commit={await connection.ExecuteScalarAsync<string>("SHOW synchronous_commit")}, full_page_writes={await connection.ExecuteScalarAsync<string>("SHOW full_page_writes")}";
}

notes.Add($"Broker design vs PostgreSQL transaction under the same contention: {contention.PerSecond / pgDesign.PerSecond:F1}x the throughput ({contention.PerSecond:N0} vs {pgDesign.PerSecond:N0} operations/s); {refused:N0} broker acquires refused as pool full. PostgreSQL ran with {durability}.");
if (results.FirstOrDefault(r => r.Result == heartbeatOne) is { Result: not null } beat && results[0].BrokerCpuMicros is > 0 and var emptyCpu)
{
    notes.Add($"Broker CPU per Heartbeat {beat.BrokerCpuMicros:F1} µs against {emptyCpu:F1} µs for the empty RPC ({beat.BrokerCpuMicros / emptyCpu:F2}x; target ≤ 1.5x); heartbeat throughput {heartbeatOne.PerSecond / baseline.PerSecond:P0} of the empty RPC's (target ≥ 60 %).");
}

notes.Add($"Heartbeat throughput, 1 account vs 10,000 accounts: {heartbeatOne.PerSecond:N0} vs {heartbeatSpread.PerSecond:N0} calls/s ({(heartbeatSpread.PerSecond / heartbeatOne.PerSecond - 1):P1} difference).");
if (options.MemoryNotes is { } memoryNotesFile && File.Exists(memoryNotesFile))
{
    notes.AddRange(await File.ReadAllLinesAsync(memoryNotesFile));
}

foreach (var note in notes)
{
    report.AppendLine("* " + note);
}

Console.WriteLine(report);
if (options.Out is not null)
{
    await File.WriteAllTextAsync(options.Out, report.ToString());
}

internal sealed record Args(string Server, string Redis, string Postgres, string Key, int Seconds, int Workers, string? Out, int BrokerPid, bool SeedOnly, bool NoSeed, bool ColdOnly, bool EntitlementsOnly, bool PlannerOnly, bool MemoryOnly, bool LongIds, string? MemoryNotes, IReadOnlyList<string> TraceScenarios, string? TraceTool)
{
    public static Args Parse(string[] args)
    {
        string Get(string name, string? fallback = null)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback ?? throw new ArgumentException($"{name} is required");
        }

        return new Args(
            Get("--server", "http://127.0.0.1:5080"),
            Get("--redis"),
            Get("--postgres"),
            Get("--key"),
            int.Parse(Get("--seconds", "8"), CultureInfo.InvariantCulture),
            int.Parse(Get("--workers", "64"), CultureInfo.InvariantCulture),
            Array.IndexOf(args, "--out") >= 0 ? Get("--out") : null,
            int.Parse(Get("--broker-pid", "0"), CultureInfo.InvariantCulture),
            args.Contains("--seed-only"),
            args.Contains("--no-seed"),
            args.Contains("--cold-only"),
            args.Contains("--entitlements-only"),
            args.Contains("--planner-only"),
            args.Contains("--memory-only"),
            args.Contains("--long-ids"),
            Array.IndexOf(args, "--memory-notes") >= 0 ? Get("--memory-notes") : null,
            args.Select((a, i) => (a, i)).Where(x => x.a == "--trace" && x.i + 1 < args.Length).Select(x => args[x.i + 1]).ToList(),
            Array.IndexOf(args, "--trace-tool") >= 0 ? Get("--trace-tool") : null);
    }
}
