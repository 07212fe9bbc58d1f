using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace LicenseBroker.Storage.Redis;

/// <summary>A time when no broker could reach this Redis (every replica down, or Redis unreachable), on Redis's clock.</summary>
public sealed record OutageWindow(DateTimeOffset From, DateTimeOffset To);

/// <summary>
/// Knows the last outage (see Scripts/presence.lua): every replica says every second that it reached Redis; a gap
/// longer than <see cref="RedisOptions.OutageAfter"/> is one. Heartbeats pass it to heartbeat.lua, which honours a
/// lease's grace when the lease expired during it. Redis's own clock decides, never a replica's; a Redis that lost its
/// data forgets the last outage, and the pools' recovery windows take over (Scripts/library/03_epoch.lua).
/// </summary>
public sealed partial class OutageWatch
{
    private readonly IConnectionMultiplexer _redis;
    private readonly RedisKeys _keys;
    private readonly TimeSpan _outageAfter;
    private readonly ILogger<OutageWatch> _logger;
    private volatile OutageWindow? _last;

    public OutageWatch(IConnectionMultiplexer redis, RedisKeys keys, RedisOptions options, ILogger<OutageWatch> logger)
    {
        _redis = redis;
        _keys = keys;
        _outageAfter = options.OutageAfter;
        _logger = logger;
    }

    /// <summary>The last outage this replica learned of, or null.</summary>
    public OutageWindow? Last => _last;

    private long _beats;

    /// <summary>How many beats this replica has sent (each one Redis call): the background's share of its Redis calls.</summary>
    public long Beats => Interlocked.Read(ref _beats);

    /// <summary>Says this replica reached Redis now, and learns the last outage. Throws when Redis is unreachable.</summary>
    public async Task BeatAsync()
    {
        Interlocked.Increment(ref _beats);
        var script = LuaScripts.Presence;
        var reply = (RedisResult[])(await PoolLibrary.CallAsync(_redis, _redis.GetDatabase(), script, _keys.Presence(), script.Arguments(_outageAfter)))!;
        var (from, to) = ((long)reply[0], (long)reply[1]);
        if (to <= 0)
        {
            return;
        }

        var outage = new OutageWindow(DateTimeOffset.FromUnixTimeMilliseconds(from), DateTimeOffset.FromUnixTimeMilliseconds(to));
        if (outage != _last)
        {
            LogOutage(_logger, outage.From, outage.To, (outage.To - outage.From).TotalSeconds);
            _last = outage;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "No broker reached Redis from {From:O} to {To:O} ({Seconds:F0} s): leases that expired then are honoured within their grace")]
    private static partial void LogOutage(ILogger logger, DateTimeOffset from, DateTimeOffset to, double seconds);
}
