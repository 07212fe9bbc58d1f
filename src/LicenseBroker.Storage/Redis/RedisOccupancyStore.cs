using System.Collections.Concurrent;
using System.Globalization;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Resilience;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace LicenseBroker.Storage.Redis;

/// <summary>
/// Live occupancy in Redis: each operation is one Lua function of the pool library (PoolLibrary),
/// one round trip, atomic with every other operation on the same pool.
/// </summary>
public sealed partial class RedisOccupancyStore : IOccupancyStore, IQueueStore
{
    private readonly IConnectionMultiplexer _redis;
    private readonly RedisKeys _keys;
    private readonly BackendPipelines _pipelines;
    private readonly ISeatEventSink _events;
    private readonly IPoolRegistry _registry;
    private readonly SeatOptions _seats;
    private readonly ExpiryBacklog _backlog;
    private readonly ReclaimIndex _reclaimIndex;
    private readonly ILogger<RedisOccupancyStore> _logger;
    private readonly LeaseLayoutGate _layout;
    private readonly OutageWatch? _outages;

    // Per pool, what this replica has learned: that the pool is registered as used (so an absent
    // epoch means lost data), and the largest fencing token seen (evidence of lost writes).
    private readonly ConcurrentDictionary<PoolId, long> _knownPools = new();

    // Per pool, the id of the terms this replica last saw it store (EvaluateWithTermsAsync): one entry per pool in use.
    private readonly ConcurrentDictionary<PoolId, string> _storedTerms = new();

    public RedisOccupancyStore(
        IConnectionMultiplexer redis, RedisKeys keys, BackendPipelines pipelines, ISeatEventSink events, IPoolRegistry registry, SeatOptions seats, ExpiryBacklog backlog, ReclaimIndex reclaimIndex,
        LeaseLayoutGate layout, ILogger<RedisOccupancyStore> logger, OutageWatch? outages = null)
    {
        _outages = outages;
        _layout = layout;
        _logger = logger;
        _reclaimIndex = reclaimIndex;
        _backlog = backlog;
        _seats = seats;
        _redis = redis;
        _keys = keys;
        _pipelines = pipelines;
        _events = events;
        _registry = registry;
    }

    public async Task<AcquireOutcome> AcquireAsync(AcquireCommand command, CancellationToken cancellationToken)
    {
        // Retrying is safe: the script is idempotent on (agent, session).
        var terms = LuaScripts.AcquireTerms(command, _seats.ClaimWindow);
        var reply = await EvaluateWithTermsAsync(
            LuaScripts.Acquire, command.Pool, terms,
            (epoch, send) => new AcquireArgs(command, terms, send, epoch, _layout.NewLeases, _layout.HolderEntries, _outages?.Last), cancellationToken);
        switch (reply.Status)
        {
            case "GRANTED":
                Observe(command.Pool, reply.Long("fence"));
                return new AcquireOutcome.Granted(
                    new Lease(
                        LeaseId: reply.String("lease_id"),
                        Product: command.Pool.Product,
                        SessionId: command.SessionId,
                        SeatType: SeatTypeCodes.Parse(reply.String("seat"), "Redis"),
                        ExpiresAt: reply.Time("expires_ms"),
                        FencingToken: reply.Long("fence")),
                    Resumed: reply.Long("resumed") == 1,
                    Overage: reply.OptionalLong("overage") == 1
                        ? new OverageGrant((command.Overage ?? OveragePolicy.None).Mode, reply.Int("in_use"), command.ConcurrentLimit, reply.Int("cap"))
                        : null);
            case "FULL":
                var (why, group, cap, reservedFor) = RefusalOf(reply);
                return new AcquireOutcome.PoolFull(
                    InUse: reply.Int("in_use"), Limit: reply.Int("limit"), Waiting: reply.Int("waiting"),
                    why, group, cap, reservedFor?.Split(',', StringSplitOptions.RemoveEmptyEntries));
            case "RECOVERING":
                return new AcquireOutcome.Recovering(reply.Milliseconds("retry_ms"));
            case "RATE_LIMITED":
                return new AcquireOutcome.RateLimited(reply.Milliseconds("retry_ms"));
            case "STALE":
                return new AcquireOutcome.RulesChanged(reply.Long("version"));
            default:
                throw UnexpectedReply("acquire", reply.Status);
        }
    }

