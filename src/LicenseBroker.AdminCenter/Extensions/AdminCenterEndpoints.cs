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

        app.MapPost("/time-zone", (HttpContext context, [FromForm] string zone, [FromForm] string? returnUrl) =>
        {
            // Only a zone of the list (UTC included) is kept; anything else changes nothing.
            if (zone == "UTC" || Components.Shared.AdminTimeZone.Find(zone) is not null)
            {
                context.Response.Cookies.Append(
                    Components.Shared.AdminTimeZone.CookieName,
                    zone,
                    new CookieOptions { Expires = DateTimeOffset.UtcNow.AddYears(1), HttpOnly = true, SameSite = SameSiteMode.Lax, IsEssential = true, Secure = context.Request.IsHttps });
            }

            return Results.LocalRedirect(LocalOrRoot(returnUrl));
        });

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
