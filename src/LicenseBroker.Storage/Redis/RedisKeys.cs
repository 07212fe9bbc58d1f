using LicenseBroker.Domain.Seats;
using StackExchange.Redis;

namespace LicenseBroker.Storage.Redis;

/// <summary>
/// Every Redis key and channel name is built here. A pool's keys share one hash tag,
/// <c>{account/product}</c>, so each script touches one slot and runs unchanged on Redis Cluster.
/// </summary>
public sealed class RedisKeys
{
    private readonly string _prefix;

    public RedisKeys(string prefix)
    {
        _prefix = prefix;
    }

    /// <summary>The keys of one pool in the order the pool scripts expect them (see prelude.lua).</summary>
    public RedisKey[] Pool(PoolId pool)
    {
        // Ids are validated to exclude braces, so the tag cannot be broken by an id.
        var tag = $"{_prefix}{{{pool.AccountId}/{pool.Product}}}";
        return
        [
            tag + ":leases",
            tag + ":lease-data",
            tag + ":sessions",
            tag + ":holders",
            tag + ":fence",
            tag + ":tombstones",
            tag + ":tombstone-data",
            tag + ":agent-leases",
            tag + ":shared-index",
            tag + ":stats",
            tag + ":epoch",
            tag + ":rate",
            tag + ":queue",
            tag + ":waiters",
            tag + ":waiter-life",
        ];
    }

    /// <summary>The pool's pub/sub channel (queue moves, revocations); the scripts derive the same name.</summary>
    public RedisChannel PoolEvents(PoolId pool) => RedisChannel.Literal($"{_prefix}{{{pool.AccountId}/{pool.Product}}}:events");

    /// <summary>Channel on which catalog changes are announced to every replica.</summary>
    public RedisChannel CatalogInvalidationChannel => RedisChannel.Literal(_prefix + "catalog-invalidation");
}
