namespace LicenseBroker.Domain.Seats;

/// <summary>Live occupancy of the seat pools. Every call is one atomic step of the store.</summary>
public interface IOccupancyStore
{
    /// <summary>Admits or refuses, atomically with every other call on the same pool.</summary>
    Task<AcquireOutcome> AcquireAsync(AcquireCommand command, CancellationToken cancellationToken);

    /// <summary>Renews a lease of the agent.</summary>
    Task<HeartbeatOutcome> HeartbeatAsync(HeartbeatCommand command, CancellationToken cancellationToken);

    /// <summary>Ends a lease of the agent.</summary>
    Task<ReleaseOutcome> ReleaseAsync(ReleaseCommand command, CancellationToken cancellationToken);

    /// <summary>An admin ends leases (by agent or by lease id); returns those that were live.</summary>
    Task<IReadOnlyList<LeaseView>> RevokeAsync(RevokeCommand command, CancellationToken cancellationToken);

    /// <summary>A page of the pool's live shared leases in start order; <paramref name="cursor"/> from the previous page.</summary>
    Task<SharedLeasePage> ListSharedAsync(PoolId pool, string? cursor, int pageSize, CancellationToken cancellationToken);

    /// <summary>The agent's live leases in the pool, of any seat type, oldest first: what a change to its seat would end.</summary>
    Task<IReadOnlyList<LeaseView>> ListAgentLeasesAsync(PoolId pool, string agentId, CancellationToken cancellationToken);

    /// <summary>The pool's live numbers and today's counters.</summary>
    Task<LiveUsage> GetLiveUsageAsync(PoolId pool, CancellationToken cancellationToken);

    /// <summary>The agents waiting for a shared seat, in order (at most <paramref name="max"/>), and how many wait.</summary>
    Task<(int Waiting, IReadOnlyList<QueuedAgent> First)> ListQueueAsync(PoolId pool, int max, CancellationToken cancellationToken);

    /// <summary>A committed change of the pool's rules, seats or limit takes effect in the live pool, and admission runs again.</summary>
    Task<ApplyRulesOutcome> ApplyRulesAsync(ApplyRulesCommand command, CancellationToken cancellationToken);

    /// <summary>Live leases each agent holds in the pool, in the order asked.</summary>
    Task<IReadOnlyList<int>> CountLiveLeasesAsync(PoolId pool, IReadOnlyList<string> agentIds, CancellationToken cancellationToken);
}

/// <summary>Ends leases of a pool. <see cref="ByAgent"/>: <see cref="Ids"/> are agent ids, else lease ids.</summary>
public sealed record RevokeCommand(PoolId Pool, string RevokedBy, bool ByAgent, IReadOnlyList<string> Ids, TimeSpan RememberFor, RevokeCause Cause = RevokeCause.SessionEnded);

/// <summary>What an admin did that ended a lease, as its app is told (LEASE_REVOKED, metadata <c>why</c>).</summary>
public enum RevokeCause
{
    /// <summary>The session itself was ended (ForceRelease, the console's "End session").</summary>
    SessionEnded,

    /// <summary>The agent's seat of the product changed type (named to shared or back).</summary>
    SeatChanged,

    /// <summary>The agent's seat of the product was removed.</summary>
    SeatRemoved,

    /// <summary>The agent was removed from the account (or erased).</summary>
    AgentRemoved,
}

/// <summary>
/// The one table of revoke causes' codes: what revoke.lua keeps with the revocation, what heartbeat.lua answers and what
/// the app reads in LEASE_REVOKED's <c>why</c>. An unknown code is a bug (of the scripts, or of a newer broker's), never a guess.
/// </summary>
public static class RevokeCauses
{
    private static readonly (RevokeCause Cause, string Code)[] Codes =
    [
        (RevokeCause.SessionEnded, "SESSION_ENDED"), (RevokeCause.SeatChanged, "SEAT_CHANGED"), (RevokeCause.SeatRemoved, "SEAT_REMOVED"),
        (RevokeCause.AgentRemoved, "AGENT_REMOVED"),
    ];

    public static string Code(this RevokeCause cause) =>
        Codes.FirstOrDefault(c => c.Cause == cause).Code ?? throw new ArgumentOutOfRangeException(nameof(cause), cause, "not a revoke cause");

    public static RevokeCause Parse(string code) =>
        Codes.Any(c => c.Code == code) ? Codes.First(c => c.Code == code).Cause : throw new InvalidOperationException($"Unknown revoke cause '{code}' in a pool script's reply.");
}

/// <summary>A page of live shared leases.</summary>
public sealed record SharedLeasePage(int Total, int SeatsInUse, string? NextCursor, IReadOnlyList<LeaseView> Leases);

/// <summary>Live numbers of a pool; the daily counters are per UTC day of Redis's clock.</summary>
public sealed record LiveUsage(
    int SeatsInUse, int PeakToday, int RefusedToday, int LiveLeases, int Waiting = 0, int ReclaimedToday = 0, IReadOnlyList<GroupLiveUsage>? Groups = null,
    DateTimeOffset? RecoveringUntil = null, int OverageSeats = 0);

