using Microsoft.AspNetCore.Http.Features;

namespace LicenseBroker.Server.Observability;

/// <summary>
/// Adds the call's gRPC status (<c>rpc.grpc.status_code</c>, as OpenTelemetry's RPC conventions name
/// it) to ASP.NET Core's request metric: every gRPC call answers HTTP 200, so without it a dashboard
/// cannot tell a refused or failed call from a granted one. The status is in the trailers (or, for a
/// call that fails before any message, in the headers) once the call has run.
/// </summary>
internal static class GrpcStatusMetricsTag
{
    public const string Name = "rpc.grpc.status_code";

    public static IApplicationBuilder UseGrpcStatusMetricsTag(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        await next(context);
        if (context.Features.Get<IHttpMetricsTagsFeature>() is not { } tags)
        {
            return;
        }

        var status = context.Features.Get<IHttpResponseTrailersFeature>()?.Trailers["grpc-status"] is { Count: > 0 } trailer
            ? trailer.ToString()
            : context.Response.Headers["grpc-status"].ToString();
        if (status.Length > 0)
        {
            tags.Tags.Add(new KeyValuePair<string, object?>(Name, status));
        }
    });
}
