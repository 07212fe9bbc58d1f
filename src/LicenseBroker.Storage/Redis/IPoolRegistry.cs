using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Storage.Redis;

/// <summary>
/// Durable memory of which pools were ever used, so a pool that Redis does not know can be told
/// apart: brand new (no wait) or lost with Redis's data (recovery window). See prelude.lua.
/// </summary>
public interface IPoolRegistry
{
    /// <summary>Records the pool as used; returns true when it was already recorded.</summary>
    Task<bool> RegisterAsync(PoolId pool, CancellationToken cancellationToken);
}
