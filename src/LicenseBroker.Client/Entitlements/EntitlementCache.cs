using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using LicenseBroker.Contracts.V1;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NSec.Cryptography;

namespace LicenseBroker.Client.Entitlements;

/// <summary>The answer of a local check.</summary>
/// <param name="Status">Why the agent is or is not entitled (<see cref="EntitlementStatus.Unspecified"/>: stale, failing closed).</param>
/// <param name="IsStale">The copy is older than the last document's not_after allowed.</param>
public readonly record struct EntitlementAnswer(EntitlementStatus Status, bool IsStale)
{
    /// <summary>True when the agent may use the product.</summary>
    public bool IsEntitled => Status == EntitlementStatus.Entitled;
}

/// <summary>What became of a document offered to the cache.</summary>
public enum DocumentOutcome
{
    /// <summary>Verified and applied (or a keep-alive that renewed not_after).</summary>
    Applied,

    /// <summary>Verified, but it continues from a version the cache does not hold: a snapshot is needed.</summary>
    Gap,

    /// <summary>Signature missing or wrong, or made with a key that is unknown or expired.</summary>
    BadSignature,

    /// <summary>About another account.</summary>
    OtherAccount,

    /// <summary>Older than the state held (a replay).</summary>
    Outdated,

    /// <summary>Past its not_after, or not a document at all.</summary>
    Invalid,
}

/// <summary>
/// One account's entitlements held in memory, for services that check on their hot path: it loads the
/// signed snapshot, follows the change stream, verifies every signature (Ed25519, keys from the broker),
/// and answers <see cref="IsEntitled"/> with no network call and no allocation. When the broker cannot be
/// reached it keeps answering until the last document's not_after, then fails closed (or, with
/// <see cref="StalePolicy.LastKnownFlagged"/>, answers flagged); it reconnects and catches up by itself.
/// <code>
/// await using var cache = new EntitlementCache(new() { Address = new("https://licenses.example.com"), AccountId = "acme", AccessTokenProvider = tokens.GetAsync });
/// await cache.StartAsync(ct);
/// if (cache.IsEntitled("alice@acme.example", "remote-support")) { ... }
/// </code>
/// </summary>
public sealed partial class EntitlementCache : IAsyncDisposable
{
    private static readonly SignatureAlgorithm Ed25519 = SignatureAlgorithm.Ed25519;
    private static readonly TimeSpan KeyReadSpacing = TimeSpan.FromSeconds(1);

    private readonly EntitlementCacheOptions _options;
    private readonly GrpcChannel _channel;
    private readonly EntitlementService.EntitlementServiceClient _broker;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _applying = new(1, 1);
    private volatile EntitlementIndex? _index;
    private volatile Dictionary<string, VerificationKey> _keys = new(StringComparer.Ordinal);
    private long _notAfterUnixMs;
    private long _keysReadAt;
    private long _refused;
    private Task? _following;