    public async Task<HeartbeatOutcome> HeartbeatAsync(HeartbeatCommand command, CancellationToken cancellationToken)
    {
        // The fast path first (heartbeat_fast.lua): a pool this replica knows (its epoch is settled, NO_EPOCH needs the
        // full script), a heartbeat that reports no idle time, and a pool known to have no pending timeout (the full
        // script gives a PENDING lease its deadline when an admin sets one). Anything unusual the fast path answers
        // FULL, and the full script below runs: one more round trip, only then.
        if (command.IdleFor == TimeSpan.Zero && command.IdleRules is { PendingTimeout.Ticks: 0 } && _knownPools.TryGetValue(command.Pool, out var seen)
            && await RenewFastAsync(command, Math.Max(command.ProvenFencingToken, seen), cancellationToken) is { } renewed)
        {
            return renewed;
        }

        // Retrying is safe: renewing twice gives the same lease a slightly later expiry.
        // Evidence of lost writes: only a fencing token whose lease proof verified (0 otherwise).
        var reply = await EvaluateWithEpochAsync(
            LuaScripts.Heartbeat, command.Pool, epoch => new HeartbeatArgs(command, epoch, _outages?.Last), evidence: command.ProvenFencingToken, cancellationToken);
        switch (reply.Status)
        {
            case "RENEWED":
                Observe(command.Pool, reply.Long("fence"));
                return new HeartbeatOutcome.Renewed(
                    new Lease(
                        LeaseId: command.LeaseId,
                        Product: command.Pool.Product,
                        SessionId: reply.String("session"),
                        SeatType: SeatTypeCodes.Parse(reply.String("seat"), "Redis"),
                        ExpiresAt: reply.Time("expires_ms"),
                        FencingToken: reply.Long("fence")),
                    Revived: reply.Long("revived") == 1);
            case "REVOKED":
                return new HeartbeatOutcome.Revoked(reply.String("by"), reply.Time("at_ms"), RevokeCauses.Parse(reply.String("why")));
            case "IDLE_RELEASED":
                return new HeartbeatOutcome.IdleReleased(ParseCause(reply.String("by")), reply.Time("at_ms"));
            case "EXPIRED":
                return new HeartbeatOutcome.LeaseNotFound(
                    reply.String("why") switch
                    {
                        "SEAT_TAKEN" => LeaseGoneReason.SeatTaken,
                        "WINDOW_PASSED" => LeaseGoneReason.WindowPassed,
                        "ENDED" => LeaseGoneReason.Ended,
                        "UNPROVEN" => LeaseGoneReason.Unproven,
                        "NO_SEAT" => LeaseGoneReason.NoSeat,
                        "UNKNOWN" => LeaseGoneReason.Unknown,
                        var other => throw UnexpectedReply("heartbeat (why)", other),
                    },
                    (int)reply.Long("in_use"),
                    (int)reply.Long("limit"),
                    (int)reply.Long("waiting"));
            case "BACKLOG":
                _backlog.Report(command.Pool);
                return new HeartbeatOutcome.CatchingUp(TimeSpan.FromMilliseconds(reply.Long("retry_ms")));
            default:
                throw UnexpectedReply("heartbeat", reply.Status);
        }
    }

