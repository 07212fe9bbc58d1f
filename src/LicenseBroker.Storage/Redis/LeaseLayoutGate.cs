using System.Globalization;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace LicenseBroker.Storage.Redis;

/// <summary>Which layout new leases take (section "Redis", <c>LeaseLayout</c>).</summary>
public enum LeaseLayout
{
    /// <summary>Compact as soon as every broker replica reads compact leases (<see cref="LeaseLayoutGate"/>); classic before.</summary>
    Auto,

    /// <summary>Always classic: keeps the way open to roll back to a broker version before the compact layout.</summary>
    Classic,

    /// <summary>
    /// Compact once every replica reads compact leases, but always with the long record: keeps the way open to roll back
    /// to the broker version before short records (see Scripts/library/02_records.lua).
    /// </summary>
    CompactLongRecords,

    /// <summary>
    /// Compact with short records, but shared-seat holders counted in the pool's holders hash, where pools that counted
    /// them in their agents' entries move them back as their leases start and end: keeps the way open to roll back to
    /// the broker version before holder entries (see "Shared seats in use" in Scripts/library/05_groups.lua).
    /// </summary>
    HolderHash,
}

/// <summary>What a new lease is, as the grant scripts' <c>@compact</c> argument says it (new_lease_layout in Scripts/library/06_leases.lua).</summary>
public enum NewLeaseForm
{
    /// <summary>A classic lease (<c>ls_</c> id, record under its id).</summary>
    Classic = 0,

    /// <summary>A compact lease with the long record every version since the compact layout reads.</summary>
    Compact = 1,

    /// <summary>A compact lease with the short record (about 40 bytes less).</summary>
    CompactShort = 2,
}

/// <summary>
/// Whether new leases may take the compact layout (see "Two layouts" in Scripts/library/02_records.lua): only when
/// every broker replica connected to this Redis reads it. A broker of the version before cannot find a compact
/// lease's record, so during a rolling deploy its heartbeats would end the sessions the new replicas granted.
/// </summary>
/// <remarks>
/// On Redis Cluster new leases stay classic (see <see cref="RefreshAsync"/>): a slot migration must find every key a
/// script reads among the keys it declares.
/// Every broker version subscribes to the catalog channel (<see cref="RedisKeys.CatalogInvalidationChannel"/>);
/// brokers that read compact leases also subscribe to <see cref="RedisKeys.CompactReadersChannel"/>. When both counts
/// are equal (PUBSUB NUMSUB, summed over the connected servers), every live replica reads compact leases: the gate
/// opens. The short record is gated the same way, one step further: brokers that read it also subscribe to
/// <see cref="RedisKeys.ShortRecordReadersChannel"/>, and new compact leases take it when that count too equals the
/// catalog channel's. So are holders counted in their agents' entries (<see cref="HolderEntries"/>), with
/// <see cref="RedisKeys.HolderEntryReadersChannel"/>: a pool's admitting scripts switch it when told. A replica of an older version that connects closes it again for new leases (the leases already compact
/// stay so: a rollback to a version before this one needs <see cref="LeaseLayout.Classic"/> first, and one lease
/// lifetime). A connection that drops unsubscribes by itself, so a crashed replica holds nothing closed for long; a
/// level opens only once every replica has read it for RedisOptions.LayoutSettleTime (<see cref="SettledAsync"/>),
/// so that the last replica of an older version restarting in a rolling deploy does not find pools it misreads.
/// </remarks>
public sealed partial class LeaseLayoutGate
{
    private readonly IConnectionMultiplexer _redis;
    private readonly RedisKeys _keys;
    private readonly LeaseLayout _layout;
    private readonly ILogger<LeaseLayoutGate> _logger;
    private readonly TimeSpan _settle;
    private readonly TimeProvider _time;
    private volatile NewLeaseForm _newLeases;
    private volatile bool _holderEntries;
    private bool _clusterNoted;

    public LeaseLayoutGate(IConnectionMultiplexer redis, RedisKeys keys, RedisOptions options, ILogger<LeaseLayoutGate> logger, TimeProvider? time = null)
    {
        _redis = redis;
        _keys = keys;
        _layout = options.LeaseLayout;
        _settle = options.LayoutSettleTime;
        _time = time ?? TimeProvider.System;
        _logger = logger;
    }

    /// <summary>What new leases are.</summary>
    public NewLeaseForm NewLeases => _newLeases;

    /// <summary>
    /// Whether pools count their shared-seat holders in their agents' entries (the admitting scripts' <c>@holder_entries</c>;
    /// "Shared seats in use" in Scripts/library/05_groups.lua): every replica reads them, and the layout is Auto.
    /// </summary>
    public bool HolderEntries => _holderEntries;

