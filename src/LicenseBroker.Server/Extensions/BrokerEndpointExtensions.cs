using LicenseBroker.Server.Grpc;
using LicenseBroker.Server.Observability;
using LicenseBroker.Server.Rest;
using LicenseBroker.Server.Scim;
using LicenseBroker.Storage.Postgres;

namespace LicenseBroker.Server.Extensions;

/// <summary>The request pipeline and the gRPC services the broker serves.</summary>
public static class BrokerEndpointExtensions
{
    public static WebApplication MapBrokerEndpoints(this WebApplication app)
    {
        app.UseGrpcStatusMetricsTag();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRestEnumCheck();

        app.MapGrpcService<SeatGrpcService>();
        app.MapGrpcService<SeatAdminGrpcService>();
        app.MapGrpcService<SubscriptionGrpcService>();
        app.MapGrpcService<EntitlementGrpcService>();

        // Health and reflection stay anonymous: probes and grpcurl have no token.
        app.MapGrpcHealthChecksService().AllowAnonymous();
        app.MapGrpcReflectionService().AllowAnonymous();
        app.MapBrokerMetrics();
        app.MapBrokerRestDescription();
        app.MapScim();
        app.MapEntitlementKeys();
        app.MapOverageStatementCsv();
        return app;
    }

    /// <summary>The entitlement verification keys as a JWKS (RFC 8037 OKP keys), for services in other languages.</summary>
    private static void MapEntitlementKeys(this WebApplication app) =>
        app.MapGet(JwksPath, async (Entitlements.EntitlementKeyRing keys, CancellationToken cancellationToken) => Results.Json(new
        {
            keys = (await keys.PublishedAsync(cancellationToken)).Select(k => new Dictionary<string, object?>
            {
                ["kty"] = "OKP",
                ["crv"] = "Ed25519",
                ["use"] = "sig",
                ["alg"] = "EdDSA",
                ["kid"] = k.Kid,
                ["x"] = Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode(k.PublicKey),
                ["exp"] = k.ExpiresAt?.ToUnixTimeSeconds(),
            }),
        })).AllowAnonymous();

    /// <summary>Where the JWKS of entitlement keys is served (every listener; the REST port speaks HTTP/1.1).</summary>
    public const string JwksPath = "/.well-known/licensebroker-entitlement-keys.json";

    /// <summary>Applies pending migrations, for the `migrate` command.</summary>
    public static async Task MigrateDatabaseAsync(this WebApplication app)
    {
        var applied = await app.Services.GetRequiredService<MigrationRunner>().MigrateAsync(CancellationToken.None);
        Console.WriteLine($"Migrations applied: {applied.Count} ({string.Join(", ", applied)})");
    }
}
