using System.Collections.Concurrent;
using System.Security.Claims;
using Microsoft.AspNetCore;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>A person the test identity provider can sign in, with the claims the broker reads.</summary>
internal sealed record OidcPerson(string UserName, string AccountId, string Name, string Email, string Role, params string[] Privileges);

/// <summary>
/// A real OpenID Connect provider (OpenIddict) for the Admin Center's tests: authorization code with
/// PKCE, refresh tokens, JWT access tokens signed with its own RSA key and published in its JWKS.
/// Its login page asks for a user name among <see cref="People"/>.
/// </summary>
internal sealed class TestOidcProvider : IAsyncDisposable
{
    public const string ClientId = "admin-center";
    public const string ClientSecret = "admin-center-test-secret";
    private readonly WebApplication _app;
    private int _refreshes;

    private TestOidcProvider(WebApplication app)
    {
        _app = app;
    }

    public Uri Issuer { get; private set; } = default!;

    public ConcurrentDictionary<string, OidcPerson> People { get; } = new(StringComparer.Ordinal);

    /// <summary>Refresh-token grants answered so far.</summary>
    public int Refreshes => Volatile.Read(ref _refreshes);

    /// <param name="consoleBase">The Admin Center's address, whose callbacks are registered.</param>
    /// <param name="accessTokenLifetime">Short lifetimes make the console refresh its token.</param>
    public static async Task<TestOidcProvider> StartAsync(Uri consoleBase, TimeSpan accessTokenLifetime)
    {
        var builder = WebApplication.CreateBuilder();

        // Not the broker's appsettings.json, which the test output also holds (its Kestrel endpoints would apply).
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Kestrel:Endpoints:Http:Url"] = "http://127.0.0.1:0" });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var database = "oidc-" + Guid.NewGuid().ToString("N");
        builder.Services.AddDbContext<DbContext>(o =>
        {
            o.UseInMemoryDatabase(database);
            o.UseOpenIddict();
        });
        builder.Services.AddAuthentication("provider").AddCookie("provider", o =>
        {
            o.LoginPath = "/login";
            o.Cookie.Name = "provider";
        });
        builder.Services.AddOpenIddict()
            .AddCore(o => o.UseEntityFrameworkCore().UseDbContext<DbContext>())
            .AddServer(o =>
            {
                o.SetAuthorizationEndpointUris("connect/authorize").SetTokenEndpointUris("connect/token").SetEndSessionEndpointUris("connect/logout");
                o.AllowAuthorizationCodeFlow().AllowRefreshTokenFlow().RequireProofKeyForCodeExchange();
                o.AddEphemeralEncryptionKey().AddEphemeralSigningKey();
                o.DisableAccessTokenEncryption(); // the broker reads the access token as a JWT
                o.RegisterScopes(Scopes.OpenId, Scopes.Profile, Scopes.Email, Scopes.OfflineAccess);
                o.SetAccessTokenLifetime(accessTokenLifetime);
                o.UseAspNetCore()
                    .EnableAuthorizationEndpointPassthrough()
                    .EnableTokenEndpointPassthrough()
                    .EnableEndSessionEndpointPassthrough()
                    .DisableTransportSecurityRequirement();
            });

        var app = builder.Build();
        app.UseAuthentication();
        var provider = new TestOidcProvider(app);
        provider.MapEndpoints();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        provider.Issuer = new Uri(address + "/");

        await using var scope = app.Services.CreateAsyncScope();
        var applications = scope.ServiceProvider.GetRequiredService<IOpenIddictApplicationManager>();
        await applications.CreateAsync(new OpenIddictApplicationDescriptor
        {
            ClientId = ClientId,
            ClientSecret = ClientSecret,
            ClientType = ClientTypes.Confidential,
            RedirectUris = { new Uri(consoleBase, "signin-oidc") },
            PostLogoutRedirectUris = { new Uri(consoleBase, "signout-callback-oidc") },
            Permissions =
            {
                Permissions.Endpoints.Authorization, Permissions.Endpoints.Token, Permissions.Endpoints.EndSession,
                Permissions.GrantTypes.AuthorizationCode, Permissions.GrantTypes.RefreshToken, Permissions.ResponseTypes.Code,
                Permissions.Scopes.Profile, Permissions.Scopes.Email, Permissions.Prefixes.Scope + Scopes.OfflineAccess,
            },
            Requirements = { Requirements.Features.ProofKeyForCodeExchange },
        });
        return provider;
    }