    /// <summary>Announces that this replica reads compact leases, and decides once (before the broker serves).</summary>
    public async Task StartAsync()
    {
        if (_layout != LeaseLayout.Classic)
        {
            // Nothing is published on the channel: the subscription is the announcement.
            // Fire and forget, as the catalog's: a broker starts while Redis is away, and the multiplexer subscribes
            // again on every reconnection.
            var subscriber = _redis.GetSubscriber();
            await subscriber.SubscribeAsync(_keys.CompactReadersChannel, static (_, _) => { }, CommandFlags.FireAndForget);
            await subscriber.SubscribeAsync(_keys.ShortRecordReadersChannel, static (_, _) => { }, CommandFlags.FireAndForget);
            await subscriber.SubscribeAsync(_keys.HolderEntryReadersChannel, static (_, _) => { }, CommandFlags.FireAndForget);
            try
            {
                // A PING on the subscription connection comes back after the subscriptions sent before it (this one and
                // the catalog's): the count below sees them.
                await subscriber.PingAsync();
            }
            catch (RedisException)
            {
                // Away: the gate stays closed until Redis is back and a refresh counts again.
            }
        }

        await RefreshAsync();
    }

    /// <summary>Counts the replicas again (PoolJanitor-like pollers call it every few seconds). Redis unreachable: unchanged.</summary>
    public async Task RefreshAsync()
    {
        if (_layout == LeaseLayout.Classic)
        {
            _newLeases = NewLeaseForm.Classic;
            _holderEntries = false;
            return;
        }

        // Redis Cluster: classic leases only. A slot migration moves a pool's keys a few at a time, and a script checks
        // only the keys it declares: a compact record's bucket (a key no script declares) could be on the other node
        // while the pool's declared keys are still here, and the lease would read as gone.
        var servers = _redis.GetServers().Where(s => s.IsConnected).ToList();
        if (servers.Any(s => s.ServerType == ServerType.Cluster))
        {
            if (!_clusterNoted)
            {
                LogClusterClassic(_logger);
                _clusterNoted = true;
            }

            _newLeases = NewLeaseForm.Classic;
            _holderEntries = false;
            return;
        }

        long brokers = 0, readers = 0, shortReaders = 0, holderReaders = 0;
        try
        {
            foreach (var server in servers)
            {
                var reply = (RedisResult[])(await server.ExecuteAsync(
                    "PUBSUB", "NUMSUB", (string)_keys.CatalogInvalidationChannel!, (string)_keys.CompactReadersChannel!, (string)_keys.ShortRecordReadersChannel!,
                    (string)_keys.HolderEntryReadersChannel!))!;
                brokers += (long)reply[1];
                readers += (long)reply[3];
                shortReaders += (long)reply[5];
                holderReaders += (long)reply[7];
            }
        }
        catch (RedisException)
        {
            return;
        }

        bool compactRead, shortRead, holdersRead;
        try
        {
            compactRead = await SettledAsync("compact", readers > 0 && readers >= brokers);
            shortRead = compactRead && await SettledAsync("short", shortReaders >= brokers);
            holdersRead = shortRead && await SettledAsync("holders", holderReaders >= brokers);
        }
        catch (RedisException)
        {
            return;
        }

        var form = !compactRead ? NewLeaseForm.Classic
            : (_layout is LeaseLayout.Auto or LeaseLayout.HolderHash) && shortRead ? NewLeaseForm.CompactShort
            : NewLeaseForm.Compact;
        var holderEntries = form == NewLeaseForm.CompactShort && _layout == LeaseLayout.Auto && holdersRead;
        if (form != _newLeases || holderEntries != _holderEntries)
        {
            LogChanged(_logger, form, holderEntries, brokers, readers, shortReaders, holderReaders);
            _newLeases = form;
            _holderEntries = holderEntries;
        }
    }

    /// <summary>
    /// Whether every connected replica has read <paramref name="level"/> for the settle time (RedisOptions.LayoutSettleTime):
    /// the first replica to see it read by all writes when, in a key every replica reads; any replica that sees one
    /// replica not reading it deletes the key, so the wait starts again. A replica of an older version that restarts
    /// during a rolling deploy (its connection gone for a moment) thus keeps the gate closed; it opens once the last
    /// one has been gone that long.
    /// </summary>
    private async Task<bool> SettledAsync(string level, bool readByAll)
    {
        var key = _keys.LayoutGate(level);
        var database = _redis.GetDatabase();
        if (!readByAll)
        {
            await database.KeyDeleteAsync(key, CommandFlags.FireAndForget);
            return false;
        }

        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        // SET NX GET (Redis 7): the time already written, or none when this call wrote now.
        var since = (long?)await database.StringSetAndGetAsync(key, now, when: When.NotExists);
        return now - (since ?? now) >= (long)_settle.TotalMilliseconds;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "New leases are classic: Redis Cluster (a slot migration must find every key a script reads among those it declares)")]
    private static partial void LogClusterClassic(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "New leases are {Layout} now, holders counted in their entries: {HolderEntries}. {Brokers} broker connections to Redis, "
            + "{Readers} of them read compact leases, {ShortReaders} short records, {HolderReaders} holder entries.")]
    private static partial void LogChanged(ILogger logger, NewLeaseForm layout, bool holderEntries, long brokers, long readers, long shortReaders, long holderReaders);
}
