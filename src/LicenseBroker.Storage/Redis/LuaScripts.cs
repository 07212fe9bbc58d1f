using System.Globalization;
using LicenseBroker.Domain.Seats;
using StackExchange.Redis;

namespace LicenseBroker.Storage.Redis;

/// <summary>
/// The pool scripts, each the shared library parts plus one operation's body, with each argument name of
/// the Lua bound to the C# value it comes from. The argument records below are what each call passes.
/// </summary>
public static class LuaScripts
{
    public static readonly PoolScript<AcquireArgs> Acquire = PoolScript.Load<AcquireArgs>(
        "acquire",
        rest: a => a.SendTerms ? a.Terms.Values : [],
        [("agent", a => a.Command.AgentId),
        ("session", a => a.Command.SessionId),
        ("lease_id", a => a.Command.NewLeaseId),
        ("compact", a => (int)a.NewLeases),
        ("seat", a => SeatTypeCodes.Code(a.Command.SeatType)),
        ("device", a => a.Command.Device.DeviceId),
        ("platform", a => a.Command.Device.Platform.ToString()),
        ("kind", a => a.Command.SessionKind.ToString()),
        ("epoch_mode", a => a.Epoch.Mode),
        ("evidence", a => a.Epoch.Evidence),
        ("rate_window_ms", a => Milliseconds(a.Command.RateLimits?.Window ?? TimeSpan.Zero)),
        ("rate_pool", a => a.Command.RateLimits?.PerPool ?? 0),
        ("rate_agent", a => a.Command.RateLimits?.PerAgent ?? 0),
        ("terms_id", a => a.Terms.Id),
        ("group", a => a.Command.Groups?.AgentGroup ?? string.Empty),
        ("holder_entries", a => a.HolderEntries ? 1 : 0),
        ("outage_from_ms", a => a.Outage?.From.ToUnixTimeMilliseconds() ?? 0),
        ("outage_to_ms", a => a.Outage?.To.ToUnixTimeMilliseconds() ?? 0)]);

    public static readonly PoolScript<HeartbeatArgs> Heartbeat = PoolScript.Load<HeartbeatArgs>(
        "heartbeat",
        rest: null,
        ("agent", a => a.Command.AgentId),
        ("lease_id", a => a.Command.LeaseId),
        ("ttl_ms", a => Milliseconds(a.Command.LeaseTtl)),
        ("epoch_mode", a => a.Epoch.Mode),
        ("evidence", a => a.Epoch.Evidence),
        ("session", a => a.Command.SessionId),
        ("proven_token", a => a.Command.ProvenFencingToken),
        ("seat", a => a.Command.SeatType is { } seat ? SeatTypeCodes.Code(seat) : string.Empty),
        ("limit", a => a.Command.ConcurrentLimit),
        ("device", a => a.Command.Device?.DeviceId ?? "unknown"),
        ("platform", a => (a.Command.Device?.Platform ?? Platform.Web).ToString()),
        ("kind", a => a.Command.SessionKind?.ToString() ?? string.Empty),
        // Without the catalog (unreachable, not cached) the rules are unknown: '' keeps the pool's stored ones.
        ("pending_ms", a => a.Command.IdleRules is { } rules ? Milliseconds(rules.PendingTimeout) : RedisValue.EmptyString),
        ("idle_ms", a => a.Command.IdleRules is { } rules ? Milliseconds(rules.IdleTimeout) : RedisValue.EmptyString),
        ("idle_for_ms", a => Milliseconds(a.Command.IdleFor)),
        ("group", a => a.Command.Groups?.AgentGroup ?? string.Empty),
        ("rules", a => RulesText(a.Command.Groups)),
        ("proven_grace_ms", a => a.Command.ProvenGraceUntil is { } grace ? Math.Max(0, grace.ToUnixTimeMilliseconds()) : 0),
        ("revive_ms", a => Milliseconds((a.Command.Recovery ?? LeaseRecovery.Default).ReviveWindow)),
        ("outage_from_ms", a => a.Outage?.From.ToUnixTimeMilliseconds() ?? 0),
        ("outage_to_ms", a => a.Outage?.To.ToUnixTimeMilliseconds() ?? 0));

