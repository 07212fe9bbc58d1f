using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Postgres;
using LicenseBroker.Storage.Redis;

namespace LicenseBroker.Server.Hosting;

/// <summary>
/// Moves seat events from the pools' journals in Redis (appended by the pool scripts, in the same atomic step
/// as each change) to PostgreSQL: the audit log, the webhook outbox and the daily counters, in batches, off
/// the request path. Each pool's events are stored in its sequence order, and deleted from the journal only
/// once committed; a write is idempotent by (pool, sequence), so any replica may drain any pool, twice if need
/// be. A broker killed mid-batch, or a PostgreSQL away for minutes, loses nothing: the events wait in Redis.
/// </summary>
/// <remarks>
/// Pools are drained when a script here reports events (<see cref="JournalBacklog"/>), and found by a recovery
/// scan of every subscribed pool's journal at start and every <see cref="ScanInterval"/>: the events a replica
/// that died had announced to nobody else.
/// </remarks>
internal sealed partial class SeatEventDrainService : BackgroundService, IHostedLifecycleService
{
    private const int MaxEntriesPerPool = 100; // an entry holds one script call's events: one, or a sweep's batch
    private const int MaxPoolsPerBatch = 64;
    private const int ScanPageSize = 500;
    private const int LargeBatch = 1000;
    private static readonly TimeSpan LargeBatchPause = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan IdleWait = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan ScanInterval = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan ShutdownDrainLimit = TimeSpan.FromSeconds(10);

    private readonly JournalBacklog _backlog;
    private readonly SeatEventJournal _journal;
    private readonly PostgresSeatEventWriter _writer;
    private readonly PostgresCatalogReader _pools;
    private readonly TimeProvider _time;
    private readonly ILogger<SeatEventDrainService> _logger;
    private int _inFlight;

    public SeatEventDrainService(
        JournalBacklog backlog, SeatEventJournal journal, PostgresSeatEventWriter writer, PostgresCatalogReader pools, TimeProvider time, ILogger<SeatEventDrainService> logger)
    {
        _backlog = backlog;
        _journal = journal;
        _writer = writer;
        _pools = pools;
        _time = time;
        _logger = logger;
    }

    /// <summary>Pools this replica knows hold events not yet stored (marked, or in the batch being written).</summary>
    public int Unwritten => _backlog.Count + Volatile.Read(ref _inFlight);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.Zero;
        var nextScan = _time.GetUtcNow();
        while (!stoppingToken.IsCancellationRequested)
        {
            if (_time.GetUtcNow() >= nextScan && await ScanAsync(stoppingToken))
            {
                nextScan = _time.GetUtcNow() + ScanInterval;
            }

            try
            {
                if (backoff > TimeSpan.Zero)
                {
                    await Task.Delay(backoff, _time, stoppingToken);
                }
                else
                {
                    await _backlog.WaitAsync(IdleWait, stoppingToken);
                }
            }
            catch (OperationCanceledException)
            {
                break;
            }

            backoff = await DrainAsync(stoppingToken) ? TimeSpan.Zero : NextBackoff(backoff);
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        // Store what this replica knows of before it goes (another replica's scan would find it, later).
        // Not bound to the host's token, which may already be cancelled; bounded by its own limit instead.
        using var limit = new CancellationTokenSource(ShutdownDrainLimit);
        while (_backlog.Count > 0 && !limit.IsCancellationRequested)
        {
            if (!await DrainAsync(limit.Token))
            {
                LogLeftForOthers(_logger, _backlog.Count);
                break;
            }
        }
    }

    /// <summary>Stores the events of every marked pool; false when a write failed (the pools stay marked).</summary>
    private async Task<bool> DrainAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            // Counted as in flight before the marks are taken, so Unwritten never dips to 0 early.
            Volatile.Write(ref _inFlight, 1);
            var pools = _backlog.Take(MaxPoolsPerBatch);
            if (pools.Count == 0)
            {
                Volatile.Write(ref _inFlight, 0);
                return true;
            }

            Volatile.Write(ref _inFlight, pools.Count);
            try
            {
                var read = await Task.WhenAll(pools.Select(pool => _journal.ReadAsync(pool, MaxEntriesPerPool, cancellationToken)));

                // One transaction for the batch; within a pool, sequence order (the journal's).
                var batch = read.SelectMany(entries => entries.SelectMany(e => e.Events)).ToList();
                if (batch.Count > 0)
                {
                    await _writer.WriteAsync(batch, cancellationToken);
                }

                for (var i = 0; i < pools.Count; i++)
                {
                    await _journal.DeleteAsync(pools[i], read[i].Select(e => e.EntryId).ToList(), cancellationToken);
                    if (read[i].Count == MaxEntriesPerPool)
                    {
                        _backlog.Mark(pools[i]); // more wait behind this batch
                    }
                }

                // A large batch (a mass expiry's sweeps): pause before the next, so the drain does not take the
                // cores Redis and the request path need while the backlog lasts. The events are durable already.
                if (batch.Count >= LargeBatch)
                {
                    await Task.Delay(LargeBatchPause, _time, cancellationToken);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                pools.ToList().ForEach(_backlog.Mark);
                LogDrainFailed(_logger, pools.Count, ex);
                return false;
            }
            catch (OperationCanceledException)
            {
                pools.ToList().ForEach(_backlog.Mark);
                return false;
            }
            finally
            {
                Volatile.Write(ref _inFlight, 0);
            }
        }
    }

    /// <summary>Marks every subscribed pool whose journal holds events (left by a replica that died, say); false when it failed.</summary>
    private async Task<bool> ScanAsync(CancellationToken cancellationToken)
    {
        try
        {
            PoolId? after = null;
            while (true)
            {
                var page = await _pools.ListPoolsAsync(after, ScanPageSize, cancellationToken);
                if (page.Count == 0)
                {
                    return true;
                }

                var lengths = await _journal.LengthsAsync(page, cancellationToken);
                for (var i = 0; i < page.Count; i++)
                {
                    if (lengths[i] > 0)
                    {
                        _backlog.Mark(page[i]);
                    }
                }

                after = page[^1];
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogScanFailed(_logger, ex);
            return false;
        }
    }

    private static TimeSpan NextBackoff(TimeSpan current) =>
        current == TimeSpan.Zero ? TimeSpan.FromMilliseconds(500) : TimeSpan.FromTicks(Math.Min(current.Ticks * 2, MaxBackoff.Ticks));

    [LoggerMessage(Level = LogLevel.Warning, Message = "Storing the seat events of {Pools} pools failed; they stay in Redis and are retried")]
    private static partial void LogDrainFailed(ILogger logger, int pools, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Scanning the pools' seat event journals failed; retried on the next pass")]
    private static partial void LogScanFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Shutdown: the seat events of {Pools} pools stay in Redis for the other replicas")]
    private static partial void LogLeftForOthers(ILogger logger, int pools);
}
