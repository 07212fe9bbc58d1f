namespace LicenseBroker.Domain.Seats;

// Expected outcomes are values: callers switch on them, and the gRPC layer maps
// each to a status code in one place. Exceptions are kept for faults (a backend down).

/// <summary>Result of asking for a seat.</summary>
public abstract record AcquireOutcome
{
    private AcquireOutcome()
    {
    }

    /// <summary>A seat was granted, or an existing lease of the same session was returned.</summary>
    public sealed record Granted(Lease Lease, bool Resumed, OverageGrant? Overage = null) : AcquireOutcome;

    /// <summary>
    /// No shared seat for this agent now. <see cref="Why"/> says which rule: every seat is occupied (or being
    /// handed to waiters ahead), the agent's group holds its cap (<see cref="Group"/>, <see cref="Cap"/>), or
    /// the free seats are reserved for other groups (<see cref="ReservedFor"/>).
    /// </summary>
    public sealed record PoolFull(
        int InUse, int Limit, int Waiting = 0,
        SharedSeatRefusal Why = SharedSeatRefusal.AllInUse, string? Group = null, int Cap = 0, IReadOnlyList<string>? ReservedFor = null,
        string? GroupName = null, IReadOnlyList<string>? ReservedForNames = null) : AcquireOutcome;

    /// <summary>The agent has no seat of the product.</summary>
    public sealed record NoSeatAssigned : AcquireOutcome;

    /// <summary>The account has no current trial or paid plan for the product.</summary>
    public sealed record NoActiveSubscription : AcquireOutcome;

    /// <summary>
    /// Redis lost the pool's data a moment ago: newcomers wait until holders have had one lease
    /// lifetime to come back, so the pool never holds more agents than seats.
    /// </summary>
    public sealed record Recovering(TimeSpan RetryAfter) : AcquireOutcome;

    /// <summary>Too many acquire attempts from this agent or pool; nothing was taken.</summary>
    public sealed record RateLimited(TimeSpan RetryAfter) : AcquireOutcome;

    /// <summary>The named unattended machine is not registered on the product.</summary>
    public sealed record UnattendedDeviceNotRegistered(string DeviceId) : AcquireOutcome;

    /// <summary>
    /// The live pool applied a change newer than the rules the call was decided by (<see cref="Version"/>):
    /// nothing was taken. The broker reads the rules again and decides anew; an agent sees this only when
    /// the rules kept changing under every attempt.
    /// </summary>
    public sealed record RulesChanged(long Version) : AcquireOutcome;
}

/// <summary>Which rule keeps an agent from a shared seat.</summary>
public enum SharedSeatRefusal
{
    /// <summary>Every shared seat is occupied, or the free ones go to waiters ahead.</summary>
    AllInUse,

    /// <summary>The agent's group holds as many shared seats as its cap allows.</summary>
    GroupCapReached,

    /// <summary>The free seats are reserved for other groups.</summary>
    SeatsReserved,

    /// <summary>The only seats left are beyond the purchased ones, and the agent's group holds as many of those as its overage cap allows.</summary>
    GroupOverageCapReached,
}

/// <summary>Result of a heartbeat.</summary>
public abstract record HeartbeatOutcome
{
    private HeartbeatOutcome()
    {
    }

    /// <summary>The lease lives on with a new expiry; <paramref name="Revived"/>: it had expired and this heartbeat brought it back.</summary>
    public sealed record Renewed(Lease Lease, bool Revived = false) : HeartbeatOutcome;

    /// <summary>
    /// The lease is unknown to the caller, released or expired, and was not given back (<see cref="Why"/>); what waiting
    /// would give: <see cref="QueuePosition"/> (0: a seat is free, acquire again), with the pool's figures.
    /// </summary>
    public sealed record LeaseNotFound(LeaseGoneReason Why = LeaseGoneReason.Unknown, int InUse = 0, int Limit = 0, int Waiting = 0) : HeartbeatOutcome
    {
        /// <summary>The place WaitForSeat would give now: behind those waiting, or 0 when a seat is free and nobody waits.</summary>
        public int QueuePosition => Waiting > 0 || InUse >= Limit ? Waiting + 1 : 0;
    }

    /// <summary>The lease would be given back but the pool still drops leases that expired meanwhile: call again after <paramref name="RetryAfter"/>.</summary>
    public sealed record CatchingUp(TimeSpan RetryAfter) : HeartbeatOutcome;

    /// <summary>An admin ended the lease.</summary>
    public sealed record Revoked(string RevokedBy, DateTimeOffset RevokedAt, RevokeCause Cause = RevokeCause.SessionEnded) : HeartbeatOutcome;

    /// <summary>The broker took the seat back: the session stayed PENDING or idle past the pool's timeout.</summary>
    public sealed record IdleReleased(IdleReleaseCause Cause, DateTimeOffset At) : HeartbeatOutcome;
}

/// <summary>Why an expired or unknown lease was not given back (see <see cref="LeaseRecovery"/>).</summary>
public enum LeaseGoneReason
{
    /// <summary>Unknown to the pool, another agent's, or its proof did not verify.</summary>
    Unknown,

    /// <summary>Someone else took the seat, or was waiting for it.</summary>
    SeatTaken,

    /// <summary>It expired longer ago than the revive window (and outside an outage's grace), or its grace has passed.</summary>
    WindowPassed,

    /// <summary>It was released.</summary>
    Ended,

    /// <summary>The lease proof sent does not verify for this lease, agent, device and pool (or none was sent).</summary>
    Unproven,

    /// <summary>The agent has no seat of the product now (or the subscription ended).</summary>
    NoSeat,
}

/// <summary>Which idle rule took a seat back (see <see cref="IdleRules"/>).</summary>
public enum IdleReleaseCause
{
    PendingTimeout,
    IdleTimeout,
}

/// <summary>Result of a release.</summary>
public abstract record ReleaseOutcome
{
    private ReleaseOutcome()
    {
    }

    /// <summary>The lease was live and is now ended; its seat is free if it was the agent's last lease.</summary>
    public sealed record Released : ReleaseOutcome;

    /// <summary>The lease had already been released or revoked a moment ago (the call is idempotent).</summary>
    public sealed record AlreadyReleased : ReleaseOutcome;

    /// <summary>The lease is unknown to the caller or expired.</summary>
    public sealed record LeaseNotFound : ReleaseOutcome;
}

/// <summary>A grant beyond the purchased shared seats (see <see cref="OveragePolicy"/>): how far over, and under which mode.</summary>
public sealed record OverageGrant(OverageMode Mode, int InUse, int Limit, int Cap);
