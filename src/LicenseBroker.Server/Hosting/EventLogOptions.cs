namespace LicenseBroker.Server.Hosting;

/// <summary>The event log's partition upkeep (audit log, webhook outbox, delivery log; migrations 0016 and 0019).</summary>
/// <remarks>How long events are kept is per account (SetEventRetention, default 400 days), not a setting of the broker.</remarks>
public sealed class EventLogOptions
{
    public const string SectionName = "EventLog";

    /// <summary>Monthly partitions made ahead of the current month.</summary>
    public int MonthsAhead { get; set; } = 3;

    /// <summary>How often a replica makes the coming partitions and drops expired ones (any replica may; they take turns on a lock).</summary>
    public TimeSpan MaintenanceInterval { get; set; } = TimeSpan.FromHours(6);

    public void Validate()
    {
        if (MonthsAhead is < 1 or > 24)
        {
            throw new InvalidOperationException($"{SectionName}:MonthsAhead must be between 1 and 24 (is {MonthsAhead}).");
        }

        if (MaintenanceInterval < TimeSpan.FromMinutes(1) || MaintenanceInterval > TimeSpan.FromDays(7))
        {
            throw new InvalidOperationException($"{SectionName}:MaintenanceInterval must be between 1 minute and 7 days (is {MaintenanceInterval}).");
        }
    }
}
