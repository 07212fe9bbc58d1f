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
        return app;
    }

    /// <summary>Applies pending migrations, for the `migrate` command.</summary>
    public static async Task MigrateDatabaseAsync(this WebApplication app)
    {
        var applied = await app.Services.GetRequiredService<MigrationRunner>().MigrateAsync(CancellationToken.None);
        Console.WriteLine($"Migrations applied: {applied.Count} ({string.Join(", ", applied)})");
    }
}