    private async Task<HeartbeatOutcome.Renewed?> RenewFastAsync(HeartbeatCommand command, long evidence, CancellationToken cancellationToken)
    {
        var script = LuaScripts.HeartbeatFast;
        var result = await CallAsync(script, _keys.HeartbeatFast(command.Pool), script.Arguments(new HeartbeatArgs(command, new EpochCheck("KNOWN", evidence))), cancellationToken);
        var reply = (RedisResult[])result!;
        if ((string?)reply[0] != "RENEWED")
        {
            return null;
        }

        var fence = (long)reply[2];
        Observe(command.Pool, fence);
        return new HeartbeatOutcome.Renewed(
            new Lease(
                LeaseId: command.LeaseId,
                Product: command.Pool.Product,
                SessionId: (string)reply[4]!,
                SeatType: SeatTypeCodes.ParseLetter((string)reply[3]!, "Redis"),
                ExpiresAt: DateTimeOffset.FromUnixTimeMilliseconds((long)reply[1]),
                FencingToken: fence));
    }

    public async Task<ReleaseOutcome> ReleaseAsync(ReleaseCommand command, CancellationToken cancellationToken)
    {
        // Retrying is safe: a release that already happened is remembered and answered ALREADY_RELEASED.
        var reply = await EvaluateAsync(LuaScripts.Release, command.Pool, command, cancellationToken);
        return reply.Status switch
        {
            "RELEASED" => new ReleaseOutcome.Released(),
            "ALREADY_RELEASED" => new ReleaseOutcome.AlreadyReleased(),
            "NOT_FOUND" => new ReleaseOutcome.LeaseNotFound(),
            _ => throw UnexpectedReply("release", reply.Status),
        };
    }

    public async Task<IReadOnlyList<LeaseView>> RevokeAsync(RevokeCommand command, CancellationToken cancellationToken)
    {
        // Retrying is safe: a lease already ended is skipped, so a retry ends nothing twice.
        var reply = await EvaluateAsync(LuaScripts.Revoke, command.Pool, command, cancellationToken);
        return reply.Rows("ended").Select(ParseLease).ToList();
    }

    public async Task<SharedLeasePage> ListSharedAsync(PoolId pool, string? cursor, int pageSize, CancellationToken cancellationToken)
    {
        // Retrying is safe: the script only drops expired leases and reads.
        var reply = await EvaluateAsync(LuaScripts.Sessions, pool, (cursor ?? string.Empty, pageSize), cancellationToken);
        var next = reply.String("next_cursor");
        return new SharedLeasePage(
            Total: reply.Int("total"),
            SeatsInUse: reply.Int("in_use"),
            NextCursor: next.Length == 0 ? null : next,
            Leases: reply.Rows("leases").Select(ParseLease).ToList());
    }

    public async Task<IReadOnlyList<LeaseView>> ListAgentLeasesAsync(PoolId pool, string agentId, CancellationToken cancellationToken)
    {
        // Retrying is safe: the script only drops expired leases and reads.
        var reply = await EvaluateAsync(LuaScripts.AgentSessions, pool, agentId, cancellationToken);
        return reply.Rows("leases").Select(ParseLease).ToList();
    }

    public async Task<LiveUsage> GetLiveUsageAsync(PoolId pool, CancellationToken cancellationToken)
    {
        // Retrying is safe: the script only drops expired leases and reads.
        var reply = await EvaluateAsync(LuaScripts.Usage, pool, NoArguments.Value, cancellationToken);
        var groups = reply.Rows("groups", "group_columns")
            .Select(g => new GroupLiveUsage(g.String("group"), g.Int("held"), g.Int("reserved_in_use"), g.Int("waiting")))
            .ToList();
        var recovering = reply.Long("recovering_until_ms");
        return new LiveUsage(
            reply.Int("in_use"), reply.Int("peak"), reply.Int("refused"), reply.Int("live"), reply.Int("waiting"), reply.Int("reclaimed"), groups,
            recovering > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(recovering) : null,
            reply.Int("overage_seats"));
    }

    public async Task<(int Waiting, IReadOnlyList<QueuedAgent> First)> ListQueueAsync(PoolId pool, int max, CancellationToken cancellationToken)
    {
        // Retrying is safe: the script only drops expired entries and reads.
        var reply = await EvaluateAsync(LuaScripts.Queue, pool, max, cancellationToken);
        var first = reply.Records("first").Select(agent => new QueuedAgent(
            agent.String("agent"), agent.Int("position"), agent.Time("since_ms"), (QueuePriority)agent.Int("priority"),
            agent.Long("deadline_ms") > 0 ? agent.Time("deadline_ms") : null)).ToList();
        return (reply.Int("waiting"), first);
    }

