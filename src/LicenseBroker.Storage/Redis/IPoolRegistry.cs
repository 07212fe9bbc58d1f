using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Storage.Redis;

/// <summary>
/// Durable memory of which pools were ever used, so a pool that Redis does not know can be told
/// apart: brand new (no wait) or lost with Redis's data (recovery window). See Scripts/library/03_epoch.lua.
/// Two steps, so that agents racing to open a brand-new pool never mistake each other for a loss:
/// <see cref="BeginAsync"/> (a read) before the epoch is created, <see cref="MarkActiveAsync"/> after.
/// </summary>
public interface IPoolRegistry
{
    /// <summary>Whether the pool was fully opened before (ACTIVE): then an absent epoch means Redis lost it.</summary>
    Task<bool> BeginAsync(PoolId pool, CancellationToken cancellationToken);

    /// <summary>Records that the pool's epoch now exists in Redis.</summary>
    Task MarkActiveAsync(PoolId pool, CancellationToken cancellationToken);
}
