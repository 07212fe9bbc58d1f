using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Postgres;

namespace LicenseBroker.Server.Hosting;

/// <summary>
/// Moves seat events from the in-memory buffer to PostgreSQL in batches, off the request path.
/// A failed batch is kept and retried with backoff (nothing is dropped while PostgreSQL is away);
/// on shutdown the buffer is drained after the server has finished its calls in flight
/// (<see cref="StoppedAsync"/> runs once every hosted service, Kestrel included, has stopped).
/// </summary>
internal sealed partial class AuditFlushService : BackgroundService, IHostedLifecycleService
{
    private const int MaxBatch = 2000;
    private static readonly TimeSpan FlushInterval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan ShutdownDrainLimit = TimeSpan.FromSeconds(10);

    private readonly SeatEventBuffer _buffer;
    private readonly PostgresSeatEventWriter _writer;
    private readonly TimeProvider _time;
    private readonly ILogger<AuditFlushService> _logger;
    private readonly List<SeatEvent> _pending = [];
    private int _unwrittenInBatch;

    public AuditFlushService(SeatEventBuffer buffer, PostgresSeatEventWriter writer, TimeProvider time, ILogger<AuditFlushService> logger)
    {
        _buffer = buffer;
        _writer = writer;
        _time = time;
        _logger = logger;
    }

    /// <summary>Seat events recorded and not yet in PostgreSQL (buffered or in the batch being written).</summary>
    public int Unwritten => _buffer.Pending + Volatile.Read(ref _unwrittenInBatch);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.Zero;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(backoff > TimeSpan.Zero ? backoff : FlushInterval, _time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            backoff = await FlushOnceAsync(stoppingToken) ? TimeSpan.Zero : NextBackoff(backoff);
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        // Drain what is left: a clean shutdown loses no audit row. Not bound to the host's token,
        // which may already be cancelled; bounded by its own limit instead.
        using var limit = new CancellationTokenSource(ShutdownDrainLimit);
        while ((_pending.Count > 0 || _buffer.Pending > 0) && !limit.IsCancellationRequested)
        {
            if (!await FlushOnceAsync(limit.Token))
            {
                LogLostOnShutdown(_logger, _pending.Count + _buffer.Pending);
                break;
            }
        }
    }

    /// <summary>Writes up to one batch; false when the write failed (the batch is kept).</summary>
    private async Task<bool> FlushOnceAsync(CancellationToken cancellationToken)
    {
        // Counted as in the batch before leaving the buffer, so Unwritten never dips to 0 early.
        Volatile.Write(ref _unwrittenInBatch, _pending.Count + Math.Min(_buffer.Pending, MaxBatch - _pending.Count));
        while (_pending.Count < MaxBatch && _buffer.TryTake(out var next))
        {
            _pending.Add(next);
        }

        Volatile.Write(ref _unwrittenInBatch, _pending.Count);

        if (_pending.Count == 0)
        {
            return true;
        }

        try
        {
            await _writer.WriteAsync(_pending, cancellationToken);
            _pending.Clear();
            Volatile.Write(ref _unwrittenInBatch, 0);
            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogFlushFailed(_logger, _pending.Count, ex);
            return false;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private static TimeSpan NextBackoff(TimeSpan current) =>
        current == TimeSpan.Zero ? TimeSpan.FromMilliseconds(500) : TimeSpan.FromTicks(Math.Min(current.Ticks * 2, MaxBackoff.Ticks));

    [LoggerMessage(Level = LogLevel.Warning, Message = "Writing {Count} audit events failed; they are kept and retried")]
    private static partial void LogFlushFailed(ILogger logger, int count, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Shutdown: {Count} audit events could not be written before the time limit")]
    private static partial void LogLostOnShutdown(ILogger logger, int count);
}
