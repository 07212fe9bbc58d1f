using System.Globalization;
using LicenseBroker.Domain.Seats;
using StackExchange.Redis;

namespace LicenseBroker.Storage.Redis;

/// <summary>
/// Which pools have a seat to take back soon (see <see cref="RedisKeys.ReclaimIndex"/>): pool ->
/// its earliest reclaim deadline, on Redis's clock. A pool's scripts keep their own deadlines
/// atomically (Scripts/library/04_terms.lua, KEYS[16]); this index is how a replica finds, without scanning every
/// pool, the few whose deadline came while nobody called into them. It may be early (a deadline
/// that moved later), never late: it is only lowered, except by <see cref="AfterReclaimAsync"/>,
/// which raises it to what the pool's own set says after a reclaim, then lowers it again if a call
/// moved a deadline earlier meanwhile.
/// </summary>
public sealed class ReclaimIndex
{
    // Raises the pool's entry only if it still holds the deadline the janitor acted on.
    private const string ReplaceScript = """
        local current = redis.call('ZSCORE', KEYS[1], ARGV[1])
        if current and tonumber(current) == tonumber(ARGV[2]) then
          if tonumber(ARGV[3]) > 0 then
            redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
          else
            redis.call('ZREM', KEYS[1], ARGV[1])
          end
        end
        return 0
        """;

    private readonly IConnectionMultiplexer _redis;
    private readonly RedisKeys _keys;

    public ReclaimIndex(IConnectionMultiplexer redis, RedisKeys keys)
    {
        _redis = redis;
        _keys = keys;
    }

    /// <summary>After a pool script wrote a reclaim deadline: lowers the pool's entry to it if earlier.</summary>
    public void Lower(PoolId pool, long dueMs) =>
        // Fire and forget on the connection that ran the script: it is sent after the script's reply,
        // which is what AfterReclaimAsync's re-read relies on. Lost with the connection, the pool's
        // deadline is still met by the next call into the pool (every script purges what is due).
        _redis.GetDatabase().SortedSetAdd(_keys.ReclaimIndex, RedisKeys.PoolMember(pool), dueMs, SortedSetWhen.LessThan, CommandFlags.FireAndForget);

    /// <summary>Up to <paramref name="max"/> pools whose deadline has come, with the deadline the index holds.</summary>
    public async Task<IReadOnlyList<(PoolId Pool, long DueMs)>> DueAsync(int max)
    {
        // Redis's clock decides what is due: a replica whose clock runs ahead or behind changes nothing.
        // (Two plain commands, not a script: the hot-path tests count the scripts the requests run.)
        var database = _redis.GetDatabase();
        var time = (RedisResult[])(await database.ExecuteAsync("TIME"))!;
        var now = (long)time[0] * 1000 + (long)time[1] / 1000;
        var entries = await database.SortedSetRangeByScoreWithScoresAsync(_keys.ReclaimIndex, double.NegativeInfinity, now, take: max);
        var due = new List<(PoolId, long)>(entries.Length);
        foreach (var entry in entries)
        {
            if (RedisKeys.ParsePoolMember(entry.Element!) is { } pool)
            {
                due.Add((pool, (long)entry.Score));
            }
        }

        return due;
    }

    /// <summary>
    /// After the janitor ran the pool's script: sets the entry to the pool's next deadline
    /// (<paramref name="nextMs"/>, 0: none) if it still holds <paramref name="actedOnMs"/>, then
    /// reads the pool's own earliest deadline and lowers the entry to it. A script that wrote an
    /// earlier deadline after our reclaim either ran before that read (the read sees it) or sends its
    /// own <see cref="Lower"/> after it; either way the entry ends no later than the pool's deadline.
    /// </summary>
    public async Task AfterReclaimAsync(PoolId pool, long actedOnMs, long nextMs)
    {
        var database = _redis.GetDatabase();
        var member = RedisKeys.PoolMember(pool);
        await database.ScriptEvaluateAsync(
            ReplaceScript,
            [_keys.ReclaimIndex],
            [member, actedOnMs.ToString(CultureInfo.InvariantCulture), nextMs.ToString(CultureInfo.InvariantCulture)]);
        var first = await database.SortedSetRangeByRankWithScoresAsync(_keys.PoolReclaim(pool), 0, 0);
        if (first.Length == 1)
        {
            await database.SortedSetAddAsync(_keys.ReclaimIndex, member, first[0].Score, SortedSetWhen.LessThan);
        }
    }
}
