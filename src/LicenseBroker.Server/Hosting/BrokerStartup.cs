using LicenseBroker.Storage.Catalog;
using LicenseBroker.Storage.Postgres;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;

namespace LicenseBroker.Server.Hosting;

/// <summary>Work done once before the broker takes calls: migrations (if enabled) and the cache's invalidation feed.</summary>
internal sealed partial class BrokerStartup : IHostedService
{
    private readonly PostgresOptions _postgres;
    private readonly MigrationRunner _migrations;
    private readonly CachedLicenseCatalog _catalog;
    private readonly ILogger<BrokerStartup> _logger;
    private readonly IOptionsMonitor<JwtBearerOptions> _jwt;

    public BrokerStartup(
        PostgresOptions postgres,
        MigrationRunner migrations,
        CachedLicenseCatalog catalog,
        IOptionsMonitor<JwtBearerOptions> jwt,
        ILogger<BrokerStartup> logger)
    {
        _jwt = jwt;
        _postgres = postgres;
        _migrations = migrations;
        _catalog = catalog;
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
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Database migrated: {Count} migration(s) applied")]
    private static partial void LogMigrated(ILogger logger, int count);
}
