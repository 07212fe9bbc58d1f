using System.Security.Cryptography;
using LicenseBroker.Domain.Entitlements;
using NSec.Cryptography;

namespace LicenseBroker.Server.Entitlements;

/// <summary>
/// The Ed25519 keys that sign entitlement documents, shared by every replica through PostgreSQL: one signs,
/// retired ones are published until everything they signed has expired (retired_at + SnapshotLifetime).
/// Loaded on first use, again on a rotation's notification and every RefreshInterval.
/// </summary>
public sealed class EntitlementKeyRing : IDisposable
{
    private static readonly SignatureAlgorithm Ed25519 = SignatureAlgorithm.Ed25519;

    private readonly ISigningKeyStore _store;
    private readonly EntitlementOptions _options;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _loading = new(1, 1);
    private volatile Loaded? _loaded;

    public EntitlementKeyRing(ISigningKeyStore store, EntitlementOptions options, TimeProvider time)
    {
        _store = store;
        _options = options;
        _time = time;
    }

    /// <summary>The published keys, newest first: kid, raw public key, and when a retired one stops verifying.</summary>
    public async Task<IReadOnlyList<PublishedKey>> PublishedAsync(CancellationToken cancellationToken)
    {
        var loaded = await ReadyAsync(cancellationToken);
        var now = _time.GetUtcNow();
        return loaded.Published.Where(k => k.ExpiresAt is null || k.ExpiresAt > now).ToList();
    }

    /// <summary>The id of the key in service, once loaded.</summary>
    public string? SigningKid => _loaded?.Kid;

    /// <summary>Signs <paramref name="document"/> with the key in service.</summary>
    public async Task<(string Kid, byte[] Signature)> SignAsync(byte[] document, CancellationToken cancellationToken)
    {
        var loaded = await ReadyAsync(cancellationToken);
        return (loaded.Kid, Ed25519.Sign(loaded.Signer, document));
    }

    /// <summary>Makes a new key the one that signs; the previous one is retired now. Returns the new key.</summary>
    public async Task<PublishedKey> RotateAsync(CancellationToken cancellationToken)
    {
        var key = NewKey();
        await _store.RotateAsync(key, cancellationToken);
        await ReloadAsync(cancellationToken);
        return new PublishedKey(key.Kid, key.PublicKey, null);
    }

    /// <summary>Reads the keys again (a rotation elsewhere, or the periodic refresh).</summary>
    public async Task ReloadAsync(CancellationToken cancellationToken)
    {
        await _loading.WaitAsync(cancellationToken);
        try
        {
            _loaded = await LoadAsync(cancellationToken);
        }
        finally
        {
            _loading.Release();
        }
    }

    private async ValueTask<Loaded> ReadyAsync(CancellationToken cancellationToken)
    {
        if (_loaded is { } loaded)
        {
            return loaded;
        }

        await _loading.WaitAsync(cancellationToken);
        try
        {
            return _loaded ??= await LoadAsync(cancellationToken);
        }
        finally
        {
            _loading.Release();
        }
    }

    private async Task<Loaded> LoadAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var keys = await _store.ListAsync(_time.GetUtcNow() - _options.SnapshotLifetime, cancellationToken);
            if (keys.FirstOrDefault(k => k.RetiredAt is null) is { } active)
            {
                var signer = Key.Import(Ed25519, active.PrivateKey, KeyBlobFormat.RawPrivateKey);
                return new Loaded(
                    active.Kid,
                    signer,
                    keys.Select(k => new PublishedKey(k.Kid, k.PublicKey, k.RetiredAt + _options.SnapshotLifetime)).ToList());
            }

            if (attempt > 0)
            {
                throw new InvalidOperationException("No entitlement signing key could be stored.");
            }

            // The first replica to start creates the first key; another that raced it keeps the one stored.
            await _store.AddFirstAsync(NewKey(), cancellationToken);
        }
    }

    public void Dispose() => _loading.Dispose();

    private SigningKey NewKey()
    {
        using var key = Key.Create(Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
        var publicKey = key.PublicKey.Export(KeyBlobFormat.RawPublicKey);
        var kid = "ed25519-" + Convert.ToHexStringLower(SHA256.HashData(publicKey).AsSpan(0, 8));
        return new SigningKey(kid, publicKey, key.Export(KeyBlobFormat.RawPrivateKey), _time.GetUtcNow().ToUniversalTime(), null);
    }

    private sealed record Loaded(string Kid, Key Signer, IReadOnlyList<PublishedKey> Published);
}

/// <summary>A public key as published: <see cref="ExpiresAt"/> null while it signs.</summary>
public sealed record PublishedKey(string Kid, byte[] PublicKey, DateTimeOffset? ExpiresAt);