    private static LeaseView ParseLease(ScriptReply lease) => new(
        LeaseId: lease.String("lease_id"),
        AgentId: lease.String("agent"),
        SessionId: lease.String("session"),
        Device: new DeviceInfo(lease.String("device"), Enum.Parse<Platform>(lease.String("platform"))),
        SessionKind: Enum.Parse<SessionKind>(lease.String("kind")),
        StartedAt: lease.Time("started_ms"),
        LastHeartbeatAt: lease.Time("beat_ms"),
        ExpiresAt: lease.Time("expires_ms"),
        SeatGroup: lease.String("seat_group") is { Length: > 0 } group ? group : null,
        OnReservedSeat: lease.Long("reserved") == 1,
        Overage: lease.Long("overage") == 1);

    public async Task<ApplyRulesOutcome> ApplyRulesAsync(ApplyRulesCommand command, CancellationToken cancellationToken)
    {
        // Retrying is safe: applying the same version twice changes nothing the first did not.
        var reply = await EvaluateAsync(LuaScripts.ApplyRules, command.Pool, command, cancellationToken);
        return reply.Status switch
        {
            "APPLIED" => new ApplyRulesOutcome.Applied(reply.Int("regrouped"), reply.Int("ended"), reply.Int("reclassed")),
            "OLDER" => new ApplyRulesOutcome.Superseded(reply.Long("version")),
            "NO_EPOCH" => new ApplyRulesOutcome.NotLive(),
            _ => throw UnexpectedReply("apply_rules", reply.Status),
        };
    }

    public async Task<IReadOnlyList<int>> CountLiveLeasesAsync(PoolId pool, IReadOnlyList<string> agentIds, CancellationToken cancellationToken)
    {
        if (agentIds.Count == 0)
        {
            return [];
        }

        // Retrying is safe: the script only drops expired leases and reads.
        var reply = await EvaluateAsync(LuaScripts.Live, pool, agentIds, cancellationToken);
        return reply.List("counts").Select(count => (int)count).ToList();
    }

    public async Task<QueueState> JoinAsync(QueueJoin join, CancellationToken cancellationToken)
    {
        // Retrying is safe: joining again refreshes the same place (one waiter per agent).
        var terms = LuaScripts.WaitTerms(join, _seats);
        var reply = await EvaluateWithTermsAsync(
            LuaScripts.WaitJoin, join.Pool, terms,
            (epoch, send) => new WaitJoinArgs(join, _seats, terms, send, epoch, _layout.NewLeases, _layout.HolderEntries, _outages?.Last), cancellationToken);
        return ParseQueueState(join.Pool, join.SessionId, reply);
    }

    public async Task<QueueState> QueueStatusAsync(PoolId pool, string agentId, CancellationToken cancellationToken)
    {
        // Retrying is safe: a claim already made answers GONE, and the app then holds the lease it was streamed.
        var reply = await EvaluateAsync(LuaScripts.WaitStatus, pool, (agentId, _seats), cancellationToken);
        return ParseQueueState(pool, string.Empty, reply);
    }

    public async Task LeaveQueueAsync(PoolId pool, string agentId, CancellationToken cancellationToken) =>
        // Retrying is safe: leaving twice is leaving once.
        await EvaluateAsync(LuaScripts.WaitLeave, pool, agentId, cancellationToken);

    public async Task<LeaseState> LeaseStateAsync(PoolId pool, string agentId, string leaseId, CancellationToken cancellationToken)
    {
        // Retrying is safe: it only drops expired leases and reads.
        var reply = await EvaluateAsync(LuaScripts.LeaseState, pool, (agentId, leaseId), cancellationToken);
        return reply.Status switch
        {
            "LIVE" => new LeaseState.Live(reply.Time("expires_ms")),
            "REVOKED" => new LeaseState.Revoked(reply.String("by"), reply.Time("at_ms")),
            "IDLE_RELEASED" => new LeaseState.IdleReleased(ParseCause(reply.String("by")), reply.Time("at_ms")),
            _ => new LeaseState.Gone(),
        };
    }

