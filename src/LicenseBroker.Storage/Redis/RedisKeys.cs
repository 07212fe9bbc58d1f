using LicenseBroker.Domain.Seats;
using StackExchange.Redis;

namespace LicenseBroker.Storage.Redis;

/// <summary>
/// Every Redis key and channel name is built here. A pool's keys share one hash tag,
/// <c>{account/product}</c>, so each script touches one slot and runs unchanged on Redis Cluster.
/// </summary>
public sealed class RedisKeys
{
    // The keys both layouts name (the pool's and heartbeat_fast's): spelled once.
    private const string LeasesSuffix = ":leases";
    private const string LeaseDataSuffix = ":lease-data";
    private const string FenceSuffix = ":fence";
    private const string EpochSuffix = ":epoch";

    private readonly string _prefix;

    public RedisKeys(string prefix)
    {
        _prefix = prefix;
    }

    /// <summary>The keys of one pool in the order the pool scripts expect them (see Scripts/library/01_call.lua).</summary>
    public RedisKey[] Pool(PoolId pool)
    {
        var tag = Tag(pool);
        return
        [
            tag + LeasesSuffix,
            tag + LeaseDataSuffix,
            tag + ":sessions",
            tag + ":holders",
            tag + FenceSuffix,
            tag + ":tombstones",
            tag + ":tombstone-data",
            tag + ":agent-leases",
            tag + ":shared-index",
            tag + ":stats",
            tag + EpochSuffix,
            tag + ":rate",
            tag + ":queue",
            tag + ":waiters",
            tag + ":waiter-life",
            PoolReclaim(pool),
            tag + ":groups",
            tag + ":class-queue",
            SeatEvents(pool),
        ];
    }

    /// <summary>
    /// A SCAN pattern matching every key of the pool, <see cref="Pool"/>'s and the compact layout's buckets (named from
    /// the hash tag, see Scripts/library/02_records.lua): what an operator removes to drop a pool's live state.
    /// </summary>
    public string PoolKeysPattern(PoolId pool) => Tag(pool) + ":*";

    /// <summary>
    /// Every key a pool whose fences stayed at or below <paramref name="highestFence"/> can have: <see cref="Pool"/>'s,
    /// the list of shared buckets and each compact record bucket (Scripts/library/02_records.lua, bucket_key). Lets
    /// the pool be removed without a SCAN of the whole keyspace.
    /// </summary>
    public IEnumerable<RedisKey> AllPoolKeys(PoolId pool, long highestFence)
    {
        var tag = Tag(pool);
        foreach (var key in Pool(pool))
        {
            yield return key;
        }

        yield return tag + ":rc";
        for (var bucket = 0L; bucket <= highestFence / CompactRecordBucket; bucket++)
        {
            yield return $"{tag}:rc:{bucket}";
            yield return $"{tag}:ro:{bucket}";
        }
    }

    // Fences per compact record bucket: RECORD_BUCKET in Scripts/library/02_records.lua.
    private const long CompactRecordBucket = 64;

    /// <summary>The keys heartbeat_fast.lua takes, of the pool layout: leases, lease data, epoch.</summary>
    public RedisKey[] HeartbeatFast(PoolId pool)
    {
        var tag = Tag(pool);
        return [tag + LeasesSuffix, tag + LeaseDataSuffix, tag + EpochSuffix];
    }

    /// <summary>The pool's stream of seat events not yet stored in PostgreSQL (KEYS[19] of the pool scripts).</summary>
    public RedisKey SeatEvents(PoolId pool) => Tag(pool) + ":seat-events";

    /// <summary>The pool's reclaim set (KEYS[16] of the pool scripts).</summary>
    public RedisKey PoolReclaim(PoolId pool) => Tag(pool) + ":reclaim";

    // Ids are validated to exclude braces, so the tag cannot be broken by an id.
    private string Tag(PoolId pool) => $"{_prefix}{{{pool.AccountId}/{pool.Product}}}";

    /// <summary>
    /// Pools with a reclaim deadline (see Scripts/library/01_call.lua, KEYS[16]) -> the earliest one (ms, Redis time):
    /// what the janitor of every replica polls (see <see cref="ReclaimIndex"/>). One key: in a
    /// cluster it lives on one shard, and holds one member per pool with an idle rule in use.
    /// </summary>
    public RedisKey ReclaimIndex => _prefix + "reclaim-due";

    /// <summary>The member of <see cref="ReclaimIndex"/> for a pool; ids exclude '/' in products, so it parses back.</summary>
    public static string PoolMember(PoolId pool) => $"{pool.AccountId}/{pool.Product}";

    /// <summary>The pool of a <see cref="ReclaimIndex"/> member, or null when it is not one.</summary>
    public static PoolId? ParsePoolMember(string member)
    {
        var slash = member.LastIndexOf('/');
        return slash <= 0 || slash == member.Length - 1 ? null : new PoolId(member[..slash], member[(slash + 1)..]);
    }

    /// <summary>The pool's pub/sub channel (queue moves, revocations); the scripts derive the same name.</summary>
    public RedisChannel PoolEvents(PoolId pool) => RedisChannel.Literal($"{_prefix}{{{pool.AccountId}/{pool.Product}}}:events");

    /// <summary>
    /// Channel that brokers which read compact leases subscribe to, and nobody publishes on: its subscriber count,
    /// against the catalog channel's, tells whether every replica reads them (<see cref="LeaseLayoutGate"/>).
    /// </summary>
    public RedisChannel CompactReadersChannel => RedisChannel.Literal(_prefix + "compact-lease-readers");

    /// <summary>As <see cref="CompactReadersChannel"/>, for brokers that read short lease records.</summary>
    public RedisChannel ShortRecordReadersChannel => RedisChannel.Literal(_prefix + "short-record-readers");

    /// <summary>Since when (Unix ms) every replica has read a layout level (<see cref="LeaseLayoutGate"/>): compact, short, holders.</summary>
    public RedisKey LayoutGate(string level) => _prefix + "layout-gate:" + level;

    /// <summary>As <see cref="CompactReadersChannel"/>, for brokers that read shared-seat holders counted in their agents' entries.</summary>
    public RedisChannel HolderEntryReadersChannel => RedisChannel.Literal(_prefix + "holder-entry-readers");

    /// <summary>The keys of presence.lua: when a replica last reached this Redis, and the last outage (one hash tag, one slot).</summary>
    public RedisKey[] Presence() => [_prefix + "{presence}:last", _prefix + "{presence}:outage"];

    /// <summary>Channel on which catalog changes are announced to every replica.</summary>
    public RedisChannel CatalogInvalidationChannel => RedisChannel.Literal(_prefix + "catalog-invalidation");
}
