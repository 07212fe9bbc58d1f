using System.Collections.Concurrent;
using LicenseBroker.Domain.Entitlements;
using Microsoft.Extensions.Caching.Memory;
using V1 = LicenseBroker.Contracts.V1;

namespace LicenseBroker.Server.Entitlements;

/// <summary>
/// Signed snapshots, built once per account version on this replica: a fleet of services starting together
/// (a deploy of the relay) costs one read of the account and one signature, and each asks PostgreSQL only
/// for the account's version. A snapshot is served again while younger than KeepAliveInterval (so its
/// not_after is never much shorter than a fresh one's) and signed by the key in service (a rotation signs
/// anew); memory is bounded by SnapshotCacheBytes.
/// </summary>
internal sealed class EntitlementSnapshots : IDisposable
{
    private readonly IEntitlementSource _source;
    private readonly EntitlementDocuments _documents;
    private readonly EntitlementKeyRing _keys;
    private readonly EntitlementOptions _options;
    private readonly TimeProvider _time;
    private readonly MemoryCache _cache;
    private readonly ConcurrentDictionary<(string, long), Lazy<Task<V1.SignedEntitlements>>> _building = new();

    public EntitlementSnapshots(IEntitlementSource source, EntitlementDocuments documents, EntitlementKeyRing keys, EntitlementOptions options, TimeProvider time)
    {
        _source = source;
        _documents = documents;
        _keys = keys;
        _options = options;
        _time = time;
        _cache = new MemoryCache(new MemoryCacheOptions { SizeLimit = options.SnapshotCacheBytes });
    }

    /// <summary>The account's snapshot at its current version, or null when there is no such account.</summary>
    public async Task<V1.SignedEntitlements?> CurrentAsync(string accountId, CancellationToken cancellationToken)
    {
        if (await _source.ReadVersionAsync(accountId, cancellationToken) is not { } version)
        {
            return null;
        }

        if (Cached(accountId, version) is { } cached)
        {
            return cached;
        }

        var state = await _source.ReadAsync(accountId, cancellationToken);
        return state is null ? null : await OfAsync(state, cancellationToken);
    }

    /// <summary>The snapshot of <paramref name="state"/> (signed once per version, whoever asks).</summary>
    public async Task<V1.SignedEntitlements> OfAsync(AccountEntitlements state, CancellationToken cancellationToken)
    {
        if (Cached(state.AccountId, state.Version) is { } cached)
        {
            return cached;
        }

        var key = (state.AccountId, state.Version);
        var building = _building.GetOrAdd(key, _ => new Lazy<Task<V1.SignedEntitlements>>(() => BuildAsync(state)));
        try
        {
            return await building.Value.WaitAsync(cancellationToken);
        }
        finally
        {
            if (building.Value.IsCompleted)
            {
                _building.TryRemove(KeyValuePair.Create(key, building));
            }
        }
    }

    public void Dispose() => _cache.Dispose();

    private async Task<V1.SignedEntitlements> BuildAsync(AccountEntitlements state)
    {
        // Not the caller's token: other callers wait for the same build.
        var signed = await _documents.SnapshotAsync(state, CancellationToken.None);
        _cache.Set(
            state.AccountId,
            new Entry(state.Version, _time.GetTimestamp(), signed),
            new MemoryCacheEntryOptions { Size = signed.CalculateSize(), SlidingExpiration = _options.KeepAliveInterval * 2 });
        return signed;
    }

    private V1.SignedEntitlements? Cached(string accountId, long version) =>
        _cache.TryGetValue(accountId, out Entry? entry) && entry!.Version == version && entry.Signed.Kid == _keys.SigningKid && _time.GetElapsedTime(entry.SignedAt) < _options.KeepAliveInterval
            ? entry.Signed
            : null;

    private sealed record Entry(long Version, long SignedAt, V1.SignedEntitlements Signed);
}
