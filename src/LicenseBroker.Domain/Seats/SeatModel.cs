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

/// <summary>A live lease as granted or renewed.</summary>
public sealed record Lease(
    string LeaseId,
    string Product,
    string SessionId,
    SeatType SeatType,
    DateTimeOffset ExpiresAt,
    long FencingToken);