    /// <summary>A cache of <see cref="EntitlementCacheOptions.AccountId"/>; the options are checked at once. Call <see cref="StartAsync"/>.</summary>
    public EntitlementCache(EntitlementCacheOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _channel = Connection.Open(options.Address, options.HttpHandler, options.LoggerFactory);
        _broker = new EntitlementService.EntitlementServiceClient(_channel);
        _logger = options.LoggerFactory?.CreateLogger<EntitlementCache>() ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>The version held; -1 before the first snapshot.</summary>
    public long Version => _index?.Version ?? -1;

    /// <summary>After this instant, without news from the broker, the copy is stale.</summary>
    public DateTimeOffset NotAfter => DateTimeOffset.FromUnixTimeMilliseconds(Interlocked.Read(ref _notAfterUnixMs));

    /// <summary>True once the copy has outlived the last document's not_after.</summary>
    public bool IsStale => _options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds() >= Interlocked.Read(ref _notAfterUnixMs);

    /// <summary>How much longer the copy is valid (negative: stale for that long).</summary>
    public TimeSpan ValidFor => NotAfter - _options.TimeProvider.GetUtcNow();

    /// <summary>Documents refused so far (bad signature, other account, replay, expired).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Raised after a change or snapshot is applied, with the new version.</summary>
    public event Action<long>? Changed;

    /// <summary>
    /// Loads the keys and the snapshot (retrying while the broker is unreachable, until <paramref name="cancellationToken"/>),
    /// then follows the change stream in the background. Throws <see cref="LicenseBrokerException"/> when the broker refuses
    /// (an unknown account, a token that may not read it).
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await ReadKeysAsync(cancellationToken).ConfigureAwait(false);
                var snapshot = await _broker.GetEntitlementSnapshotAsync(new GetEntitlementSnapshotRequest { AccountId = _options.AccountId }, await CallAsync(cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
                var outcome = await ApplyAsync(snapshot, cancellationToken).ConfigureAwait(false);
                if (outcome != DocumentOutcome.Applied)
                {
                    throw new InvalidDataException($"The broker's snapshot was refused: {outcome}.");
                }

                break;
            }
            catch (RpcException ex) when (!new LicenseBrokerException(ex).IsTransient || cancellationToken.IsCancellationRequested)
            {
                throw new LicenseBrokerException(ex);
            }
            catch (RpcException ex)
            {
                LogReconnecting(_logger, ex.StatusCode, ex.Status.Detail);
                await Task.Delay(Backoff(attempt), _options.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
        }

        _following = FollowAsync(_stopping.Token);
    }

    /// <summary>True when the agent may use the product now, by the copy held (false when stale and failing closed).</summary>
    public bool IsEntitled(string agentId, string product) => Check(agentId, product).IsEntitled;

    /// <summary>The answer with its reason and whether the copy is stale. No network call, no allocation.</summary>
    public EntitlementAnswer Check(string agentId, string product)
    {
        var now = _options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        var stale = now >= Interlocked.Read(ref _notAfterUnixMs);
        if (_index is not { } index || (stale && _options.WhenStale == StalePolicy.FailClosed))
        {
            return new EntitlementAnswer(EntitlementStatus.Unspecified, IsStale: true);
        }

        return new EntitlementAnswer(index.Decide(agentId, product, now), stale);
    }

    /// <summary>
    /// Verifies a document (signature, key, account, version, not_after) and applies it; anything refused leaves
    /// the state as it was. The stream calls this; so may a service that receives documents another way.
    /// </summary>
    public async Task<DocumentOutcome> ApplyAsync(SignedEntitlements document, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(document);
        await _applying.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var outcome = await ApplyLockedAsync(document, cancellationToken).ConfigureAwait(false);
            if (outcome is not (DocumentOutcome.Applied or DocumentOutcome.Gap))
            {
                Interlocked.Increment(ref _refused);
                LogRefused(_logger, outcome, document.Kid);
            }

            return outcome;
        }
        finally
        {
            _applying.Release();
        }
    }

    private async Task<DocumentOutcome> ApplyLockedAsync(SignedEntitlements envelope, CancellationToken cancellationToken)
    {
        var now = _options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        if (!_keys.ContainsKey(envelope.Kid))
        {
            // A key not seen yet: a rotation. Read the keys again, at most once a second (a forger cannot make us
            // hammer the broker; documents wait meanwhile, they are applied in order anyway).
            var wait = KeyReadSpacing - _options.TimeProvider.GetElapsedTime(Interlocked.Read(ref _keysReadAt));
            try
            {
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
                }

                await ReadKeysAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException ex)
            {
                LogReconnecting(_logger, ex.StatusCode, ex.Status.Detail);
            }
        }

        if (!_keys.TryGetValue(envelope.Kid, out var key) || (key.ExpiresUnixMs != 0 && key.ExpiresUnixMs <= now)
            || envelope.Signature.Length != Ed25519.SignatureSize || !Ed25519.Verify(key.PublicKey, envelope.Document.Span, envelope.Signature.Span))
        {
            return DocumentOutcome.BadSignature;
        }

        EntitlementDocument document;
        try
        {
            document = EntitlementDocument.Parser.ParseFrom(envelope.Document);
        }
        catch (InvalidProtocolBufferException)
        {
            return DocumentOutcome.Invalid;
        }

        if (document.AccountId != _options.AccountId)
        {
            return DocumentOutcome.OtherAccount;
        }

        if (document.NotAfterUnixMs <= now)
        {
            return DocumentOutcome.Invalid;
        }

        var held = _index;
        switch (document.Kind)
        {
            case EntitlementDocumentKind.Snapshot when held is null || document.Version >= held.Version:
                _index = EntitlementIndex.FromSnapshot(document);
                break;
            case EntitlementDocumentKind.Changes when held is not null && document.FromVersion == held.Version && document.Version >= document.FromVersion:
                if (document.Version > held.Version)
                {
                    _index = held.With(document);
                }

                break;
            case EntitlementDocumentKind.Changes when held is null || document.Version > held.Version:
                return DocumentOutcome.Gap;
            case EntitlementDocumentKind.Snapshot or EntitlementDocumentKind.Changes:
                return DocumentOutcome.Outdated;
            default:
                return DocumentOutcome.Invalid;
        }

        // not_after only moves forward: an older keep-alive delivered late does not shorten it.
        var notAfter = Interlocked.Read(ref _notAfterUnixMs);
        if (document.NotAfterUnixMs > notAfter)
        {
            Interlocked.Exchange(ref _notAfterUnixMs, document.NotAfterUnixMs);
        }

        if (!ReferenceEquals(held, _index))
        {
            Changed?.Invoke(_index!.Version);
        }

        return DocumentOutcome.Applied;
    }

