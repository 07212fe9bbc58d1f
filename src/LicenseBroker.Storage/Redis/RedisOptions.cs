namespace LicenseBroker.Storage.Redis;

/// <summary>Section "Redis" of the settings.</summary>
public sealed class RedisOptions
{
    public const string SectionName = "Redis";

    /// <summary>StackExchange.Redis configuration string, e.g. "127.0.0.1:6379,abortConnect=false".</summary>
    public string Configuration { get; set; } = "127.0.0.1:6379";

    /// <summary>Prefix of every key and channel; lets several deployments (or test runs) share one Redis.</summary>
    public string KeyPrefix { get; set; } = "lb:";

    /// <summary>
    /// Which layout new leases take: Auto (compact once every replica reads it, see <see cref="LeaseLayoutGate"/>), or one
    /// that keeps a rollback to an older version possible (Classic, CompactLongRecords, HolderHash).
    /// </summary>
    public LeaseLayout LeaseLayout { get; set; } = LeaseLayout.Auto;

    /// <summary>
    /// How long every broker replica must have read a lease layout before new leases and pools take it
    /// (<see cref="LeaseLayoutGate"/>): longer than a replica of the version before takes to restart during a rolling
    /// deploy. 0 to 1 hour.
    /// </summary>
    public TimeSpan LayoutSettleTime { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long no replica may reach Redis before it counts as an outage (<see cref="OutageWatch"/>; replicas say they
    /// reach it every second): leases that expire during one are honoured on return within their grace. 3 s to 5 min.
    /// </summary>
    public TimeSpan OutageAfter { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Throws when a setting cannot work, so a bad deployment fails at start.</summary>
    public void Validate()
    {
        if (OutageAfter < TimeSpan.FromSeconds(3) || OutageAfter > TimeSpan.FromMinutes(5))
        {
            throw new InvalidOperationException($"{SectionName}:OutageAfter must be between 3 seconds and 5 minutes (is {OutageAfter}).");
        }

        if (LayoutSettleTime < TimeSpan.Zero || LayoutSettleTime > TimeSpan.FromHours(1))
        {
            throw new InvalidOperationException($"{SectionName}:LayoutSettleTime must be between 0 and 1 hour (is {LayoutSettleTime}).");
        }
    }
}
