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
}

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
    SessionKind SessionKind);

/// <summary>Renews <see cref="LeaseId"/> if it belongs to <see cref="AgentId"/>.</summary>
public sealed record HeartbeatCommand(PoolId Pool, string AgentId, string LeaseId, TimeSpan LeaseTtl);

/// <summary>Ends <see cref="LeaseId"/> if it belongs to <see cref="AgentId"/>.</summary>
public sealed record ReleaseCommand(PoolId Pool, string AgentId, string LeaseId, TimeSpan RememberReleaseFor);
