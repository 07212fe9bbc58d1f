using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Domain.Catalog;

/// <summary>Read side of the durable licensing data, as admission sees it.</summary>
public interface ILicenseCatalog
{
    /// <summary>The policy of a pool; never null (an unknown pool has no subscription).</summary>
    ValueTask<PoolPolicy> GetPoolPolicyAsync(PoolId pool, CancellationToken cancellationToken);
}

/// <summary>Write paths call this after changing subscriptions, agents or assignments, so every replica drops its copy.</summary>
public interface ICatalogInvalidator
{
    /// <param name="accountId">The account changed.</param>
    /// <param name="product">The product changed, or null for every product of the account.</param>
    Task InvalidateAsync(string accountId, string? product);
}
