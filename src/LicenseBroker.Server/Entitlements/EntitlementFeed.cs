using System.Collections.Concurrent;
using System.Globalization;
using System.Threading.Channels;
using LicenseBroker.Domain.Entitlements;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Postgres;
using Npgsql;
using V1 = LicenseBroker.Contracts.V1;

namespace LicenseBroker.Server.Entitlements;

/// <summary>
/// This replica's side of WatchEntitlements. For every account some stream watches, it holds the state at
/// the newest version it read and the last <see cref="EntitlementOptions.ChangesKept"/> signed changes. The
/// commit of an entitlement change notifies lb_entitlements (0014_entitlement_versions.sql); the account's
/// state is read again (one read per account however many streams watch it; reads that arrive together share
/// one, <see cref="CoalescedRounds{TKey}"/>), diffed with the one held, signed once and handed to its streams.
/// The catalog is the only source: a change is the difference between two versions of it.
/// </summary>
internal sealed partial class EntitlementFeed : BackgroundService
{
    private readonly ConcurrentDictionary<string, AccountFeed> _feeds = new(StringComparer.Ordinal);
    private readonly object _membership = new();
    private readonly IEntitlementSource _source;
    private readonly EntitlementDocuments _documents;
    private readonly EntitlementKeyRing _keys;
    private readonly EntitlementOptions _options;
    private readonly NpgsqlDataSource _dataSource;
    private readonly TimeProvider _time;
    private readonly ILogger<EntitlementFeed> _logger;
    private readonly CoalescedRounds<string> _refreshes;

    public EntitlementFeed(
        IEntitlementSource source,
        EntitlementDocuments documents,
        EntitlementKeyRing keys,
        EntitlementOptions options,
        NpgsqlDataSource dataSource,
        TimeProvider time,
        IHostApplicationLifetime lifetime,
        ILogger<EntitlementFeed> logger)
    {
        _source = source;
        _documents = documents;
        _keys = keys;
        _options = options;
        _dataSource = dataSource;
        _time = time;
        _logger = logger;
        _refreshes = new CoalescedRounds<string>(RefreshAsync, StringComparer.Ordinal);

        // A replica that stops ends its streams at once (not after the shutdown timeout): their clients
        // reconnect to another replica and continue from their version.
        lifetime.ApplicationStopping.Register(EndAll);
    }

    /// <summary>
    /// Starts watching <paramref name="accountId"/>: the state is read now (so the version is the newest
    /// committed), and the watch receives every change after it. Null when there is no such account.
    /// </summary>
    public async Task<Watch?> JoinAsync(string accountId, CancellationToken cancellationToken)
    {
        AccountFeed feed;
        var watch = new Watch(this, accountId);
        lock (_membership)
        {
            feed = _feeds.GetOrAdd(accountId, _ => new AccountFeed());
            feed.Watches.Add(watch);
        }

        try
        {
            await _refreshes.RunAsync(accountId).WaitAsync(cancellationToken);
            lock (feed)
            {
                if (feed.State is null)
                {
                    watch.Dispose();
                    return null;
                }

                watch.Start(feed.State, feed.Changes.ToList());
            }

            return watch;
        }
        catch
        {
            watch.Dispose();
            throw;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var listening = PostgresListener.ListenAsync(_dataSource, PostgresEntitlementStore.Channel, OnNotified, ex => LogListenFailed(_logger, ex), stoppingToken);
        using var timer = new PeriodicTimer(_options.RefreshInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                // For a notification lost with a connection: the keys and every watched account, read again.
                OnNotified(null);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }

        await listening;
    }

    private void OnNotified(string? payload)
    {
        if (payload is null || payload == "keys")
        {
            _ = ReloadKeysAsync();
        }

        if (payload is null)
        {
            foreach (var account in _feeds.Keys)
            {
                _ = RefreshQuietlyAsync(account);
            }

            return;
        }

        var parts = payload.Split(' ');
        if (parts.Length == 2 && _feeds.TryGetValue(parts[0], out var feed)
            && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var version) && version > feed.Version)
        {
            _ = RefreshQuietlyAsync(parts[0]);
        }
    }

    private async Task ReloadKeysAsync()
    {
        try
        {
            await _keys.ReloadAsync(CancellationToken.None);
        }
        catch (Exception ex)
        {
            LogRefreshFailed(_logger, "signing keys", ex);
        }
    }

    private async Task RefreshQuietlyAsync(string accountId)
    {
        try
        {
            await _refreshes.RunAsync(accountId);
        }
        catch (Exception ex)
        {
            LogRefreshFailed(_logger, accountId, ex);
        }
    }

