using LicenseBroker.Storage.Redis;
using StackExchange.Redis;

namespace LicenseBroker.Server.Hosting;

/// <summary>
/// Tells Redis every second that this replica reaches it (<see cref="OutageWatch"/>): while any replica runs and reaches
/// Redis there is no gap, so a gap is a time when no app could renew its lease. Redis away: the next beat that gets
/// through ends the gap.
/// </summary>
internal sealed class PresenceBeacon(OutageWatch watch, TimeProvider time) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        try
        {
            do
            {
                try
                {
                    await watch.BeatAsync();
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException)
                {
                    // Unreachable: that is what the gap records.
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }
}