    private QueueState ParseQueueState(PoolId pool, string sessionId, ScriptReply reply)
    {
        switch (reply.Status)
        {
            case "GRANTED":
                Observe(pool, reply.Long("fence"));
                return new QueueState.Granted(new Lease(
                    reply.String("lease_id"), pool.Product, sessionId, SeatTypeCodes.Parse(reply.String("seat"), "Redis"), reply.Time("expires_ms"), reply.Long("fence")));
            case "QUEUED":
                var (why, group, cap, reservedFor) = RefusalOf(reply);
                var priority = reply.Int("priority");
                // The place as Redis keeps it (its own clock), for the ticket; none for a wait of a broker before tickets.
                var place = reply.Long("key") > 0 && reply.Long("deadline_ms") > 0
                    ? new QueuePlace(reply.Long("key"), (QueuePriority)priority, reply.Time("since_ms"), reply.Time("deadline_ms"))
                    : null;
                return new QueueState.Queued(
                    reply.Int("position"), reply.Int("in_use"), reply.Int("waiting"), why, group, cap, reservedFor, (QueuePriority)priority,
                    reply.Long("eta_ms") is >= 0 and var eta ? TimeSpan.FromMilliseconds(eta) : null,
                    reply.Long("deadline_in_ms") is >= 0 and var timeLeft ? TimeSpan.FromMilliseconds(timeLeft) : null,
                    place);
            case "QUEUE_FULL":
                return new QueueState.Full(reply.Int("waiting"), reply.Int("max"), reply.Int("in_use"));
            case "RECOVERING":
                return new QueueState.Recovering(reply.Milliseconds("retry_ms"));
            case "STALE":
                return new QueueState.RulesChanged(reply.Long("version"));
            case "ENDED":
                return new QueueState.Ended(
                    reply.String("reason") switch
                    {
                        "REVOKED" => WaitEndReason.Revoked,
                        "QUEUE_TIMEOUT" => WaitEndReason.QueueTimeout,
                        "SEAT_WITHDRAWN" => WaitEndReason.SeatWithdrawn,
                        var other => throw UnexpectedReply("wait_status", other),
                    },
                    reply.String("by"),
                    reply.Time("at_ms"));
            default:
                return new QueueState.Gone();
        }
    }

    /// <summary>
    /// Runs a script that checks the pool's epoch (see Scripts/library/03_epoch.lua). The first time this replica
    /// meets a pool whose epoch Redis lacks, it asks PostgreSQL whether the pool was ever used, and
    /// runs the script again knowing whether the pool is new or lost its data.
    /// </summary>
    /// <summary>
    /// An admitting script (acquire, wait_join) with the pool's terms sent only when this replica does not know the pool
    /// has them (<see cref="PoolTerms"/>): once more with them when the script answers TERMS (the pool lost them, never
    /// had them, or another replica stored others since).
    /// </summary>
    private async Task<ScriptReply> EvaluateWithTermsAsync<TArgs>(
        PoolScript<TArgs> script, PoolId pool, PoolTerms terms, Func<EpochCheck, bool, TArgs> args, CancellationToken cancellationToken)
    {
        var send = !_storedTerms.TryGetValue(pool, out var stored) || stored != terms.Id;
        var reply = await EvaluateWithEpochAsync(script, pool, epoch => args(epoch, send), evidence: 0, cancellationToken);
        if (reply.Status == "TERMS")
        {
            send = true;
            reply = await EvaluateWithEpochAsync(script, pool, epoch => args(epoch, true), evidence: 0, cancellationToken);
        }

        // Stored by the call unless it changed nothing (an older catalog: STALE; no epoch yet: NO_EPOCH).
        if (send && reply.Status is not ("TERMS" or "STALE" or "NO_EPOCH"))
        {
            _storedTerms[pool] = terms.Id;
        }

        return reply;
    }

