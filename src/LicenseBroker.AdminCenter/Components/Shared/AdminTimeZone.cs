namespace LicenseBroker.AdminCenter.Components.Shared;

/// <summary>
/// The admin's time zone: chosen on the time zone page (an IANA id, kept in a cookie for a year, as the language is), read
/// for each request before the page renders. No script reports the browser's zone: the console runs none (see
/// SecurityHeaders). Unknown or absent: UTC.
/// </summary>
public static class AdminTimeZone
{
    public const string CookieName = "lb_time_zone";

    public static TimeZoneInfo? Find(string? id) =>
        id is { Length: > 0 and <= 64 } && TimeZoneInfo.TryFindSystemTimeZoneById(id, out var zone) && zone.HasIanaId ? zone : null;

    public static IApplicationBuilder UseAdminTimeZone(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        Fmt.Zone = Find(context.Request.Cookies[CookieName]) ?? TimeZoneInfo.Utc;
        await next();
    });

    /// <summary>The zones an admin may choose, by id (IANA), UTC first.</summary>
    public static IReadOnlyList<string> Choices { get; } =
        ["UTC", .. TimeZoneInfo.GetSystemTimeZones().Where(z => z.HasIanaId && z.Id.Contains('/', StringComparison.Ordinal) && !z.Id.StartsWith("Etc/", StringComparison.Ordinal))
            .Select(z => z.Id).Order(StringComparer.Ordinal)];
}