    /// <summary>The heartbeat's fast path: the lease's expiry and nothing else (see heartbeat_fast.lua).</summary>
    public static readonly PoolScript<HeartbeatArgs> HeartbeatFast = PoolScript.Load<HeartbeatArgs>(
        "heartbeat_fast",
        rest: null,
        ownKeys: true,
        ("agent", a => a.Command.AgentId),
        ("lease_id", a => a.Command.LeaseId),
        ("ttl_ms", a => Milliseconds(a.Command.LeaseTtl)),
        ("evidence", a => a.Epoch.Evidence),
        ("kind", a => a.Command.SessionKind?.ToString() ?? string.Empty));

    public static readonly PoolScript<ReleaseCommand> Release = PoolScript.Load<ReleaseCommand>(
        "release",
        rest: null,
        ("agent", c => c.AgentId),
        ("lease_id", c => c.LeaseId),
        ("remember_ms", c => Milliseconds(c.RememberReleaseFor)));

    public static readonly PoolScript<RevokeCommand> Revoke = PoolScript.Load<RevokeCommand>(
        "revoke",
        rest: c => c.Ids.Select(id => (RedisValue)id).ToList(),
        ("by", c => c.RevokedBy),
        ("remember_ms", c => Milliseconds(c.RememberFor)),
        ("ids_are", c => c.ByAgent ? "AGENTS" : "LEASES"),
        ("why", c => c.Cause.Code()));

    public static readonly PoolScript<IReadOnlyList<string>> Live = PoolScript.Load<IReadOnlyList<string>>(
        "live",
        rest: agents => agents.Select(id => (RedisValue)id).ToList());

    public static readonly PoolScript<(string Cursor, int Size)> Sessions = PoolScript.Load<(string Cursor, int Size)>(
        "sessions",
        rest: null,
        ("cursor", a => a.Cursor),
        ("size", a => a.Size));

    public static readonly PoolScript<NoArguments> Usage = PoolScript.Load<NoArguments>("usage", rest: null);

    public static readonly PoolScript<WaitJoinArgs> WaitJoin = PoolScript.Load<WaitJoinArgs>(
        "wait_join",
        rest: a => a.SendTerms ? a.Terms.Values : [],
        [("agent", a => a.Join.AgentId),
        ("session", a => a.Join.SessionId),
        ("lease_id", a => a.Join.LeaseId),
        ("compact", a => (int)a.NewLeases),
        ("seat", a => SeatTypeCodes.Code(a.Join.SeatType)),
        ("device", a => a.Join.Device.DeviceId),
        ("platform", a => a.Join.Device.Platform.ToString()),
        ("kind", a => a.Join.Kind.ToString()),
        ("epoch_mode", a => a.Epoch.Mode),
        ("evidence", a => a.Epoch.Evidence),
        ("waiter_life_ms", a => Milliseconds(a.Seats.WaiterTimeout)),
        ("terms_id", a => a.Terms.Id),
        ("group", a => a.Join.Groups?.AgentGroup ?? string.Empty),
        ("priority", a => (int)a.Join.Priority),
        ("holder_entries", a => a.HolderEntries ? 1 : 0),
        ("age_step_ms", a => Milliseconds((a.Join.Queue ?? QueueTerms.Default).AgeStep)),
        ("max_queue", a => (a.Join.Queue ?? QueueTerms.Default).MaxWaitersFor(a.Join.ConcurrentLimit)),
        ("max_wait_ms", a => Milliseconds((a.Join.Queue ?? QueueTerms.Default).MaxWait)),
        ("ticket", a => a.Join.Ticket is { } t
            ? string.Create(CultureInfo.InvariantCulture, $"{t.Key}|{(int)t.Priority}|{t.Since.ToUnixTimeMilliseconds()}|{t.Deadline.ToUnixTimeMilliseconds()}")
            : RedisValue.EmptyString),
        ("restore_only", a => a.Join.RestoreOnly ? "1" : "0"),
        ("lost_lease", a => a.Join.LostLeaseId ?? string.Empty),
        ("outage_from_ms", a => a.Outage?.From.ToUnixTimeMilliseconds() ?? 0),
        ("outage_to_ms", a => a.Outage?.To.ToUnixTimeMilliseconds() ?? 0)]);

