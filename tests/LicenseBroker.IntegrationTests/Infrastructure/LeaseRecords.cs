using System.Globalization;
using System.Text.RegularExpressions;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Redis;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>Where a lease's record is in Redis, in either layout (see "Two layouts" in Scripts/library/02_records.lua).</summary>
internal static partial class LeaseRecords
{
    /// <summary>The hash and field of the lease's record: a compact lease's bucket and fence, or a classic one's lease data hash and id.</summary>
    public static (RedisKey Key, RedisValue Field) Place(IServiceProvider services, PoolId pool, string leaseId)
    {
        var keys = services.GetRequiredService<RedisKeys>().Pool(pool);
        var compact = CompactId().Match(leaseId);
        if (!compact.Success)
        {
            return (keys[1], leaseId);
        }

        var tag = ((string)keys[0]!)[..^":leases".Length];
        var fence = long.Parse(compact.Groups[2].Value, CultureInfo.InvariantCulture);
        return (tag + ":r" + compact.Groups[1].Value + ":" + (fence / 64).ToString(CultureInfo.InvariantCulture), compact.Groups[2].Value);
    }

    /// <summary>The lease's record as stored, or null.</summary>
    public static async Task<string?> ReadAsync(IServiceProvider services, PoolId pool, string leaseId)
    {
        var (key, field) = Place(services, pool, leaseId);
        return await services.GetRequiredService<IConnectionMultiplexer>().GetDatabase().HashGetAsync(key, field);
    }

    [GeneratedRegex("^l([co])_([0-9]+)_[A-Za-z0-9_-]{22}$")]
    private static partial Regex CompactId();
}