/// <summary>A group's shared seats right now: members holding one, of them on the group's reserved seats, members waiting.</summary>
public sealed record GroupLiveUsage(string GroupId, int Holding, int OnReservedSeats, int Waiting);

/// <summary>An agent waiting for a shared seat.</summary>
/// <summary>A waiter as the admin sees it; <see cref="Deadline"/>: when its max wait ends it (null: a wait of a broker before max waits).</summary>
public sealed record QueuedAgent(string AgentId, int Position, DateTimeOffset WaitingSince, QueuePriority Priority = QueuePriority.Standard, DateTimeOffset? Deadline = null);

/// <summary>A live (or just ended) lease as admins see it.</summary>
public sealed record LeaseView(
    string LeaseId,
    string AgentId,
    string SessionId,
    DeviceInfo Device,
    SessionKind SessionKind,
    DateTimeOffset StartedAt,
    DateTimeOffset LastHeartbeatAt,
    DateTimeOffset ExpiresAt,
    string? SeatGroup = null,
    bool OnReservedSeat = false,
    bool Overage = false);

/// <summary>Everything the store needs to admit an agent; the seat type and limit come from the catalog.</summary>
public sealed record AcquireCommand(
    PoolId Pool,
    string AgentId,
    string SessionId,
    string NewLeaseId,
    SeatType SeatType,
    int ConcurrentLimit,
    TimeSpan LeaseTtl,
    DeviceInfo Device,
    SessionKind SessionKind,
    RateLimits? RateLimits = null,
    IdleRules? IdleRules = null,
    GroupSeats? Groups = null,
    LeaseRecovery? Recovery = null,
    OveragePolicy? Overage = null);

/// <summary>
/// The agent's group in the pool (null: none) and the pool's group rules, for shared-seat admission;
/// <see cref="RulesVersion"/>: the catalog version they were read at (<see cref="Catalog.PoolPolicy.CatalogVersion"/>).
/// </summary>
public sealed record GroupSeats(string? AgentGroup, IReadOnlyList<Catalog.GroupSeatRule> Rules, long RulesVersion = 0)
{
    public static readonly GroupSeats None = new(null, []);
}

/// <summary>
/// A committed change reaches a live pool (see <see cref="LivePoolRules"/>): its limit and group rules
/// as the catalog says at <see cref="Version"/>, and every agent holding a shared seat with the group it
/// counts in (null: none). Waiters no longer among them stop waiting; admission runs again.
/// </summary>
public sealed record ApplyRulesCommand(
    PoolId Pool, long Version, int ConcurrentLimit, IReadOnlyList<Catalog.GroupSeatRule> Rules, bool Active,
    IReadOnlyList<KeyValuePair<string, string?>> SharedSeats, string ChangedBy, TimeSpan RememberFor, OveragePolicy? Overage = null);

/// <summary>What applying a change to a live pool did.</summary>
public abstract record ApplyRulesOutcome
{
    private ApplyRulesOutcome()
    {
    }

    /// <summary>Applied: holders moved between groups' counts, waits ended, waiters moved to another group's line.</summary>
    public sealed record Applied(int Regrouped, int WaitsEnded, int Reclassed) : ApplyRulesOutcome;

    /// <summary>A later change was applied first; nothing to do.</summary>
    public sealed record Superseded(long Version) : ApplyRulesOutcome;

    /// <summary>The pool is not live in the store: the next acquire opens it with the rules it reads.</summary>
    public sealed record NotLive : ApplyRulesOutcome;
}

/// <summary>Abuse limits on acquire attempts, counted in Redis so they hold across replicas.</summary>
public sealed record RateLimits(TimeSpan Window, int PerPool, int PerAgent);

/// <summary>
/// Renews <see cref="LeaseId"/> if it belongs to <see cref="AgentId"/>. The rest lets the store
/// re-establish the lease if Redis lost it: what the app holds (session, device, and the fencing
/// token, given here only when the app's lease proof verified: 0 otherwise) and what the catalog
/// says now (seat type, null without a seat; the pool's limit).
/// </summary>
public sealed record HeartbeatCommand(
    PoolId Pool,
    string AgentId,
    string LeaseId,
    TimeSpan LeaseTtl,
    string SessionId = "",
    long ProvenFencingToken = 0,
    SeatType? SeatType = null,
    int ConcurrentLimit = 0,
    DeviceInfo? Device = null,
    SessionKind? SessionKind = null,
    IdleRules? IdleRules = null,
    TimeSpan IdleFor = default,
    GroupSeats? Groups = null,
    LeaseRecovery? Recovery = null,
    DateTimeOffset? ProvenGraceUntil = null);

/// <summary>Ends <see cref="LeaseId"/> if it belongs to <see cref="AgentId"/>.</summary>
public sealed record ReleaseCommand(PoolId Pool, string AgentId, string LeaseId, TimeSpan RememberReleaseFor);