    private async Task FollowAsync(CancellationToken stopping)
    {
        var attempt = 0;
        var keysRefresh = _options.TimeProvider.GetTimestamp();
        var needSnapshot = false;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                if (_options.TimeProvider.GetElapsedTime(keysRefresh) > _options.KeyRefreshInterval)
                {
                    await ReadKeysAsync(stopping).ConfigureAwait(false);
                    keysRefresh = _options.TimeProvider.GetTimestamp();
                }

                var request = new WatchEntitlementsRequest { AccountId = _options.AccountId, SinceVersion = needSnapshot ? 0 : Math.Max(0, Version) };
                using var call = _broker.WatchEntitlements(request, await CallAsync(stopping).ConfigureAwait(false));
                needSnapshot = false;
                while (await call.ResponseStream.MoveNext(stopping).ConfigureAwait(false))
                {
                    attempt = 0;
                    var outcome = await ApplyAsync(call.ResponseStream.Current, stopping).ConfigureAwait(false);
                    if (outcome != DocumentOutcome.Applied)
                    {
                        // A gap, or something we refuse: start again from a snapshot.
                        needSnapshot = true;
                        break;
                    }
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && stopping.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException ex)
            {
                LogReconnecting(_logger, ex.StatusCode, ex.Status.Detail);
            }

            try
            {
                await Task.Delay(Backoff(attempt++), _options.TimeProvider, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task ReadKeysAsync(CancellationToken cancellationToken)
    {
        Interlocked.Exchange(ref _keysReadAt, _options.TimeProvider.GetTimestamp());
        var response = await _broker.ListEntitlementKeysAsync(new ListEntitlementKeysRequest(), await CallAsync(cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
        var keys = new Dictionary<string, VerificationKey>(StringComparer.Ordinal);
        foreach (var key in response.Keys)
        {
            if (key.PublicKey.Length == Ed25519.PublicKeySize
                && PublicKey.TryImport(Ed25519, key.PublicKey.Span, KeyBlobFormat.RawPublicKey, out var publicKey) && publicKey is not null)
            {
                keys[key.Kid] = new VerificationKey(publicKey, key.ExpiresUnixMs);
            }
        }

        _keys = keys;
    }

    private async Task<CallOptions> CallAsync(CancellationToken cancellationToken) =>
        new(new Metadata { { "Authorization", "Bearer " + await _options.AccessTokenProvider(cancellationToken).ConfigureAwait(false) } }, cancellationToken: cancellationToken);

    private TimeSpan Backoff(int attempt) => Connection.Backoff(attempt, _options.FirstRetryDelay, _options.MaxRetryDelay);

    /// <summary>Stops following the stream and closes the channel.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_following is not null)
        {
            await _following.ConfigureAwait(false);
        }

        _channel.Dispose();
        _stopping.Dispose();
        _applying.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Entitlement stream interrupted ({Status}: {Detail}); reconnecting")]
    private static partial void LogReconnecting(ILogger logger, StatusCode status, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Entitlement document refused ({Outcome}, key {Kid}); the state held is unchanged")]
    private static partial void LogRefused(ILogger logger, DocumentOutcome outcome, string kid);

    private sealed record VerificationKey(PublicKey PublicKey, long ExpiresUnixMs);
}
