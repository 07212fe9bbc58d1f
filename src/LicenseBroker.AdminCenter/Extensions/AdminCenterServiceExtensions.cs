using System.Globalization;
using LicenseBroker.AdminCenter.Auth;
using LicenseBroker.AdminCenter.Broker;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Localization;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using StackExchange.Redis;

namespace LicenseBroker.AdminCenter.Extensions;

/// <summary>The console's wiring: options, sign-in, sessions, localization, the broker client.</summary>
public static class AdminCenterServiceExtensions
{
    public static readonly CultureInfo[] Cultures = [new("en"), new("fr")];

    public static WebApplicationBuilder AddAdminCenter(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<AdminCenterOptions>().BindConfiguration(AdminCenterOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        var options = builder.Configuration.GetSection(AdminCenterOptions.SectionName).Get<AdminCenterOptions>() ?? new AdminCenterOptions();

        services.AddSingleton(TimeProvider.System);
        services.AddHttpContextAccessor();
        services.AddHttpClient("oidc");
        services.AddSingleton(sp => new BrokerChannel(sp.GetRequiredService<IOptions<AdminCenterOptions>>().Value.BrokerUrl!));
        services.AddScoped<AdminBroker>();
        services.AddSingleton<DevSignIn>();
        services.AddSingleton<TokenRefresher>();

        AddSessions(services, options);
        AddSignIn(services, options);

        services.AddLocalization(o => o.ResourcesPath = "Resources");
        services.Configure<RequestLocalizationOptions>(o =>
        {
            o.DefaultRequestCulture = new RequestCulture("en");
            o.SupportedCultures = Cultures;
            o.SupportedUICultures = Cultures;

            // A choice made with the switcher (cookie) wins over the browser's Accept-Language.
            o.RequestCultureProviders = [new CookieRequestCultureProvider(), new AcceptLanguageHeaderRequestCultureProvider()];
        });
        services.AddRazorComponents();
        services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "lbadmin.af";
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        });
        return builder;
    }

    private static void AddSessions(IServiceCollection services, AdminCenterOptions options)
    {
        var protection = services.AddDataProtection().SetApplicationName("LicenseBroker.AdminCenter");
        if (options.Redis is { Length: > 0 } redis)
        {
            // Shared by every replica: a session started on one is read by the others.
            var multiplexer = new Lazy<IConnectionMultiplexer>(() => ConnectionMultiplexer.Connect(redis));
            protection.PersistKeysToStackExchangeRedis(() => multiplexer.Value.GetDatabase(), "lbadmin:dataprotection-keys");
            services.AddStackExchangeRedisCache(o => o.ConnectionMultiplexerFactory = () => Task.FromResult(multiplexer.Value));
        }
        else
        {
            services.AddDistributedMemoryCache();
        }

        services.AddMemoryCache(); // the admins' chosen time zones, a few minutes (AdminTimeZone)
        services.AddSingleton<ITicketStore, DistributedTicketStore>();
        services.AddOptions<CookieAuthenticationOptions>(CookieAuthenticationDefaults.AuthenticationScheme)
            .Configure<ITicketStore>((cookie, store) => cookie.SessionStore = store);
    }

    private static void AddSignIn(IServiceCollection services, AdminCenterOptions options)
    {
        var oidc = options.Oidc.Authority is not null;
        var authentication = services.AddAuthentication(o =>
        {
            o.DefaultScheme = CookieAuthenticationDefaults.AuthenticationScheme;
            o.DefaultChallengeScheme = oidc ? OpenIdConnectDefaults.AuthenticationScheme : CookieAuthenticationDefaults.AuthenticationScheme;
        });
        authentication.AddCookie(cookie =>
        {
            cookie.Cookie.Name = "lbadmin";
            cookie.Cookie.HttpOnly = true;
            cookie.Cookie.SameSite = SameSiteMode.Lax; // the provider's redirect back is a top-level GET
            cookie.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            cookie.ExpireTimeSpan = options.IdleTimeout;
            cookie.SlidingExpiration = true;
            cookie.LoginPath = "/dev-sign-in";
            cookie.AccessDeniedPath = "/not-allowed";
            cookie.Events.OnValidatePrincipal = context => context.HttpContext.RequestServices.GetRequiredService<TokenRefresher>().ValidateAsync(context);
        });
        if (oidc)
        {
            authentication.AddOpenIdConnect(o =>
            {
                o.Authority = options.Oidc.Authority!.ToString();
                o.ClientId = options.Oidc.ClientId;
                o.ClientSecret = options.Oidc.ClientSecret;
                o.ResponseType = OpenIdConnectResponseType.Code;
                o.UsePkce = true;
                o.SaveTokens = true;
                o.MapInboundClaims = false;
                o.RequireHttpsMetadata = options.Oidc.RequireHttpsMetadata;
                o.GetClaimsFromUserInfoEndpoint = false;
                o.Scope.Clear();
                o.Scope.Add("openid");
                o.Scope.Add("profile");
                foreach (var scope in options.Oidc.Scopes)
                {
                    o.Scope.Add(scope);
                }

                o.Events.OnTokenValidated = context =>
                {
                    // The console shows what the broker will allow: the claims of the access token it forwards.
                    if (context.TokenEndpointResponse?.AccessToken is not { Length: > 0 } accessToken)
                    {
                        context.Fail("The identity provider returned no access token.");
                        return Task.CompletedTask;
                    }

                    var identity = AdminClaims.FromAccessToken(accessToken, options.Oidc.AccountClaim, CookieAuthenticationDefaults.AuthenticationScheme);
                    if (identity.FindFirst(AdminClaims.Account) is null)
                    {
                        context.Fail($"The access token has no {options.Oidc.AccountClaim} claim.");
                        return Task.CompletedTask;
                    }

                    context.Principal = new System.Security.Claims.ClaimsPrincipal(identity);
                    return Task.CompletedTask;
                };
            });
        }

        services.AddAuthorization(o =>
        {
            o.AddPolicy(AdminClaims.SeatsPolicy, p => p.RequireAuthenticatedUser().RequireAssertion(c => c.User.MaySeats()));
            o.AddPolicy(AdminClaims.UsersPolicy, p => p.RequireAuthenticatedUser().RequireAssertion(c => c.User.MayUsers()));
            o.AddPolicy(AdminClaims.PeoplePolicy, p => p.RequireAuthenticatedUser().RequireAssertion(c => c.User.MaySeats() || c.User.MayUsers()));
            o.AddPolicy(AdminClaims.AdminPolicy, p => p.RequireAuthenticatedUser().RequireAssertion(c => c.User.IsAdmin()));
        });
    }
}
