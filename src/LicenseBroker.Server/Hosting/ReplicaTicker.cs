namespace LicenseBroker.Server.Hosting;

/// <summary>
/// Work each replica does on a fixed interval of the replica's clock, first at start, until it stops. A tick that fails
/// is the subclass's to handle (the next tick tries again); only stopping ends the loop.
/// </summary>
internal abstract class ReplicaTicker(TimeSpan interval, TimeProvider time) : BackgroundService
{
    protected abstract Task TickAsync();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            do
            {
                await TickAsync();
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }
}
