using LicenseBroker.Storage.Postgres;

namespace LicenseBroker.Server.Hosting;

/// <summary>
/// Keeps the event log's monthly partitions (audit log, webhook outbox, delivery log) ahead of time and drops those
/// past their accounts' retention, at start and every MaintenanceInterval. A failure (PostgreSQL away) is logged and
/// tried again at the next round: the DEFAULT partitions take any row whose month is missing meanwhile, so nothing is lost.
/// </summary>
internal sealed partial class EventLogMaintenance : BackgroundService
{
    private readonly EventLogPartitions _partitions;
    private readonly EventLogOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<EventLogMaintenance> _logger;

    public EventLogMaintenance(EventLogPartitions partitions, EventLogOptions options, TimeProvider time, ILogger<EventLogMaintenance> logger)
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
                var dropped = await _partitions.ExpireAsync(_time.GetUtcNow(), stoppingToken);
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Event log: {Made} monthly partitions made ahead; dropped past their retention: {Dropped}")]
    private static partial void LogMaintained(ILogger logger, int made, IReadOnlyList<string> dropped);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Event log partition maintenance failed; tried again at the next round")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