    public static readonly PoolScript<ApplyRulesCommand> ApplyRules = PoolScript.Load<ApplyRulesCommand>(
        "apply_rules",
        // Pairs agent, group ('' for none): every agent with a shared seat.
        rest: c => c.SharedSeats.SelectMany(s => new RedisValue[] { s.Key, s.Value ?? string.Empty }).ToList(),
        ("version", c => c.Version),
        ("limit", c => c.ConcurrentLimit),
        ("rules", c => RulesText(new GroupSeats(null, c.Rules))),
        ("active", c => c.Active ? "1" : "0"),
        ("by", c => c.ChangedBy),
        ("remember_ms", c => Milliseconds(c.RememberFor)),
        ("overage_mode", c => SeatTypeCodes.OverageModeCode((c.Overage ?? OveragePolicy.None).Mode)),
        ("overage_seats", c => (c.Overage ?? OveragePolicy.None).ExtraSeats(c.ConcurrentLimit)),
        ("overage_caps", c => OverageCapsText(c.Rules)),
        ("priorities", c => PrioritiesText(c.Rules)));

    public static readonly PoolScript<(string Agent, SeatOptions Seats)> WaitStatus = PoolScript.Load<(string Agent, SeatOptions Seats)>(
        "wait_status",
        rest: null,
        ("agent", a => a.Agent),
        ("ttl_ms", a => Milliseconds(a.Seats.LeaseTtl)),
        ("waiter_life_ms", a => Milliseconds(a.Seats.WaiterTimeout)));

    public static readonly PoolScript<string> WaitLeave = PoolScript.Load<string>("wait_leave", rest: null, ("agent", agent => agent));

    public static readonly PoolScript<(string Agent, string LeaseId)> LeaseState = PoolScript.Load<(string Agent, string LeaseId)>(
        "lease_state",
        rest: null,
        ("agent", a => a.Agent),
        ("lease_id", a => a.LeaseId));

    public static readonly PoolScript<string> AgentSessions = PoolScript.Load<string>("agent_sessions", rest: null, ("agent", agent => agent));

    public static readonly PoolScript<int> Queue = PoolScript.Load<int>("queue", rest: null, ("max", max => max));

    public static readonly PoolScript<int> Sweep = PoolScript.Load<int>("sweep", rest: null, ("batch", batch => batch));

    /// <summary>A replica's presence, and the last outage it reveals (see presence.lua, <see cref="OutageWatch"/>).</summary>
    public static readonly PoolScript<TimeSpan> Presence = PoolScript.Load<TimeSpan>(
        "presence", rest: null, ownKeys: true, ("outage_after_ms", after => Milliseconds(after)));

    /// <summary>Every script, for the layout tests.</summary>
    public static IReadOnlyList<IPoolScript> All => [Acquire, Heartbeat, HeartbeatFast, Release, Revoke, Live, Sessions, Usage, WaitJoin, WaitStatus, WaitLeave, LeaseState, AgentSessions, Queue, Sweep, ApplyRules, Presence];

    /// <summary>The pool's group rules as the scripts read them (set_rules in Scripts/library/05_groups.lua): "group|reserved|max;..." (max -1: none).</summary>
    internal static RedisValue RulesText(GroupSeats? groups) => groups is null || groups.Rules.Count == 0
        ? RedisValue.EmptyString
        : string.Join(';', groups.Rules.Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.GroupId}|{r.Reserved}|{r.Max ?? -1}")));

