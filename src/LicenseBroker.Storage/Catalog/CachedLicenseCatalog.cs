using System.Collections.Concurrent;
using LicenseBroker.Domain.Catalog;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Postgres;
using LicenseBroker.Storage.Redis;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace LicenseBroker.Storage.Catalog;

/// <summary>
/// Keeps pool policies in memory so the hot path makes no PostgreSQL query in steady state.
/// Writers announce changes on a Redis channel; every replica drops the entry it holds, and
/// the next call reloads it. One load per pool is in flight at a time (no stampede).
/// When a reload fails and an older policy is known, the older one keeps serving.
/// </summary>
public sealed partial class CachedLicenseCatalog : ILicenseCatalog, ICatalogInvalidator, IDisposable
{
    private readonly ConcurrentDictionary<PoolId, Entry> _entries = new();
    private readonly PostgresCatalogReader _reader;
    private readonly IConnectionMultiplexer _redis;
    private readonly RedisKeys _keys;
    private readonly TimeProvider _time;
    private readonly CatalogCacheOptions _options;
    private readonly ILogger<CachedLicenseCatalog> _logger;

    public CachedLicenseCatalog(
        PostgresCatalogReader reader,
        IConnectionMultiplexer redis,
        RedisKeys keys,
        TimeProvider time,
        CatalogCacheOptions options,
        ILogger<CachedLicenseCatalog> logger)
    {
        _reader = reader;
        _redis = redis;
        _keys = keys;
        _time = time;
        _options = options;
        _logger = logger;
    }

    /// <summary>Number of policies held; for diagnostics and tests.</summary>
    public int Count => _entries.Count;

    /// <summary>
    /// Starts listening for invalidations from other replicas. Fire-and-forget: the broker starts
    /// even while Redis is away, and the client (re)subscribes whenever it (re)connects.
    /// </summary>
    public Task StartAsync() =>
        _redis.GetSubscriber().SubscribeAsync(_keys.CatalogInvalidationChannel, OnInvalidation, CommandFlags.FireAndForget);

    public async ValueTask<PoolPolicy> GetPoolPolicyAsync(PoolId pool, CancellationToken cancellationToken)
    {
        var now = _time.GetTimestamp();
        if (_entries.TryGetValue(pool, out var entry) && !IsStale(entry, now))
        {
            if (entry.Load.IsCompletedSuccessfully)
            {
                return entry.Load.Result;
            }
        }
        else
        {
            var previous = entry;
            var fresh = new Entry(now, LoadAsync(pool, previous));
            entry = previous is null
                ? _entries.GetOrAdd(pool, fresh)
                : _entries.TryUpdate(pool, fresh, previous) ? fresh : _entries.GetOrAdd(pool, fresh);
        }

        try
        {
            return await entry.Load.WaitAsync(cancellationToken);
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            // A failed load must not stay cached: the next call tries again.
            _entries.TryRemove(KeyValuePair.Create(pool, entry));
            throw;
        }
    }

    /// <summary>Announces a change of a pool (or, with a null product, of every pool of an account) to every replica.</summary>
    public async Task InvalidateAsync(string accountId, string? product)
    {
        var message = accountId + "\n" + (product ?? string.Empty);
        ApplyInvalidation(message);

        // Not retried: a lost message is repaired by CatalogCacheOptions.MaxAge.
        await _redis.GetSubscriber().PublishAsync(_keys.CatalogInvalidationChannel, message);
    }

    public void Dispose() => _redis.GetSubscriber().Unsubscribe(_keys.CatalogInvalidationChannel, OnInvalidation, CommandFlags.FireAndForget);

    private void OnInvalidation(RedisChannel channel, RedisValue message) => ApplyInvalidation(message.ToString());

    private bool IsStale(Entry entry, long now) => _time.GetElapsedTime(entry.LoadedAt, now) > _options.MaxAge;

    private async Task<PoolPolicy> LoadAsync(PoolId pool, Entry? previous)
    {
        try
        {
            return await _reader.LoadPoolPolicyAsync(pool, CancellationToken.None);
        }
        catch (Exception ex) when (previous is { Load.IsCompletedSuccessfully: true })
        {
            LogServingStale(_logger, pool.ToString(), ex);
            return previous.Load.Result;
        }
    }

    private void ApplyInvalidation(string message)
    {
        var parts = message.Split('\n', 2);
        if (parts.Length != 2)
        {
            return;
        }

        foreach (var pool in _entries.Keys)
        {
            if (pool.AccountId == parts[0] && (parts[1].Length == 0 || pool.Product == parts[1]))
            {
                _entries.TryRemove(pool, out _);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reloading the policy of pool {Pool} failed; serving the last known one")]
    private static partial void LogServingStale(ILogger logger, string pool, Exception exception);

    private sealed record Entry(long LoadedAt, Task<PoolPolicy> Load);
}
