namespace LicenseBroker.Server.Hosting;

/// <summary>The audit log's partitions and retention (section "AuditLog"); checked at start.</summary>
public sealed class AuditLogOptions
{
    public const string SectionName = "AuditLog";

    /// <summary>
    /// How long audit events are kept (default 400 days: the seat planner replays up to 400). A month's partition
    /// is dropped whole once its last day is this old.
    /// </summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(400);

    /// <summary>Monthly partitions made ahead of the current month.</summary>
    public int MonthsAhead { get; set; } = 3;

    /// <summary>How often a replica makes the coming partitions and drops expired ones (any replica may; they take turns on a lock).</summary>
    public TimeSpan MaintenanceInterval { get; set; } = TimeSpan.FromHours(6);

    public void Validate()
    {
        if (Retention < TimeSpan.FromDays(31) || Retention > TimeSpan.FromDays(3660))
        {
            throw new InvalidOperationException($"{SectionName}:Retention must be between 31 days and 10 years (is {Retention}).");
        }

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
