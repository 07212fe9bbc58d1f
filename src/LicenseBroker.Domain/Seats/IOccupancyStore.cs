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
    Task<IReadOnlyList<EndedLease>> RevokeAsync(RevokeCommand command, CancellationToken cancellationToken);

    /// <summary>Live leases each agent holds in the pool, in the order asked.</summary>
    Task<IReadOnlyList<int>> CountLiveLeasesAsync(PoolId pool, IReadOnlyList<string> agentIds, CancellationToken cancellationToken);
}

/// <summary>Ends leases of a pool. <see cref="ByAgent"/>: <see cref="Ids"/> are agent ids, else lease ids.</summary>
public sealed record RevokeCommand(PoolId Pool, string RevokedBy, bool ByAgent, IReadOnlyList<string> Ids, TimeSpan RememberFor);

/// <summary>A lease that an admin ended, as it was.</summary>
public sealed record EndedLease(
    string LeaseId,
    string AgentId,
    string SessionId,
    DeviceInfo Device,
    SessionKind SessionKind,
    DateTimeOffset StartedAt,
    DateTimeOffset LastHeartbeatAt,
    DateTimeOffset ExpiresAt);

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
