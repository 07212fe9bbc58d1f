using System.Threading.Channels;
using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Storage.Postgres;

/// <summary>
/// Holds seat events between the request that produced them and the batch that writes them,
/// so AcquireSeat never waits on PostgreSQL. Unbounded on purpose: while PostgreSQL is away the
/// events wait here rather than being dropped (they are small; the count is exported for alerts).
/// </summary>
public sealed class SeatEventBuffer : ISeatEventSink
{
    private readonly Channel<SeatEvent> _channel = Channel.CreateUnbounded<SeatEvent>(new UnboundedChannelOptions { SingleReader = true });
    private int _pending;

    /// <summary>Events recorded and not yet taken by the writer.</summary>
    public int Pending => Volatile.Read(ref _pending);

    public void Record(SeatEvent seatEvent)
    {
        Interlocked.Increment(ref _pending);
        _channel.Writer.TryWrite(seatEvent);
    }

    public bool TryTake(out SeatEvent seatEvent)
    {
        if (_channel.Reader.TryRead(out seatEvent!))
        {
            Interlocked.Decrement(ref _pending);
            return true;
        }

        return false;
    }
}
