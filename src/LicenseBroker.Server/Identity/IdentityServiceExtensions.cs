using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace LicenseBroker.Server.Identity;

/// <summary>JWT bearer authentication: issuer, audience, lifetime and signature are all checked.</summary>
public static class IdentityServiceExtensions
{
    public static IServiceCollection AddBrokerIdentity(this IServiceCollection services, IConfiguration configuration)
    {
        // Read when first needed, not now: tests and hosts may still add configuration sources.
        services.AddSingleton(_ => configuration.GetSection(AuthOptions.SectionName).Get<AuthOptions>() ?? new AuthOptions());
        services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer();

        // Token lifetimes are judged on the wall clock, as the token handler itself does.
        services.AddSingleton(provider =>
        {
            var options = provider.GetRequiredService<AuthOptions>();
            return new ValidatedTokenCache(new JsonWebTokenHandler { MapInboundClaims = false }, TimeProvider.System, options.ValidatedTokenLifetime, options.ValidatedTokenCacheSize);
        });
        services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme).Configure<AuthOptions, ValidatedTokenCache>((jwt, options, cache) =>
        {
            // Keep claim names as issued (`sub` stays `sub`).
            jwt.MapInboundClaims = false;
            if (options.ValidatedTokenLifetime > TimeSpan.Zero)
            {
                jwt.TokenHandlers.Clear();
                jwt.TokenHandlers.Add(cache);
            }

            if (options.Authority is { Length: > 0 } authority)
            {
                // Keys from the authority's JWKS, refreshed by the handler as the authority rotates them.
                jwt.Authority = authority;
                jwt.RequireHttpsMetadata = options.RequireHttpsMetadata;
            }

            jwt.TokenValidationParameters = new TokenValidationParameters
            {
                ValidIssuer = options.Issuer,
                ValidAudience = options.Audience,
                ValidateIssuer = true,
                ValidateAudience = true,
                ValidateLifetime = true,
                RequireExpirationTime = true,
                ValidateIssuerSigningKey = true,
                IssuerSigningKeys = options.Authority is { Length: > 0 } && options.SigningKeys.Count == 0 ? null : SigningKeys(options),
                ClockSkew = options.ClockSkew,
                NameClaimType = "sub",
            };
        });
        services.AddAuthorization();
        services.AddSingleton<Microsoft.AspNetCore.Authorization.IAuthorizationMiddlewareResultHandler, AuthFailureResponses>();
        services.AddOptions<Microsoft.AspNetCore.Authorization.AuthorizationOptions>()
            .Configure<AuthOptions>((authorization, auth) => BrokerPolicies.Add(authorization, auth.AccountClaim, auth.RequireClientCertificateForServices));
        return services;
    }

    private static List<SecurityKey> SigningKeys(AuthOptions options)
    {
        if (options.SigningKeys.Count == 0)
        {
            throw new InvalidOperationException(
                "No token signing key is configured. Set Auth__SigningKeys__0 to a base64 key of at least 32 bytes " +
                "(./scripts/run generates one under .local/), or Auth__Authority to an OpenID Connect authority.");
        }

        return options.SigningKeys.Select(SecurityKey (key, index) =>
        {
            byte[] bytes;
            try
            {
                bytes = Convert.FromBase64String(key);
            }
            catch (FormatException)
            {
                throw new InvalidOperationException($"Auth:SigningKeys:{index} is not valid base64.");
            }

            if (bytes.Length < 32)
            {
                throw new InvalidOperationException($"Auth:SigningKeys:{index} is shorter than 32 bytes.");
            }

            return new SymmetricSecurityKey(bytes) { KeyId = $"key-{index}" };
        }).ToList();
    }
}
