using LicenseBroker.Storage.Redis;
using StackExchange.Redis;

namespace LicenseBroker.Server.Hosting;

/// <summary>
/// Tells Redis every second that this replica reaches it (<see cref="OutageWatch"/>): while any replica runs and reaches
/// Redis there is no gap, so a gap is a time when no app could renew its lease. Redis away: the next beat that gets
/// through ends the gap.
/// </summary>
internal sealed class PresenceBeacon(OutageWatch watch, TimeProvider time, ILogger<PresenceBeacon> logger)
    : ReplicaTicker(TimeSpan.FromSeconds(1), time, logger)
{
    protected override async Task TickAsync()
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
}
