using LicenseBroker.Storage.Catalog;
using LicenseBroker.Storage.Postgres;

namespace LicenseBroker.Server.Hosting;

/// <summary>Work done once before the broker takes calls: migrations (if enabled) and the cache's invalidation feed.</summary>
internal sealed partial class BrokerStartup : IHostedService
{
    private readonly PostgresOptions _postgres;
    private readonly MigrationRunner _migrations;
    private readonly CachedLicenseCatalog _catalog;
    private readonly ILogger<BrokerStartup> _logger;

    public BrokerStartup(PostgresOptions postgres, MigrationRunner migrations, CachedLicenseCatalog catalog, ILogger<BrokerStartup> logger)
    {
        _postgres = postgres;
        _migrations = migrations;
        _catalog = catalog;
        _logger = logger;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_postgres.MigrateOnStart)
        {
            var applied = await _migrations.MigrateAsync(cancellationToken);
            LogMigrated(_logger, applied.Count);
        }

        await _catalog.StartAsync();
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Database migrated: {Count} migration(s) applied")]
    private static partial void LogMigrated(ILogger logger, int count);
}
