using System.Diagnostics.Metrics;
using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Server.Observability;

/// <summary>
/// The broker's own metrics (meter "LicenseBroker"). Labels are bounded: product and outcome only,
/// never account or agent, so the series count does not grow with customers.
/// </summary>
public sealed class BrokerMetrics : ISeatEventSink
{
    public const string MeterName = "LicenseBroker";

    private readonly Counter<long> _seatEvents;
    private readonly ISeatEventSink _inner;

    public BrokerMetrics(IMeterFactory meters, ISeatEventSink inner)
    {
        var meter = meters.Create(MeterName);
        _seatEvents = meter.CreateCounter<long>("licensebroker.seat.events", unit: "{event}", description: "Seat events by product and kind: granted, released, expired, force_released, idle_released, refused.");
        _inner = inner;
    }

    /// <summary>Counts the event, then hands it on (the journal's drain).</summary>
    public void Record(SeatEvent seatEvent)
    {
        _seatEvents.Add(1, new KeyValuePair<string, object?>("product", seatEvent.Pool.Product), new KeyValuePair<string, object?>("kind", KindOf(seatEvent.Kind)));
        _inner.Record(seatEvent);
    }

    private static string KindOf(SeatEventKind kind) => SeatEventKinds.Of(kind).MetricLabel;
}
