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
/// the next call reloads it. One load per pool is in flight at a time (no stampede), and loads
/// that arrive together share a query (PostgresCatalogReader). Every subscribed pool is loaded
/// at start (<see cref="WarmAsync"/>); a policy older than MaxAge is refreshed in the background
/// while it keeps serving. When a reload fails and an older policy is known, the older one keeps serving.
/// </summary>
public sealed partial class CachedLicenseCatalog : ILicenseCatalog, ICatalogInvalidator, IDisposable
{
    private readonly ConcurrentDictionary<PoolId, Entry> _entries = new();
    private long _invalidations; // changes announced so far, for the warm-up (see WarmAsync)
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
        if (_entries.TryGetValue(pool, out var entry))
        {
            if (entry.Load.IsCompletedSuccessfully)
            {
                if (IsStale(entry, now))
                {
                    // Refreshed in the background; this call and those that follow serve the policy held
                    // until the new one arrives, so no call waits on a reload (all pools warmed at start
                    // go stale together). Changes do not wait for this: they invalidate at once.
                    StartLoad(pool, new Entry(now, NewLoad(), entry.Load.Result), entry);
                }

                return entry.Load.Result;
            }

            if (entry.Serving is { } serving)
            {
                return serving;
            }
        }
        else
        {
            entry = StartLoad(pool, new Entry(now, NewLoad(), Serving: null), previous: null);
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

    public async ValueTask<PoolPolicy> GetPoolPolicyAsync(PoolId pool, long atLeastVersion, CancellationToken cancellationToken)
    {
        // Twice at most: a fresh read is at the newest version PostgreSQL has (one older than the pool's
        // only if PostgreSQL was restored from an older backup; the caller then gives up, see SeatBroker).
        for (var attempt = 1; ; attempt++)
        {
            var policy = await GetPoolPolicyAsync(pool, cancellationToken);
            if (policy.CatalogVersion >= atLeastVersion || attempt == 2)
            {
                return policy;
            }

            // The copy predates a change the live pool applied (its announcement is still on the way, or
            // was lost): replace it with a fresh load, unless another call did so already.
            if (_entries.TryGetValue(pool, out var entry) && entry.Load.IsCompletedSuccessfully && entry.Load.Result.CatalogVersion < atLeastVersion)
            {
                StartLoad(pool, new Entry(_time.GetTimestamp(), NewLoad(), Serving: null), entry);
            }
        }
    }

    /// <summary>
    /// Loads every subscribed pool's policy in pages of <see cref="PostgresCatalogReader.MaxPoolsPerQuery"/>,
    /// at most <see cref="CatalogCacheOptions.WarmMaxPools"/> of them, so that the login storm after a
    /// deploy finds them in memory. A failure stops the warm-up, not the broker: what is not warm loads on use.
    /// </summary>
    public async Task<int> WarmAsync(CancellationToken cancellationToken)
    {
        var warmed = 0;
        PoolId? after = null;
        while (warmed < _options.WarmMaxPools)
        {
            var page = await _reader.ListPoolsAsync(after, Math.Min(PostgresCatalogReader.MaxPoolsPerQuery, _options.WarmMaxPools - warmed), cancellationToken);
            if (page.Count == 0)
            {
                break;
            }

            var now = _time.GetTimestamp();
            var invalidations = Volatile.Read(ref _invalidations);
            var policies = await _reader.LoadManyAsync(page, cancellationToken);

            // A change announced while the page was read may not be in it: then the page is not kept
            // (its pools load on first use), or a stale policy would serve until MaxAge. Checked again
            // after the adds, for an announcement that came between the check and the adds.
            var added = new List<KeyValuePair<PoolId, Entry>>(policies.Count);
            if (Volatile.Read(ref _invalidations) == invalidations)
            {
                foreach (var (pool, policy) in policies)
                {
                    // A pool already loaded by a call keeps what it has.
                    var loaded = NewLoad();
                    loaded.SetResult(policy);
                    var entry = new Entry(now, loaded, Serving: null);
                    if (_entries.TryAdd(pool, entry))
                    {
                        added.Add(KeyValuePair.Create(pool, entry));
                    }
                }
            }

            if (Volatile.Read(ref _invalidations) != invalidations)
            {
                added.ForEach(entry => _entries.TryRemove(entry));
            }

            warmed += page.Count;
            after = page[^1];
        }

        return warmed;
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

    private static TaskCompletionSource<PoolPolicy> NewLoad() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Puts <paramref name="fresh"/> in place of <paramref name="previous"/> (or of nothing) and, when it
    /// took the place, starts its load; returns the entry in place (another caller's when it was quicker).
    /// </summary>
    private Entry StartLoad(PoolId pool, Entry fresh, Entry? previous)
    {
        var placed = previous is null ? _entries.GetOrAdd(pool, fresh) : _entries.TryUpdate(pool, fresh, previous) ? fresh : previous;
        if (ReferenceEquals(placed, fresh))
        {
            _ = CompleteAsync(pool, fresh.Source, fresh.Serving);
        }

        return placed;
    }

    private async Task CompleteAsync(PoolId pool, TaskCompletionSource<PoolPolicy> load, PoolPolicy? serving)
    {
        try
        {
            load.TrySetResult(await _reader.LoadPoolPolicyAsync(pool, CancellationToken.None));
        }
        catch (Exception ex) when (serving is not null)
        {
            LogServingStale(_logger, pool.ToString(), ex);
            load.TrySetResult(serving);
        }
        catch (Exception ex)
        {
            load.TrySetException(ex);
        }
    }

    private void ApplyInvalidation(string message)
    {
        Interlocked.Increment(ref _invalidations);
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

    /// <summary>A policy (or its load in flight), and while a refresh runs the policy it replaces.</summary>
    private sealed record Entry(long LoadedAt, TaskCompletionSource<PoolPolicy> Source, PoolPolicy? Serving)
    {
        public Task<PoolPolicy> Load => Source.Task;
    }
}