    private async Task RefreshAsync(string accountId)
    {
        if (!_feeds.TryGetValue(accountId, out var feed))
        {
            return;
        }

        var fresh = await _source.ReadAsync(accountId, CancellationToken.None);
        if (fresh is null)
        {
            return;
        }

        AccountEntitlements? held;
        lock (feed)
        {
            held = feed.State;
            if (held is null || fresh.Version <= held.Version)
            {
                feed.State ??= fresh;
                return;
            }
        }

        // One refresh of an account runs at a time (CoalescedRounds), so held is still the feed's state here.
        var changes = AccountEntitlements.Diff(held, fresh);
        var signed = await _documents.ChangesAsync(accountId, changes, CancellationToken.None);
        var change = new SignedChange(changes.FromVersion, changes.Version, signed);
        lock (feed)
        {
            feed.State = fresh;
            feed.Changes.Enqueue(change);
            while (feed.Changes.Count > _options.ChangesKept)
            {
                feed.Changes.Dequeue();
            }

            foreach (var watch in feed.Watches)
            {
                watch.Offer(change);
            }
        }
    }

    private void EndAll()
    {
        lock (_membership)
        {
            foreach (var watch in _feeds.Values.SelectMany(f => f.Watches))
            {
                watch.End();
            }
        }
    }

    private void Leave(Watch watch)
    {
        lock (_membership)
        {
            if (_feeds.TryGetValue(watch.AccountId, out var feed) && feed.Watches.Remove(watch) && feed.Watches.Count == 0)
            {
                _feeds.TryRemove(watch.AccountId, out _);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Listening for entitlement changes failed; listening again")]
    private static partial void LogListenFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading the entitlements of {What} failed; the next notification or refresh reads them again")]
    private static partial void LogRefreshFailed(ILogger logger, string what, Exception exception);

    private sealed class AccountFeed
    {
        public AccountEntitlements? State { get; set; }

        public long Version => State?.Version ?? -1;

        public Queue<SignedChange> Changes { get; } = new();

        public HashSet<Watch> Watches { get; } = [];
    }

    /// <summary>A signed change from one version to the next.</summary>
    internal sealed record SignedChange(long FromVersion, long Version, V1.SignedEntitlements Signed);

    /// <summary>One stream's place in a feed: the state when it joined, what it may catch up from, and the changes since.</summary>
    internal sealed class Watch : IDisposable
    {
        // A stream that falls this far behind is ended; its client reconnects and catches up (or resyncs).
        private const int MaxPending = 256;

        private readonly EntitlementFeed _feed;
        private readonly Channel<SignedChange> _pending = Channel.CreateBounded<SignedChange>(new BoundedChannelOptions(MaxPending) { SingleReader = true });
        private IReadOnlyList<SignedChange> _kept = [];
        private bool _disposed;

        public Watch(EntitlementFeed feed, string accountId)
        {
            _feed = feed;
            AccountId = accountId;
        }

        public string AccountId { get; }

        /// <summary>The state when the watch started.</summary>
        public AccountEntitlements State { get; private set; } = null!;

        public ChannelReader<SignedChange> Pending => _pending.Reader;

        internal void Start(AccountEntitlements state, IReadOnlyList<SignedChange> kept)
        {
            State = state;
            _kept = kept;
        }

        internal void Offer(SignedChange change)
        {
            if (State is not null && change.Version > State.Version && !_pending.Writer.TryWrite(change))
            {
                _pending.Writer.TryComplete();
            }
        }

        /// <summary>The kept changes from <paramref name="sinceVersion"/> to the state's version, or null when they do not chain.</summary>
        public IReadOnlyList<V1.SignedEntitlements>? CatchUp(long sinceVersion)
        {
            var chain = new List<V1.SignedEntitlements>();
            var at = sinceVersion;
            foreach (var change in _kept.Where(c => c.FromVersion >= sinceVersion && c.Version <= State.Version))
            {
                if (change.FromVersion != at)
                {
                    return null;
                }

                chain.Add(change.Signed);
                at = change.Version;
            }

            return at == State.Version ? chain : null;
        }

        /// <summary>Ends the stream after what it has (the replica stops).</summary>
        internal void End() => _pending.Writer.TryComplete();

        public void Dispose()
        {
            if (!_disposed)
            {
                _disposed = true;
                _pending.Writer.TryComplete();
                _feed.Leave(this);
            }
        }
    }
}
