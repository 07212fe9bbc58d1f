using System.Globalization;
using System.Text.Json;
using LicenseBroker.Cli;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.Extensions.Options;

namespace LicenseBroker.AdminCenter.Auth;

/// <summary>
/// Keeps the access token of a live session fresh: a minute before it expires, the refresh token
/// buys a new one from the identity provider (the OpenID Connect handler does not do this itself).
/// A session whose token can no longer be renewed ends, and the admin signs in again.
/// </summary>
public sealed partial class TokenRefresher
{
    public const string DevSignInProperty = "dev_signin";
    private static readonly TimeSpan Margin = TimeSpan.FromMinutes(1);

    private readonly IHttpClientFactory _http;
    private readonly IOptionsMonitor<OpenIdConnectOptions> _oidc;
    private readonly IOptions<AdminCenterOptions> _options;
    private readonly TimeProvider _time;
    private readonly ILogger<TokenRefresher> _logger;

    public TokenRefresher(IHttpClientFactory http, IOptionsMonitor<OpenIdConnectOptions> oidc, IOptions<AdminCenterOptions> options, TimeProvider time, ILogger<TokenRefresher> logger)
    {
        _http = http;
        _oidc = oidc;
        _options = options;
        _time = time;
        _logger = logger;
    }

    public async Task ValidateAsync(CookieValidatePrincipalContext context)
    {
        var expiresAt = context.Properties.GetTokenValue("expires_at") is { } text
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var at) ? at : (DateTimeOffset?)null;
        var now = _time.GetUtcNow();
        if (expiresAt is null || expiresAt - now > Margin)
        {
            return;
        }

        var renewed = context.Properties.Items.ContainsKey(DevSignInProperty)
            ? RenewDevToken(context)
            : await RefreshAsync(context);
        if (renewed)
        {
            context.ShouldRenew = true;
            return;
        }

        Log.SessionEnded(_logger, context.Principal?.FindFirst("sub")?.Value ?? "?");
        context.RejectPrincipal();
        await context.HttpContext.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
    }

    private bool RenewDevToken(CookieValidatePrincipalContext context)
    {
        var dev = _options.Value.DevSignIn;
        if (!dev.Enabled || context.Principal is not { } user)
        {
            return false;
        }

        var lifetime = TimeSpan.FromHours(1);
        var token = DevTokens.Mint(dev.SigningKey!, user.AccountId(), user.FindFirst("sub")!.Value, lifetime, dev.Issuer, dev.Audience, DevSignIn.ClaimsOf(user));
        context.Properties.UpdateTokenValue("access_token", token);
        context.Properties.UpdateTokenValue("expires_at", (_time.GetUtcNow() + lifetime).ToString("o", CultureInfo.InvariantCulture));
        return true;
    }

    private async Task<bool> RefreshAsync(CookieValidatePrincipalContext context)
    {
        if (context.Properties.GetTokenValue("refresh_token") is not { } refreshToken)
        {
            return false;
        }

        var oidc = _oidc.Get(OpenIdConnectDefaults.AuthenticationScheme);
        try
        {
            var configuration = await oidc.ConfigurationManager!.GetConfigurationAsync(context.HttpContext.RequestAborted);
            var form = new Dictionary<string, string>
            {
                ["grant_type"] = "refresh_token",
                ["refresh_token"] = refreshToken,
                ["client_id"] = oidc.ClientId!,
            };
            if (oidc.ClientSecret is { Length: > 0 } secret)
            {
                form["client_secret"] = secret;
            }

            using var response = await _http.CreateClient("oidc").PostAsync(configuration.TokenEndpoint, new FormUrlEncodedContent(form), context.HttpContext.RequestAborted);
            if (!response.IsSuccessStatusCode)
            {
                Log.RefreshRefused(_logger, (int)response.StatusCode);
                return false;
            }

            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(context.HttpContext.RequestAborted));
            var root = body.RootElement;
            context.Properties.UpdateTokenValue("access_token", root.GetProperty("access_token").GetString()!);
            if (root.TryGetProperty("refresh_token", out var rotated))
            {
                context.Properties.UpdateTokenValue("refresh_token", rotated.GetString()!);
            }

            var seconds = root.TryGetProperty("expires_in", out var expiresIn) ? expiresIn.GetInt32() : 300;
            context.Properties.UpdateTokenValue("expires_at", _time.GetUtcNow().AddSeconds(seconds).ToString("o", CultureInfo.InvariantCulture));
            return true;
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or KeyNotFoundException or InvalidOperationException or TaskCanceledException)
        {
            Log.RefreshFailed(_logger, ex);
            return false;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(Level = LogLevel.Information, Message = "Session of {Subject} ended: its access token could not be renewed")]
        public static partial void SessionEnded(ILogger logger, string subject);

        [LoggerMessage(Level = LogLevel.Warning, Message = "The identity provider refused a token refresh ({Status})")]
        public static partial void RefreshRefused(ILogger logger, int status);

        [LoggerMessage(Level = LogLevel.Warning, Message = "Token refresh failed")]
        public static partial void RefreshFailed(ILogger logger, Exception exception);
    }
}
