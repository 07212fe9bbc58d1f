using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Redis;

namespace LicenseBroker.Server.Hosting;

/// <summary>
/// Drains pools whose calls left expired leases behind (see <see cref="ExpiryBacklog"/>), one bounded
/// batch per Redis call (Seats:SweepBatch), so a mass expiry never becomes one long script that
/// stalls every pool on the shard. Any replica may sweep any pool: the script drops and reports each
/// lease once, so nothing is audited twice.
/// </summary>
internal sealed partial class ExpirySweeper : BackgroundService
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    private readonly ExpiryBacklog _backlog;
    private readonly RedisOccupancyStore _store;
    private readonly SeatOptions _seats;
    private readonly TimeProvider _time;
    private readonly ILogger<ExpirySweeper> _logger;

    public ExpirySweeper(ExpiryBacklog backlog, RedisOccupancyStore store, SeatOptions seats, TimeProvider time, ILogger<ExpirySweeper> logger)
    {
        _backlog = backlog;
        _store = store;
        _seats = seats;
        _time = time;
        _logger = logger;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            PoolId pool;
            try
            {
                pool = await _backlog.TakeAsync(stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            try
            {
                // One batch per call; the other pools' calls run between two batches.
                while (await _store.SweepAsync(pool, _seats.SweepBatch, stoppingToken))
                {
                    await Task.Yield();
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                // Redis away: the backlog stays in Redis; try again shortly (the next call into the pool also reports it).
                LogSweepFailed(_logger, pool.ToString(), ex);
                await Task.Delay(RetryDelay, _time, CancellationToken.None);
                _backlog.Report(pool);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sweeping expired leases of {Pool} failed; will retry")]
    private static partial void LogSweepFailed(ILogger logger, string pool, Exception exception);
}
