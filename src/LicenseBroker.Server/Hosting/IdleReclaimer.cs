using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Redis;

namespace LicenseBroker.Server.Hosting;

/// <summary>
/// Hands back seats held by sessions that stayed PENDING or idle past their pool's timeout, even when
/// nobody calls into the pool: every Seats:ReclaimPoll it asks the <see cref="ReclaimIndex"/> which
/// pools' deadlines came (on Redis's clock) and runs their bounded sweep, which takes the seats back,
/// gives them to the head of the queue and tells the apps. Every replica runs it; a seat is taken
/// back, and reported, once whichever replica gets there first.
/// </summary>
internal sealed partial class IdleReclaimer : BackgroundService
{
    private const int PoolsPerPoll = 100;

    private readonly ReclaimIndex _index;
    private readonly RedisOccupancyStore _store;
    private readonly SeatOptions _seats;
    private readonly TimeProvider _time;
    private readonly ILogger<IdleReclaimer> _logger;

    public IdleReclaimer(ReclaimIndex index, RedisOccupancyStore store, SeatOptions seats, TimeProvider time, ILogger<IdleReclaimer> logger)
    {
        _index = index;
        _store = store;
        _seats = seats;
        _time = time;
        _logger = logger;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var more = false;
            try
            {
                var due = await _index.DueAsync(PoolsPerPoll);
                foreach (var (pool, dueMs) in due)
                {
                    var (backlog, nextMs) = await _store.ReclaimAsync(pool, _seats.SweepBatch, stoppingToken);
                    await _index.AfterReclaimAsync(pool, dueMs, nextMs);
                    more |= backlog;
                }

                more |= due.Count == PoolsPerPoll;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                // Redis away: the deadlines stay in Redis; the next poll (here or on another replica) meets them.
                LogReclaimFailed(_logger, ex);
            }

            if (!more)
            {
                try
                {
                    await Task.Delay(_seats.ReclaimPoll, _time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Taking back idle seats failed; will retry")]
    private static partial void LogReclaimFailed(ILogger logger, Exception exception);
}