    /// <summary>The pool's terms as the admitting scripts (acquire, wait_join) store them (<see cref="PoolTerms"/>).</summary>
    public static PoolTerms AcquireTerms(AcquireCommand command, TimeSpan claimWindow) => PoolTerms.Of(
        command.ConcurrentLimit, claimWindow, command.LeaseTtl, command.IdleRules, command.Groups, command.Recovery, command.Overage);

    /// <inheritdoc cref="AcquireTerms"/>
    public static PoolTerms WaitTerms(QueueJoin join, SeatOptions seats) => PoolTerms.Of(
        join.ConcurrentLimit, seats.ClaimWindow, seats.LeaseTtl, join.IdleRules, join.Groups, join.Recovery, join.Overage);

    /// <summary>The groups' overage caps as the scripts read them (parse_caps in Scripts/library/04_terms.lua): "group|max;...".</summary>
    internal static RedisValue OverageCapsText(IReadOnlyList<Domain.Catalog.GroupSeatRule>? rules) => rules is null
        ? RedisValue.EmptyString
        : string.Join(';', rules.Where(r => r.OverageMax is not null).Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.GroupId}|{r.OverageMax}")));

    /// <summary>The groups' queue classes as apply_rules reads them: "group|priority;..." (groups that set one).</summary>
    internal static RedisValue PrioritiesText(IReadOnlyList<Domain.Catalog.GroupSeatRule>? rules) => rules is null
        ? RedisValue.EmptyString
        : string.Join(';', rules.Where(r => r.Priority is not null).Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.GroupId}|{(int)r.Priority!.Value}")));

    internal static RedisValue Milliseconds(TimeSpan value) => ((long)value.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
}

/// <summary>What a script that checks the pool's epoch needs (see Scripts/library/03_epoch.lua): the mode, and the evidence of lost writes.</summary>
public sealed record EpochCheck(string Mode, long Evidence);

/// <param name="NewLeases">What a new lease is (<see cref="LeaseLayoutGate"/>).</param>
/// <param name="HolderEntries">Whether the pool counts shared-seat holders in their agents' entries (<see cref="LeaseLayoutGate.HolderEntries"/>).</param>
/// <param name="Outage">The last time no broker could reach this Redis (<see cref="OutageWatch"/>), null when none is known.</param>
/// <param name="Terms">The pool's terms (<see cref="PoolTerms"/>), sent only when <paramref name="SendTerms"/>.</param>
public sealed record AcquireArgs(AcquireCommand Command, PoolTerms Terms, bool SendTerms, EpochCheck Epoch, NewLeaseForm NewLeases, bool HolderEntries, OutageWindow? Outage = null);

/// <param name="Outage">The last time no broker could reach this Redis (<see cref="OutageWatch"/>), null when none is known.</param>
public sealed record HeartbeatArgs(HeartbeatCommand Command, EpochCheck Epoch, OutageWindow? Outage = null);

/// <param name="NewLeases">What a new lease (now or offered later) is (<see cref="LeaseLayoutGate"/>).</param>
/// <param name="HolderEntries">As <see cref="AcquireArgs.HolderEntries"/>.</param>
/// <param name="Outage">As <see cref="AcquireArgs.Outage"/>.</param>
/// <param name="Terms">As <see cref="AcquireArgs.Terms"/>.</param>
public sealed record WaitJoinArgs(QueueJoin Join, SeatOptions Seats, PoolTerms Terms, bool SendTerms, EpochCheck Epoch, NewLeaseForm NewLeases, bool HolderEntries, OutageWindow? Outage = null);

/// <summary>The arguments of a script that takes none.</summary>
public sealed record NoArguments
{
    public static readonly NoArguments Value = new();
}
