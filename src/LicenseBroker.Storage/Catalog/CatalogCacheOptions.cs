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
}
