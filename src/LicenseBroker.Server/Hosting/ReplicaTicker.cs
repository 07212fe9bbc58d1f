namespace LicenseBroker.Server.Hosting;

/// <summary>
/// Work each replica does on a fixed interval of the replica's clock, first at start, until it stops. A tick that fails
/// in a way the subclass did not expect is logged and the next tick tries again: periodic housekeeping never stops
/// the broker (a background service that throws stops the host, and every call with it).
/// </summary>
internal abstract partial class ReplicaTicker(TimeSpan interval, TimeProvider time, ILogger logger) : BackgroundService
{
    protected abstract Task TickAsync();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            do
            {
                try
                {
                    await TickAsync();
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogTickFailed(logger, GetType().Name, ex);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "{Service} failed a tick; the next one tries again")]
    private static partial void LogTickFailed(ILogger logger, string service, Exception exception);
}
