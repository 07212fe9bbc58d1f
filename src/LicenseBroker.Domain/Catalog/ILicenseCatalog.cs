using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Domain.Catalog;

/// <summary>Read side of the durable licensing data, as admission sees it.</summary>
public interface ILicenseCatalog
{
    /// <summary>The policy of a pool; never null (an unknown pool has no subscription).</summary>
    ValueTask<PoolPolicy> GetPoolPolicyAsync(PoolId pool, CancellationToken cancellationToken);
}
