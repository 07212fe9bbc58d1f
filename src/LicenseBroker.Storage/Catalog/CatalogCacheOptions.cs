namespace LicenseBroker.Storage.Catalog;

/// <summary>Section "CatalogCache" of the settings.</summary>
public sealed class CatalogCacheOptions
{
    public const string SectionName = "CatalogCache";

    /// <summary>
    /// A cached policy is reloaded once it is this old. Changes normally arrive at once through
    /// Redis pub/sub; this bound only repairs a missed invalidation message.
    /// </summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// At start the broker loads up to this many subscribed pools' policies before it takes calls
    /// (0: none), so that the first minute after a deploy does not wait on PostgreSQL pool by pool.
    /// </summary>
    public int WarmMaxPools { get; set; } = 100_000;

    /// <summary>The longest the start waits for the warm-up; what is not warm by then loads on first use.</summary>
    public TimeSpan WarmTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Throws on a setting the cache cannot work with; called once at start.</summary>
    public void Validate()
    {
        if (MaxAge <= TimeSpan.Zero)
        {
            throw new InvalidOperationException($"{SectionName}:MaxAge must be positive (is {MaxAge}).");
        }

        if (WarmMaxPools < 0)
        {
            throw new InvalidOperationException($"{SectionName}:WarmMaxPools must not be negative (is {WarmMaxPools}).");
        }

        if (WarmTimeout <= TimeSpan.Zero)
        {
            throw new InvalidOperationException($"{SectionName}:WarmTimeout must be positive (is {WarmTimeout}).");
        }
    }
}
