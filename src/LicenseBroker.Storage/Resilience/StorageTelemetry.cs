using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace LicenseBroker.Storage.Resilience;

/// <summary>
/// What the stores report (meter and activity source "LicenseBroker.Storage"): Redis script
/// latency by script, and whether each backend's circuit breaker is open.
/// </summary>
public static class StorageTelemetry
{
    public const string Name = "LicenseBroker.Storage";

    public static readonly ActivitySource Activities = new(Name);

    private static readonly Meter Meter = new(Name);

    private static readonly Histogram<double> RedisScriptDuration = Meter.CreateHistogram<double>(
        "licensebroker.redis.script.duration", unit: "s", description: "Time of one Lua script call, round trip included.");

    private static int _redisBreakerOpen;
    private static int _postgresBreakerOpen;

    static StorageTelemetry()
    {
        Meter.CreateObservableGauge(
            "licensebroker.backend.circuit_open",
            () => new[]
            {
                new Measurement<int>(Volatile.Read(ref _redisBreakerOpen), new KeyValuePair<string, object?>("backend", "redis")),
                new Measurement<int>(Volatile.Read(ref _postgresBreakerOpen), new KeyValuePair<string, object?>("backend", "postgres")),
            },
            description: "1 while the backend's circuit breaker is open (calls fail fast), else 0.");
    }

    public static void RecordScript(string script, TimeSpan elapsed) =>
        RedisScriptDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("script", script));

    public static void BreakerChanged(string backend, bool open)
    {
        if (backend == "redis")
        {
            Volatile.Write(ref _redisBreakerOpen, open ? 1 : 0);
        }
        else
        {
            Volatile.Write(ref _postgresBreakerOpen, open ? 1 : 0);
        }
    }
}
