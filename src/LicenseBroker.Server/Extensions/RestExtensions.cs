using LicenseBroker.Contracts.V1;
using LicenseBroker.Server.Rest;

namespace LicenseBroker.Server.Extensions;

/// <summary>
/// JSON/REST for admin tools: the admin, subscription and entitlement RPCs are also served as
/// HTTP/JSON (gRPC JSON transcoding, routes in the protos' google.api.http options) on a plain
/// HTTP/1.1 listener of its own (setting Rest:Port, default 5081; 0 turns it off). Same tokens,
/// same policies, same validation as over gRPC. Their OpenAPI description is at /openapi/v1.json.
/// </summary>
public static class RestExtensions
{
    public static WebApplicationBuilder AddBrokerRest(this WebApplicationBuilder builder) =>
        builder.AddSideListener("Rest", defaultPort: 5081);

    public const string DescriptionPath = "/openapi/v1.json";

    /// <summary>Serves the OpenAPI description of the JSON routes (anonymous: it holds no data).</summary>
    public static WebApplication MapBrokerRestDescription(this WebApplication app)
    {
        var document = new Lazy<string>(() => OpenApiDescription.Build(
            [SeatAdminService.Descriptor, SubscriptionService.Descriptor, EntitlementService.Descriptor],
            ContractDocumentation.Load(typeof(SeatAdminService).Assembly),
            version: "v1").ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        app.MapGet(DescriptionPath, () => Results.Text(document.Value, "application/json")).AllowAnonymous();
        return app;
    }
}