    private async Task<ScriptReply> EvaluateWithEpochAsync<TArgs>(
        PoolScript<TArgs> script, PoolId pool, Func<EpochCheck, TArgs> args, long evidence, CancellationToken cancellationToken)
    {
        var known = _knownPools.TryGetValue(pool, out var seenFence);
        evidence = Math.Max(evidence, seenFence);
        var reply = await EvaluateAsync(script, pool, args(new EpochCheck(known ? "KNOWN" : "UNKNOWN", evidence)), cancellationToken);
        if (reply.Status == "TERMS")
        {
            return reply; // answered before the epoch was looked at (EvaluateWithTermsAsync calls again)
        }

        if (reply.Status != "NO_EPOCH")
        {
            if (!known && _knownPools.TryAdd(pool, 0))
            {
                _ = EnsureRegisteredAsync(pool);
            }

            return reply;
        }

        var active = await _registry.BeginAsync(pool, cancellationToken);
        reply = await EvaluateAsync(script, pool, args(new EpochCheck(active ? "KNOWN" : "NEW", evidence)), cancellationToken);
        if (!active)
        {
            await _registry.MarkActiveAsync(pool, cancellationToken);
        }

        _knownPools.TryAdd(pool, 0);
        return reply;
    }

    /// <summary>
    /// The pool has an epoch, so it was opened: the registry must say so, or a later loss of the pool's
    /// data would be taken for a new pool. It says so unless the replica that opened the pool stopped
    /// between its first script and the write of ACTIVE; this repairs that, once per pool and replica,
    /// off the request path (a batched write that changes nothing when the pool is ACTIVE already).
    /// </summary>
    private async Task EnsureRegisteredAsync(PoolId pool)
    {
        try
        {
            await _registry.MarkActiveAsync(pool, CancellationToken.None);
        }
        catch (Exception ex)
        {
            // PostgreSQL away: the next replica start, or the next first use here, tries again.
            _knownPools.TryRemove(KeyValuePair.Create(pool, 0L));
            LogRegistrationRepairFailed(_logger, pool.ToString(), ex);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not confirm that pool {Pool} is registered as used; will try again")]
    private static partial void LogRegistrationRepairFailed(ILogger logger, string pool, Exception exception);

    /// <summary>Remembers the largest fencing token seen in the pool: evidence if Redis later loses writes.</summary>
    /// <remarks>
    /// Read first: a renewal sees a token already known, and a write (which takes the dictionary's bucket
    /// lock) on every heartbeat of a busy pool made its heartbeats queue on that lock.
    /// </remarks>
    private void Observe(PoolId pool, long fence)
    {
        if (!_knownPools.TryGetValue(pool, out var seen) || seen < fence)
        {
            _knownPools.AddOrUpdate(pool, static (_, f) => f, static (_, old, f) => Math.Max(old, f), fence);
        }
    }

    /// <summary>Runs a script, records the seat events it reports, and hands a backlog of expired leases to the janitor.</summary>
    private async Task<ScriptReply> EvaluateAsync<TArgs>(
        PoolScript<TArgs> poolScript, PoolId pool, TArgs scriptArgs, CancellationToken cancellationToken)
    {
        var (payload, backlog) = await RunAsync(poolScript, pool, scriptArgs, cancellationToken);
        if (backlog)
        {
            _backlog.Report(pool);
        }

        return payload;
    }

    /// <summary>Runs a script and records the seat events it reports; returns its payload and whether expired leases remain.</summary>
    private async Task<(ScriptReply Payload, bool Backlog)> RunAsync<TArgs>(
        PoolScript<TArgs> poolScript, PoolId pool, TArgs scriptArgs, CancellationToken cancellationToken)
    {
        var result = await CallAsync(poolScript, _keys.Pool(pool), poolScript.Arguments(scriptArgs), cancellationToken);
        var reply = new ScriptReply(poolScript.Name, result);
        RecordEvents(pool, reply.List("events"), reply.Long("first_seq"));
        if (reply.Long("reclaim_due") is > 0 and var reclaimDue)
        {
            _reclaimIndex.Lower(pool, reclaimDue);
        }

        return (reply.Record("payload"), reply.Long("backlog") == 1);
    }

    /// <summary>Calls a pool script through the Redis pipeline (timeouts, retries, breaker), traced and timed.</summary>
    private async Task<RedisResult> CallAsync(IPoolScript script, RedisKey[] keys, RedisValue[] args, CancellationToken cancellationToken)
    {
        using var activity = StorageTelemetry.Activities.StartActivity("redis " + script.Name, System.Diagnostics.ActivityKind.Client);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var result = await _pipelines.Redis.ExecuteAsync(
            // The client takes no token: WaitAsync lets Polly's timeout and the caller's cancellation end the wait.
            static async (state, ct) => await PoolLibrary.CallAsync(state.redis, state.database, state.script, state.keys, state.args).WaitAsync(ct),
            (redis: _redis, database: _redis.GetDatabase(), script, keys, args),
            cancellationToken);
        StorageTelemetry.RecordScript(script.Name, System.Diagnostics.Stopwatch.GetElapsedTime(started));
        return result;
    }

    /// <summary>
    /// The one place seat events are heard of: every script reports the grants, re-establishments,
    /// releases, revocations, expiries and refusals it caused (see event() in Scripts/library/01_call.lua), whichever RPC or
    /// background call ran it, already appended to the pool's journal with their sequence numbers
    /// (first_seq, then one each); the sink counts them and has the drain store them.
    /// </summary>
    private void RecordEvents(PoolId pool, RedisResult[] events, long firstSequence)
    {
        // SeatEventCodec.Width values an event (its Columns); flat, as a mass expiry reports thousands.
        var width = SeatEventCodec.Width;
        var values = new string[width];
        for (var i = 0; i + width - 1 < events.Length; i += width)
        {
            for (var f = 0; f < width; f++)
            {
                values[f] = (string)events[i + f]!;
            }

            _events.Record(SeatEventCodec.FromValues(pool, firstSequence + (i / width), values));
        }
    }

    /// <summary>
    /// One batch of the pool's janitor work (sweep.lua): drops expired leases, waiters and tombstones and takes back the
    /// seats whose reclaim deadline came. Returns whether more remain and the pool's next reclaim deadline (ms, Redis
    /// time; 0: none).
    /// </summary>
    public async Task<(bool Backlog, long NextReclaimMs)> SweepAsync(PoolId pool, int batch, CancellationToken cancellationToken)
    {
        // Retrying is safe: a lease already dropped or taken back is not dropped, nor reported, again.
        var (payload, backlog) = await RunAsync(LuaScripts.Sweep, pool, batch, cancellationToken);
        return (backlog, payload.Long("next_reclaim_ms"));
    }

    /// <summary>Which rule keeps a shared seat from the agent (refusal_of in Scripts/library/05_groups.lua): why, the capped group, its cap, the groups keeping the free seats.</summary>
    private static (SharedSeatRefusal Why, string? Group, int Cap, string? ReservedFor) RefusalOf(ScriptReply reply) => reply.String("why") switch
    {
        "GROUP_CAP" => (SharedSeatRefusal.GroupCapReached, reply.String("about"), reply.Int("cap"), null),
        "OVERAGE_CAP" => (SharedSeatRefusal.GroupOverageCapReached, reply.String("about"), reply.Int("cap"), null),
        "RESERVED" => (SharedSeatRefusal.SeatsReserved, null, 0, reply.String("about")),
        _ => (SharedSeatRefusal.AllInUse, null, 0, null),
    };

    private static IdleReleaseCause ParseCause(string by) =>
        by == "pending_timeout" ? IdleReleaseCause.PendingTimeout : IdleReleaseCause.IdleTimeout;

    private static InvalidOperationException UnexpectedReply(string script, string status) =>
        new(string.Create(CultureInfo.InvariantCulture, $"The {script} script answered '{status}', which this version does not know."));
}
