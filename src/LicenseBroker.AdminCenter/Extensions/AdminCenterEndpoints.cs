using System.Net;
using LicenseBroker.AdminCenter.Auth;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Localization;
using Microsoft.AspNetCore.Mvc;

namespace LicenseBroker.AdminCenter.Extensions;

/// <summary>The few endpoints that are not pages: sign-in and out, the language switcher, health.</summary>
public static partial class AdminCenterEndpoints
{
    public static void MapAdminCenterEndpoints(this WebApplication app)
    {
        app.MapGet("/healthz", () => Results.Text("ok"));

        app.MapGet("/signin", (string? returnUrl) =>
            Results.Challenge(new AuthenticationProperties { RedirectUri = LocalOrRoot(returnUrl) }, [OpenIdConnectDefaults.AuthenticationScheme]));

        // Form posts: antiforgery is checked for every [FromForm] endpoint by UseAntiforgery.
        app.MapPost("/signout", async (HttpContext context, [FromForm] string? unused) =>
        {
            var oidc = await context.GetTokenAsync("id_token") is not null;
            await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            return oidc
                ? Results.SignOut(new AuthenticationProperties { RedirectUri = "/" }, [OpenIdConnectDefaults.AuthenticationScheme])
                : Results.LocalRedirect("/");
        });

        app.MapPost("/culture", (HttpContext context, [FromForm] string culture, [FromForm] string? returnUrl) =>
        {
            if (AdminCenterServiceExtensions.Cultures.Any(c => c.Name == culture))
            {
                context.Response.Cookies.Append(
                    CookieRequestCultureProvider.DefaultCookieName,
                    CookieRequestCultureProvider.MakeCookieValue(new RequestCulture(culture)),
                    new CookieOptions { Expires = DateTimeOffset.UtcNow.AddYears(1), HttpOnly = true, SameSite = SameSiteMode.Lax, IsEssential = true, Secure = context.Request.IsHttps });
            }

            return Results.LocalRedirect(LocalOrRoot(returnUrl));
        });

        app.MapPost("/time-zone", async (HttpContext context, [FromForm] string zone, [FromForm] string? returnUrl) =>
        {
            // Only a zone of the list (UTC included) is kept, by the broker for this person; anything else changes nothing.
            // A refusal or an unreachable broker shows on the page (saved=0) instead of a silent "done".
            var saved = Components.Shared.AdminTimeZone.Find(zone) is not null && await Components.Shared.AdminTimeZone.ChooseAsync(context, zone);
            return saved
                ? Results.LocalRedirect(LocalOrRoot(returnUrl))
                : Results.LocalRedirect("/time-zone?saved=0&returnUrl=" + Uri.EscapeDataString(LocalOrRoot(returnUrl)));
        }).RequireAuthorization();

        app.MapPost("/dev-sign-in", async (HttpContext context, DevSignIn devSignIn, [FromForm] string agentId, [FromForm] string? returnUrl) =>
        {
            if (!devSignIn.Enabled)
            {
                return Results.NotFound();
            }

            return await devSignIn.SignInAsync(context, agentId)
                ? Results.LocalRedirect(LocalOrRoot(returnUrl))
                : Results.LocalRedirect("/dev-sign-in");
        });
    }

    /// <summary>Only this app's own paths are followed after a form (no open redirect).</summary>
    public static string LocalOrRoot(string? url) =>
        url is { Length: > 0 } && url[0] == '/' && (url.Length == 1 || (url[1] != '/' && url[1] != '\\')) ? url : "/";

    /// <summary>The development sign-in is refused on any address but loopback: it signs in without a password.</summary>
    public static bool DevSignInAllowed(WebApplication app, AdminCenterOptions options)
    {
        if (!options.DevSignIn.Enabled)
        {
            return true;
        }

        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var exposed = addresses.Where(address => !IsLoopback(address)).ToList();
        if (exposed.Count == 0)
        {
            return true;
        }

        LogRefused(app.Logger, exposed);
        return false;
    }

    [LoggerMessage(Level = LogLevel.Critical, Message = "AdminCenter:DevSignIn is on and the console listens on {Addresses}: refusing to start. Use loopback only, or turn the development sign-in off.")]
    private static partial void LogRefused(ILogger logger, IEnumerable<string> addresses);

    private static bool IsLoopback(string address)
    {
        var host = new Uri(address.Replace("://+", "://0.0.0.0", StringComparison.Ordinal).Replace("://*", "://0.0.0.0", StringComparison.Ordinal)).Host.Trim('[', ']');
        return host == "localhost" || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));
    }
}
