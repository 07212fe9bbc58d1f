namespace LicenseBroker.Domain.Seats;

/// <summary>What happened to a seat; each becomes a row of the audit log.</summary>
public enum SeatEventKind
{
    Granted,
    Released,
    Expired,
    ForceReleased,
    Refused,

    /// <summary>A lease Redis lost was re-established from the app's verified lease proof.</summary>
    Reestablished,

    /// <summary>The broker took the seat back: PENDING or idle past the pool's timeout (the actor names the rule).</summary>
    IdleReleased,

    /// <summary>The agent joined the queue for a shared seat.</summary>
    Queued,

    /// <summary>An expired lease was given back to its app (revive window, or its grace after an outage): same lease id.</summary>
    Revived,

    /// <summary>A grant took the pool above its purchased shared seats (overage); the lease is the one that crossed.</summary>
    OverageStarted,

    /// <summary>The pool's overage seats changed while it was over (a grant or a freed seat, or a new limit).</summary>
    OverageChanged,

    /// <summary>A freed seat brought the pool back to its purchased shared seats.</summary>
    OverageEnded,

    /// <summary>The agent left the queue without a seat (cancelled, or its app disconnected).</summary>
    WaitCancelled,

    /// <summary>The wait lasted the pool's max wait without a seat (QUEUE_TIMEOUT); at: the deadline.</summary>
    WaitTimedOut,

    /// <summary>The waiter's replica stopped refreshing it and nobody re-joined in time (the app went away, or died).</summary>
    WaitAbandoned,
}

/// <summary>
/// A seat event. <see cref="PeakToday"/> and <see cref="RefusedToday"/> carry the pool's daily
/// counters as the granting or refusing script left them, so they can be kept in PostgreSQL.
/// <see cref="Sequence"/>: its number in the pool's sequence (the order of the changes; unique per pool).
/// </summary>
public sealed record SeatEvent(
    PoolId Pool,
    SeatEventKind Kind,
    string AgentId,
    string? LeaseId,
    string Actor,
    DateTimeOffset At,
    int? PeakToday = null,
    int? RefusedToday = null,
    int? SeatsInUse = null,
    long Sequence = 0);

/// <summary>
/// Hears of the seat events a pool script recorded (counted in metrics; the pool marked for the drain that
/// stores them). The events themselves are already durable: the script appended them to the pool's journal.
/// </summary>
public interface ISeatEventSink
{
    void Record(SeatEvent seatEvent);
}
