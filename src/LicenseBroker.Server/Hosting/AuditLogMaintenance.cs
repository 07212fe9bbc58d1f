using LicenseBroker.Storage.Postgres;

namespace LicenseBroker.Server.Hosting;

/// <summary>
/// Keeps the audit log's monthly partitions ahead of time and drops those past the retention, at start and every
/// MaintenanceInterval. A failure (PostgreSQL away) is logged and tried again at the next round: the DEFAULT
/// partition takes any row whose month is missing meanwhile, so nothing is lost.
/// </summary>
internal sealed partial class AuditLogMaintenance : BackgroundService
{
    private readonly AuditLogPartitions _partitions;
    private readonly AuditLogOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<AuditLogMaintenance> _logger;

    public AuditLogMaintenance(AuditLogPartitions partitions, AuditLogOptions options, TimeProvider time, ILogger<AuditLogMaintenance> logger)
    {
        _partitions = partitions;
        _options = options;
        _time = time;
        _logger = logger;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.MaintenanceInterval, _time);
        do
        {
            try
            {
                var made = await _partitions.EnsureAsync(_options.MonthsAhead, stoppingToken);
                var dropped = await _partitions.ExpireAsync(_options.Retention, stoppingToken);
                if (made > 0 || dropped.Count > 0)
                {
                    LogMaintained(_logger, made, dropped);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is Npgsql.NpgsqlException or TimeoutException)
            {
                LogFailed(_logger, ex);
            }
        }
        while (await WaitAsync(timer, stoppingToken));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken stoppingToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Audit log: {Made} monthly partition(s) made ahead; dropped past the retention: {Dropped}")]
    private static partial void LogMaintained(ILogger logger, int made, IReadOnlyList<string> dropped);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Audit log partition maintenance failed; tried again at the next round")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
