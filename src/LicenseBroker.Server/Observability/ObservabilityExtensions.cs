using LicenseBroker.Server.Extensions;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace LicenseBroker.Server.Observability;

/// <summary>
/// OpenTelemetry: metrics (gRPC calls by method and status with latency histograms from ASP.NET
/// Core, seat events, Npgsql and .NET runtime) exposed for Prometheus on a port of their own, and
/// traces from gRPC through Npgsql.
/// </summary>
public static class ObservabilityExtensions
{
    /// <summary>Port of the Prometheus scrape endpoint (setting Metrics:Port; 0 turns it off).</summary>
    public static int MetricsPort(IConfiguration configuration) => configuration.SideListenerPort("Metrics", DefaultMetricsPort);

    private const int DefaultMetricsPort = 9464;

    public static WebApplicationBuilder AddBrokerObservability(this WebApplicationBuilder builder)
    {
        // Structured logs (JSON by default, see appsettings.json) carry the trace and span ids.
        builder.Logging.Configure(options => options.ActivityTrackingOptions =
            ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId | ActivityTrackingOptions.ParentId);

        var telemetry = builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddMeter(BrokerMetrics.MeterName, Storage.Resilience.StorageTelemetry.Name, "Npgsql", "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel")
                .AddAspNetCoreInstrumentation()
                .AddPrometheusExporter());

        // Spans are recorded only when there is a collector to send them to (the standard
        // OTEL_EXPORTER_OTLP_* settings): recording spans nobody reads would cost every call.
        // Logs carry trace and span ids either way.
        if (TracesEndpoint(builder.Configuration) is not null)
        {
            telemetry.WithTracing(tracing => tracing
                .AddSource("Npgsql", Storage.Resilience.StorageTelemetry.Name)
                .AddAspNetCoreInstrumentation()
                .AddOtlpExporter());
        }

        builder.AddSideListener("Metrics", DefaultMetricsPort);
        return builder;
    }

    /// <summary>Where traces go (OTLP), or null when no collector is configured.</summary>
    public static string? TracesEndpoint(IConfiguration configuration) =>
        configuration["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] is { Length: > 0 } traces ? traces
        : configuration["OTEL_EXPORTER_OTLP_ENDPOINT"] is { Length: > 0 } any ? any
        : null;

    public static WebApplication MapBrokerMetrics(this WebApplication app)
    {
        var port = MetricsPort(app.Configuration);
        if (port > 0)
        {
            app.MapPrometheusScrapingEndpoint("/metrics").RequireHost($"*:{port}").AllowAnonymous();
        }

        return app;
    }
}
