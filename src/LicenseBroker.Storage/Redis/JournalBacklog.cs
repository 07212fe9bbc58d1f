using System.Collections.Concurrent;
using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Storage.Redis;

/// <summary>
/// The pools whose seat event journal (see <see cref="SeatEventJournal"/>) this replica knows holds events
/// not yet stored: marked when a pool script reports events, or when the drain's recovery scan finds some
/// another replica left behind. Only a hint: the events themselves are durable in Redis already.
/// </summary>
public sealed class JournalBacklog : ISeatEventSink
{
    private readonly ConcurrentDictionary<PoolId, byte> _pools = new();
    private readonly WakeSignal _wake = new();

    /// <summary>Pools marked and not yet taken by the drain.</summary>
    public int Count => _pools.Count;

    public void Record(SeatEvent seatEvent) => Mark(seatEvent.Pool);

    /// <summary>Marks a pool as holding events to store, and wakes the drain.</summary>
    public void Mark(PoolId pool)
    {
        _pools.TryAdd(pool, 0);
        _wake.Set();
    }

    /// <summary>
    /// Takes up to <paramref name="max"/> marked pools, unmarking them first: an event a script reports while
    /// the drain reads marks its pool again, so none is missed.
    /// </summary>
    public IReadOnlyList<PoolId> Take(int max)
    {
        var taken = new List<PoolId>(Math.Min(max, _pools.Count));
        foreach (var pool in _pools.Keys)
        {
            if (taken.Count == max)
            {
                break;
            }

            if (_pools.TryRemove(pool, out _))
            {
                taken.Add(pool);
            }
        }

        return taken;
    }

    /// <summary>Returns at the first mark since the last wait, or after <paramref name="atMost"/>.</summary>
    public Task WaitAsync(TimeSpan atMost, CancellationToken cancellationToken) => _wake.WaitAsync(atMost, cancellationToken);
}
