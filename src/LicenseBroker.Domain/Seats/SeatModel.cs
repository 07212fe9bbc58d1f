namespace LicenseBroker.Domain.Seats;

/// <summary>How an agent holds a product.</summary>
public enum SeatType
{
    /// <summary>Dedicated to one agent; always admitted.</summary>
    Named,

    /// <summary>Taken from the shared pool while the agent works.</summary>
    Concurrent,

    /// <summary>The product has no seat limit (Monitoring); any agent of the account is admitted.</summary>
    Unlimited,
}

/// <summary>Operating system an agent app runs on.</summary>
public enum Platform
{
    Windows,
    Mac,
    Ios,
    Android,
    Linux,
    Web,
}

/// <summary>What the agent does with the seat; every kind occupies a concurrent seat.</summary>
public enum SessionKind
{
    /// <summary>A session was created (support key generated) but no customer is connected yet.</summary>
    Pending,
    Attended,
    Unattended,
}

/// <summary>The caller, as proven by its token.</summary>
public sealed record AgentIdentity(string AccountId, string AgentId);

/// <summary>The pool of one product in one account: the unit of admission.</summary>
public sealed record PoolId(string AccountId, string Product)
{
    public override string ToString() => $"{AccountId}/{Product}";
}

/// <summary>The device a lease is taken from.</summary>
public sealed record DeviceInfo(string DeviceId, Platform Platform);

/// <summary>
/// A live lease as granted or renewed; <see cref="Proof"/> is attached by the broker (see <see cref="LeaseProofs"/>), and
/// with it <see cref="GraceUntil"/>: until when the session may run on while the broker cannot be reached.
/// </summary>
public sealed record Lease(
    string LeaseId,
    string Product,
    string SessionId,
    SeatType SeatType,
    DateTimeOffset ExpiresAt,
    long FencingToken,
    string Proof = "",
    DateTimeOffset? GraceUntil = null);

/// <summary>Bounds of fencing tokens.</summary>
public static class FencingTokens
{
    /// <summary>
    /// The largest fencing token the broker accepts or hands out: 2^53 - 1, the largest integer Redis's
    /// Lua numbers (doubles) hold exactly and format without an exponent. A pool granting a million
    /// leases a second would need 285 years to reach it.
    /// </summary>
    public const long MaxValue = 9_007_199_254_740_991;
}

/// <summary>
/// When the broker takes a seat back from a session that holds it without working (zero = never):
/// a lease still PENDING (support key generated, nobody connected) <see cref="PendingTimeout"/> after
/// its kind last changed, or whose app reports its user idle for <see cref="IdleTimeout"/>. Enforced
/// by the store on its own clock.
/// </summary>
public sealed record IdleRules(TimeSpan PendingTimeout, TimeSpan IdleTimeout)
{
    public static readonly IdleRules None = new(TimeSpan.Zero, TimeSpan.Zero);

    /// <summary>The longest either timeout may be.</summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromDays(1);

    /// <summary>The longest idle time an app may report (longer reports are refused as input errors).</summary>
    public static readonly TimeSpan MaxReportedIdle = TimeSpan.FromDays(30);
}

/// <summary>
/// How a pool gives an expired session back to its own app (per subscription, enforced by the store on its own clock):
/// within <see cref="ReviveWindow"/> of the expiry when the seat was not needed meanwhile (nobody waiting, the pool not
/// full), and within <see cref="OutageGrace"/> of the expiry when it expired while no broker could reach the pool (the
/// lease's grace_until, signed into its proof), never past the limit.
/// </summary>
public sealed record LeaseRecovery(TimeSpan ReviveWindow, TimeSpan OutageGrace)
{
    /// <summary>Both five minutes: a laptop's sleep, a phone changing networks, a deploy.</summary>
    public static readonly LeaseRecovery Default = new(TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(5));

    /// <summary>The longest either may be.</summary>
    public static readonly TimeSpan Max = TimeSpan.FromMinutes(15);
}

/// <summary>Whether a pool grants shared seats beyond the purchased ones when every one is taken (see <see cref="OveragePolicy"/>).</summary>
public enum OverageMode
{
    /// <summary>Never: the purchased count is the limit.</summary>
    None,

    /// <summary>A newcomer gets a seat beyond it, up to the allowance, flagged and announced; waiters wait for a purchased one.</summary>
    Alert,

    /// <summary>As <see cref="Alert"/>, and the queue's head too.</summary>
    Burst,
}

/// <summary>
/// A pool's overage: <see cref="Mode"/> and the allowance, <see cref="Seats"/> or <see cref="Percent"/> of the purchased
/// count (rounded up), never both. Decided by the one admission rule in the pool's scripts.
/// </summary>
public sealed record OveragePolicy(OverageMode Mode, int Seats, int Percent)
{
    public static readonly OveragePolicy None = new(OverageMode.None, 0, 0);

    /// <summary>The largest allowance in seats and in percent.</summary>
    public const int MaxSeats = 1_000_000;

    public const int MaxPercent = 1_000;

    /// <summary>Seats beyond <paramref name="limit"/> this policy allows (0 with <see cref="OverageMode.None"/>).</summary>
    public int ExtraSeats(int limit) => Mode == OverageMode.None ? 0 : Seats + (int)Math.Ceiling(limit * (long)Percent / 100.0);
}
