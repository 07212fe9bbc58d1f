using LicenseBroker.AdminCenter.Broker;
using LicenseBroker.Contracts.V1;
using Microsoft.Extensions.Caching.Memory;

namespace LicenseBroker.AdminCenter.Components.Shared;

/// <summary>
/// The admin's time zone, read for each request before the page renders: the one they chose on the time zone page, kept
/// per person by the broker (GetMyPreferences, cached here a few minutes); else the one their browser reported
/// (time-zone.js, the console's only script, sets <see cref="BrowserCookieName"/>); else UTC.
/// </summary>
public static class AdminTimeZone
{
    /// <summary>The browser's own zone as its script reported it (an IANA id), until the admin chooses one.</summary>
    public const string BrowserCookieName = "lb_browser_zone";

    /// <summary>How long a person's chosen zone is reused before it is read again (a change made through another console replica shows within it).</summary>
    private static readonly TimeSpan Cached = TimeSpan.FromMinutes(5);

    /// <summary>Where the time shown comes from.</summary>
    public enum Source
    {
        Chosen,
        Browser,
        Default,
    }

    private static readonly AsyncLocal<Source> CurrentSource = new();

    /// <summary>Where the zone of the request being rendered came from.</summary>
    public static Source From => CurrentSource.Value;

    public static TimeZoneInfo? Find(string? id) =>
        id == "UTC" ? TimeZoneInfo.Utc
        : id is { Length: > 0 and <= 64 } && TimeZoneInfo.TryFindSystemTimeZoneById(id, out var zone) && zone.HasIanaId ? zone : null;

    public static IApplicationBuilder UseAdminTimeZone(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var chosen = context.User.Identity?.IsAuthenticated == true ? Find(await ChosenAsync(context)) : null;
        var browser = chosen is null ? Find(context.Request.Cookies[BrowserCookieName]) : null;
        Fmt.Zone = chosen ?? browser ?? TimeZoneInfo.Utc;
        CurrentSource.Value = chosen is not null ? Source.Chosen : browser is not null ? Source.Browser : Source.Default;
        await next();
    });

    /// <summary>Keeps the admin's choice with the broker, and here; false when the broker refused or could not be reached.</summary>
    public static async Task<bool> ChooseAsync(HttpContext context, string zone)
    {
        var broker = context.RequestServices.GetRequiredService<AdminBroker>();
        var result = await broker.CallAsync(async (admin, headers) => await admin.SetMyPreferencesAsync(new SetMyPreferencesRequest { TimeZone = zone }, headers));
        if (result.Ok)
        {
            context.RequestServices.GetRequiredService<IMemoryCache>().Set(Key(context), zone, Cached);
        }

        return result.Ok;
    }

    private static async Task<string?> ChosenAsync(HttpContext context)
    {
        var cache = context.RequestServices.GetRequiredService<IMemoryCache>();
        var key = Key(context);
        if (cache.TryGetValue(key, out string? zone))
        {
            return zone;
        }

        // The broker away: no choice this time (the browser's zone, or UTC), not remembered, so the next page asks again.
        var result = await context.RequestServices.GetRequiredService<AdminBroker>()
            .CallAsync(async (admin, headers) => await admin.GetMyPreferencesAsync(new GetMyPreferencesRequest(), headers));
        if (!result.Ok)
        {
            return null;
        }

        zone = result.Value!.TimeZone;
        cache.Set(key, zone, Cached);
        return zone;
    }

    private static string Key(HttpContext context) =>
        "time-zone:" + context.User.FindFirst(Auth.AdminClaims.Account)?.Value + "\n" + context.User.FindFirst("sub")?.Value;

    /// <summary>The zones an admin may choose, by id (IANA), UTC first.</summary>
    public static IReadOnlyList<string> Choices { get; } =
        ["UTC", .. TimeZoneInfo.GetSystemTimeZones().Where(z => z.HasIanaId && z.Id.Contains('/', StringComparison.Ordinal) && !z.Id.StartsWith("Etc/", StringComparison.Ordinal))
            .Select(z => z.Id).Order(StringComparer.Ordinal)];
}
