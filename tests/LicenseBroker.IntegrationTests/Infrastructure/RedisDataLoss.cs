using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Redis;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>Redis losing a pool's data: every key of the pool goes, in both lease layouts (compact records live in buckets named from the pool's hash tag).</summary>
internal static class RedisDataLoss
{
    public static async Task LosePoolAsync(IServiceProvider services, PoolId pool)
    {
        var redis = services.GetRequiredService<IConnectionMultiplexer>();
        var pattern = services.GetRequiredService<RedisKeys>().PoolKeysPattern(pool);
        foreach (var server in redis.GetServers().Where(s => s.IsConnected && !s.IsReplica))
        {
            await foreach (var key in server.KeysAsync(pattern: pattern, pageSize: 1000))
            {
                await redis.GetDatabase().KeyDeleteAsync(key);
            }
        }
    }
}
