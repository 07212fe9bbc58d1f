using LicenseBroker.Storage.Catalog;
using LicenseBroker.Storage.Postgres;
using LicenseBroker.Storage.Redis;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;

namespace LicenseBroker.Server.Hosting;

/// <summary>
/// Work done once before the broker takes calls: migrations (if enabled), the cache's invalidation feed, its warm-up, and
/// the seat path's (<see cref="RequestPathWarmup"/>).
/// </summary>
internal sealed partial class BrokerStartup : IHostedService
{
    private readonly PostgresOptions _postgres;
    private readonly MigrationRunner _migrations;
    private readonly CachedLicenseCatalog _catalog;
    private readonly CatalogCacheOptions _cache;
    private readonly ILogger<BrokerStartup> _logger;
    private readonly IOptionsMonitor<JwtBearerOptions> _jwt;
    private readonly LeaseLayoutGate _layout;
    private readonly RequestPathWarmup _requestPath;
    private readonly OutageWatch _outages;

    public BrokerStartup(
        PostgresOptions postgres,
        MigrationRunner migrations,
        CachedLicenseCatalog catalog,
        CatalogCacheOptions cache,
        IOptionsMonitor<JwtBearerOptions> jwt,
        LeaseLayoutGate layout,
        RequestPathWarmup requestPath,
        OutageWatch outages,
        ILogger<BrokerStartup> logger)
    {
        _outages = outages;
        _requestPath = requestPath;
        _layout = layout;
        _jwt = jwt;
        _postgres = postgres;
        _migrations = migrations;
        _catalog = catalog;
        _cache = cache;
        _logger = logger;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // Building the token settings now makes a missing or bad signing key stop the start with a clear message.
        _ = _jwt.Get(JwtBearerDefaults.AuthenticationScheme);

        if (_postgres.MigrateOnStart)
        {
            var applied = await _migrations.MigrateAsync(cancellationToken);
            LogMigrated(_logger, applied.Count);
        }

        await _catalog.StartAsync();
        // After the catalog's subscription: this replica is counted among the brokers before it is among the readers.
        await _layout.StartAsync();
        await WarmCatalogAsync(cancellationToken);
        await _requestPath.RunAsync(cancellationToken);
        await LearnLastOutageAsync();
    }

    // Last, just before Kestrel listens: a broker that starts after every replica was down learns of the gap before the
    // apps in grace come back, so their leases are honoured as the outage's (PresenceBeacon keeps it up to date after).
    private async Task LearnLastOutageAsync()
    {
        try
        {
            await _outages.BeatAsync();
        }
        catch (Exception ex) when (ex is StackExchange.Redis.RedisException or TimeoutException)
        {
            // Redis away: the beacon's first beat that gets through learns it.
        }
    }

    private async Task WarmCatalogAsync(CancellationToken cancellationToken)
    {
        if (_cache.WarmMaxPools == 0)
        {
            return;
        }

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(_cache.WarmTimeout);
        try
        {
            var pools = await _catalog.WarmAsync(limit.Token);
            var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            LogWarmed(_logger, pools, elapsed.TotalMilliseconds);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // PostgreSQL away or slow: the broker starts anyway and loads each pool on its first use.
            LogWarmFailed(_logger, ex);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Catalog warmed: {Pools} pool policies loaded in {Milliseconds:F0} ms")]
    private static partial void LogWarmed(ILogger logger, int pools, double milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Warming the catalog failed or took too long; pools not loaded yet load on first use")]
    private static partial void LogWarmFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Database migrated: {Count} migration(s) applied")]
    private static partial void LogMigrated(ILogger logger, int count);
}
