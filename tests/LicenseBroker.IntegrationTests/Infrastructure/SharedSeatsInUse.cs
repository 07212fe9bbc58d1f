using StackExchange.Redis;

namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>
/// A pool's shared seats in use as Redis counts them (see "Shared seats in use" in Scripts/library/05_groups.lua): the
/// holders hash's agents plus those counted in their entries. Read in one script, so the sum is of one moment.
/// </summary>
internal static class SharedSeatsInUse
{
    private const string Script = "return redis.call('HLEN', KEYS[1]) + tonumber(redis.call('HGET', KEYS[2], 'entry_seats') or '0')";

    /// <param name="poolKeys">The pool's keys (RedisKeys.Pool): holders are [3], the epoch [10].</param>
    public static async Task<long> ReadAsync(IDatabase redis, RedisKey[] poolKeys) =>
        (long)await redis.ScriptEvaluateAsync(Script, [poolKeys[3], poolKeys[10]]);
}
