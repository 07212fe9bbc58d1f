namespace LicenseBroker.Server.Entitlements;

/// <summary>Signed entitlement snapshots and their change stream (section "Entitlements"); checked at start.</summary>
public sealed class EntitlementOptions
{
    public const string SectionName = "Entitlements";

    /// <summary>
    /// How long a snapshot or change is valid (its not_after): a service that hears nothing newer for this
    /// long treats its copy as stale. Also how long a retired key keeps verifying. The staleness bound.
    /// </summary>
    public TimeSpan SnapshotLifetime { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often a quiet stream sends a signed keep-alive that renews not_after (well under the lifetime).</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How often a replica re-reads the signing keys and the watched accounts, for a notification lost with a connection.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Changes a replica keeps per watched account, so a stream that reconnects continues without a snapshot.</summary>
    public int ChangesKept { get; set; } = 64;

    /// <summary>Memory for signed snapshots kept per replica (one per account, at its version), in bytes.</summary>
    public long SnapshotCacheBytes { get; set; } = 64L * 1024 * 1024;

    public void Validate()
    {
        if (SnapshotCacheBytes is < 0 or > 16L * 1024 * 1024 * 1024)
        {
            throw new InvalidOperationException($"{SectionName}:SnapshotCacheBytes must be between 0 and 16 GiB.");
        }

        if (SnapshotLifetime < TimeSpan.FromSeconds(1) || SnapshotLifetime > TimeSpan.FromDays(1))
        {
            throw new InvalidOperationException($"{SectionName}:SnapshotLifetime must be between 1 second and 1 day.");
        }

        if (KeepAliveInterval < TimeSpan.FromMilliseconds(100) || KeepAliveInterval * 2 > SnapshotLifetime)
        {
            throw new InvalidOperationException($"{SectionName}:KeepAliveInterval must be at least 100 ms and at most half of SnapshotLifetime.");
        }

        if (RefreshInterval < TimeSpan.FromMilliseconds(100) || RefreshInterval > TimeSpan.FromHours(1))
        {
            throw new InvalidOperationException($"{SectionName}:RefreshInterval must be between 100 ms and 1 hour.");
        }

        if (ChangesKept is < 1 or > 10_000)
        {
            throw new InvalidOperationException($"{SectionName}:ChangesKept must be between 1 and 10000.");
        }
    }
}