    public void Add(OidcPerson person) => People[person.UserName] = person;

    private void MapEndpoints()
    {
        _app.MapGet("/login", (string? returnUrl) => Results.Content(
            $"""
            <!DOCTYPE html><html><body><h1>Test identity provider</h1>
            <form method="post" action="/login"><input type="hidden" name="returnUrl" value="{System.Net.WebUtility.HtmlEncode(returnUrl ?? "/")}" />
            <label>User name <input name="username" id="username" /></label><button type="submit" id="login">Sign in</button></form></body></html>
            """,
            "text/html"));
        _app.MapPost("/login", async (HttpContext context) =>
        {
            var form = await context.Request.ReadFormAsync();
            var userName = form["username"].ToString();
            if (!People.ContainsKey(userName))
            {
                return Results.Content("<p id='unknown'>Unknown user</p>", "text/html", statusCode: 401);
            }

            await context.SignInAsync("provider", new ClaimsPrincipal(new ClaimsIdentity([new Claim(Claims.Subject, userName)], "provider")));
            var returnUrl = form["returnUrl"].ToString();
            return Results.Redirect(returnUrl.StartsWith('/') ? returnUrl : "/");
        });
        _app.MapMethods("/connect/authorize", ["GET", "POST"], async (HttpContext context) =>
        {
            var request = context.GetOpenIddictServerRequest()!;
            var signedIn = await context.AuthenticateAsync("provider");
            if (!signedIn.Succeeded || !People.TryGetValue(signedIn.Principal!.FindFirst(Claims.Subject)!.Value, out var person))
            {
                return Results.Challenge(new AuthenticationProperties { RedirectUri = context.Request.Path + context.Request.QueryString }, ["provider"]);
            }

            var identity = new ClaimsIdentity(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme, Claims.Name, Claims.Role);
            identity.SetClaim(Claims.Subject, person.UserName)
                .SetClaim(Claims.Name, person.Name)
                .SetClaim(Claims.Email, person.Email)
                .SetClaim("account_id", person.AccountId)
                .SetClaim(Claims.Role, person.Role);
            foreach (var privilege in person.Privileges)
            {
                identity.AddClaim(new Claim("privileges", privilege));
            }

            identity.SetScopes(request.GetScopes());
            identity.SetResources("licensebroker");
            identity.SetDestinations(claim => claim.Type is Claims.Name or Claims.Email or Claims.Subject
                ? [Destinations.AccessToken, Destinations.IdentityToken]
                : [Destinations.AccessToken]);
            return Results.SignIn(new ClaimsPrincipal(identity), authenticationScheme: OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
        });
        _app.MapPost("/connect/token", async (HttpContext context) =>
        {
            var request = context.GetOpenIddictServerRequest()!;
            if (request.IsRefreshTokenGrantType())
            {
                Interlocked.Increment(ref _refreshes);
            }

            // Code and refresh grants: the principal the code or refresh token carries, issued again.
            var result = await context.AuthenticateAsync(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
            return Results.SignIn(result.Principal!, authenticationScheme: OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
        });
        _app.MapMethods("/connect/logout", ["GET", "POST"], async (HttpContext context) =>
        {
            await context.SignOutAsync("provider");
            return Results.SignOut(new AuthenticationProperties { RedirectUri = "/" }, [OpenIddictServerAspNetCoreDefaults.AuthenticationScheme]);
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
