using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Domain.Catalog;

/// <summary>Read side of the durable licensing data, as admission sees it.</summary>
public interface ILicenseCatalog
{
    /// <summary>The policy of a pool; never null (an unknown pool has no subscription).</summary>
    ValueTask<PoolPolicy> GetPoolPolicyAsync(PoolId pool, CancellationToken cancellationToken);

    /// <summary>
    /// The policy at <paramref name="atLeastVersion"/> or later: the live pool applied a change this
    /// replica's copy predates (its announcement may still be on the way), so the copy is read again.
    /// </summary>
    ValueTask<PoolPolicy> GetPoolPolicyAsync(PoolId pool, long atLeastVersion, CancellationToken cancellationToken);
}

/// <summary>The durable side of a change's effect on live pools (PostgreSQL).</summary>
public interface IPoolPolicySource
{
    /// <summary>
    /// Marks a committed change of the account (its catalog version goes up), then reads the policies
    /// of the pools it touches, fresh: the product's, or with a null product every subscribed product's.
    /// </summary>
    Task<IReadOnlyList<PoolPolicy>> ReadAfterChangeAsync(string accountId, string? product, CancellationToken cancellationToken);
}

/// <summary>Write paths call this after changing subscriptions, agents or assignments, so every replica drops its copy.</summary>
public interface ICatalogInvalidator
{
    /// <param name="accountId">The account changed.</param>
    /// <param name="product">The product changed, or null for every product of the account.</param>
    Task InvalidateAsync(string accountId, string? product);
}
