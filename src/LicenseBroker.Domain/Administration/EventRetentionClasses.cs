namespace LicenseBroker.Domain.Administration;

/// <summary>
/// How long an account's events are kept (audit log, webhook messages, delivery log). A few classes only: each is a
/// partition of every month (migration 0019, lb_retention_classes(), which must list the same days), dropped whole.
/// </summary>
public static class EventRetentionClasses
{
    /// <summary>Unless the account chose otherwise: the seat planner replays up to 400 days.</summary>
    public const int DefaultDays = 400;

    /// <summary>The retentions an account may choose, in days.</summary>
    public static readonly IReadOnlyList<int> AllowedDays = [90, 180, 400, 730, 1825];

    public static bool IsAllowed(int days) => AllowedDays.Contains(days);
}
