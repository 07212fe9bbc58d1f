using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Redis;

namespace LicenseBroker.Server.Hosting;

/// <summary>
/// The one janitor of the live pools, over the sweep script: it drops what expired and takes back what stayed idle,
/// in bounded batches (Seats:SweepBatch), so neither a mass expiry nor a wave of idle sessions becomes one long
/// script that stalls every pool on the shard. Two things bring a pool to it:
/// <list type="bullet">
/// <item>a call that left expired leases behind (<see cref="ExpiryBacklog"/>): drained batch after batch, the other
/// pools' calls running between two;</item>
/// <item>a reclaim deadline that came while nobody called into the pool (<see cref="ReclaimIndex"/>, asked every
/// Seats:ReclaimPoll on Redis's clock): one batch, and the pool goes to the backlog if more remain.</item>
/// </list>
/// Every replica runs it; the script drops, takes back and reports each lease once, whichever replica gets there first.
/// </summary>
internal sealed partial class PoolJanitor(
    ExpiryBacklog backlog, ReclaimIndex deadlines, RedisOccupancyStore store, SeatOptions seats, TimeProvider time, ILogger<PoolJanitor> logger)
    : BackgroundService
{
    private const int PoolsPerPoll = 100;
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(DrainBacklogAsync(stoppingToken), MeetDeadlinesAsync(stoppingToken));

    private async Task DrainBacklogAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            PoolId pool;
            try
            {
                pool = await backlog.TakeAsync(stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            try
            {
                // One batch per call; the other pools' calls run between two batches.
                while ((await store.SweepAsync(pool, seats.SweepBatch, stoppingToken)).Backlog)
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
                LogSweepFailed(logger, pool.ToString(), ex);
                await Task.Delay(RetryDelay, time, CancellationToken.None);
                backlog.Report(pool);
            }
        }
    }

    private async Task MeetDeadlinesAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var more = false;
            try
            {
                var due = await deadlines.DueAsync(PoolsPerPoll);
                foreach (var (pool, dueMs) in due)
                {
                    var (leftBehind, nextMs) = await store.SweepAsync(pool, seats.SweepBatch, stoppingToken);
                    await deadlines.AfterReclaimAsync(pool, dueMs, nextMs);
                    if (leftBehind)
                    {
                        backlog.Report(pool);
                    }
                }

                more = due.Count == PoolsPerPoll;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                // Redis away: the deadlines stay in Redis; the next poll (here or on another replica) meets them.
                LogReclaimFailed(logger, ex);
            }

            if (!more)
            {
                try
                {
                    await Task.Delay(seats.ReclaimPoll, time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sweeping expired leases of {Pool} failed; will retry")]
    private static partial void LogSweepFailed(ILogger logger, string pool, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Taking back idle seats failed; will retry")]
    private static partial void LogReclaimFailed(ILogger logger, Exception exception);
}
