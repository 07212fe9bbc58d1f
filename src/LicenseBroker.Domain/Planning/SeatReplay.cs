namespace LicenseBroker.Domain.Planning;

/// <summary>One login to replay: when it asked, and how long it would hold a seat once it had one.</summary>
public readonly record struct Demand(DateTimeOffset Arrival, TimeSpan Hold);

/// <summary>How the replayed pool behaves: its seats, whether a login that finds none waits (first in, first out), and for how long at most.</summary>
/// <param name="Seats">Shared seats of the pool (0 to 100,000).</param>
/// <param name="Queue">True: a login finding no seat waits for one; false: it is refused.</param>
/// <param name="MaxWait">With a queue: a login still waiting after this long gives up (counted as abandoned); null: it waits as long as it takes.</param>
public sealed record ReplayRules(int Seats, bool Queue, TimeSpan? MaxWait = null);

/// <summary>What N seats would have done to the logins replayed.</summary>
public sealed record ReplayOutcome(
    int Seats,
    int Logins,
    int Refused,
    int Waited,
    int Abandoned,
    TimeSpan MeanWait,
    TimeSpan WaitP50,
    TimeSpan WaitP95,
    TimeSpan WaitP99,
    TimeSpan WaitMax,
    double IdleSeatHours)
{
    /// <summary>Refused logins over all logins (0 when there were none).</summary>
    public double RefusedFraction => Logins == 0 ? 0 : (double)Refused / Logins;
}

/// <summary>
/// Replays logins against a pool of N shared seats: a discrete-event simulation, a pure function of its input
/// (no clock, no randomness, no storage), so the same demands give bit-identical answers. Seats free in the
/// order their holds end; a freed seat goes to the longest waiter. Work is O(logins × log seats) and memory
/// O(seats + waiters): a year of a large account is streamed through, never held.
/// </summary>
public static class SeatReplay
{
    public const int MaxSeats = 100_000;

    /// <param name="demands">Logins in arrival order (an out-of-order arrival is an error, not a guess).</param>
    /// <param name="from">Start of the replayed range (for idle seat-hours).</param>
    /// <param name="to">End of the replayed range.</param>
    public static ReplayOutcome Run(IEnumerable<Demand> demands, ReplayRules rules, DateTimeOffset from, DateTimeOffset to)
    {
        ArgumentNullException.ThrowIfNull(demands);
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentOutOfRangeException.ThrowIfNegative(rules.Seats);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rules.Seats, MaxSeats);
        if (to < from)
        {
            throw new ArgumentException("the range ends before it starts", nameof(to));
        }

        var pool = new Pool(rules, from.UtcTicks, to.UtcTicks);
        var last = long.MinValue;
        foreach (var demand in demands)
        {
            var at = demand.Arrival.UtcTicks;
            if (at < last)
            {
                throw new ArgumentException("demands must come in arrival order", nameof(demands));
            }

            last = at;
            pool.Arrive(at, Math.Max(0, demand.Hold.Ticks));
        }

        return pool.Finish();
    }

    private sealed class Pool
    {
        private readonly ReplayRules _rules;
        private readonly long _from;
        private readonly long _to;
        private readonly PriorityQueue<long, long> _holdsEnd = new(); // one entry per seat taken: when it frees
        private readonly Queue<(long Arrival, long Hold)> _waiting = new();
        private readonly List<long> _waits = [];
        private long _now;
        private double _busySeatTicks; // seats held × time, within [from, to]
        private int _logins;
        private int _refused;
        private int _waited;
        private int _abandoned;

        public Pool(ReplayRules rules, long from, long to)
        {
            _rules = rules;
            _from = from;
            _to = to;
            _now = from;
        }

        public void Arrive(long at, long hold)
        {
            AdvanceTo(at);
            _logins++;
            if (_holdsEnd.Count < _rules.Seats && _waiting.Count == 0)
            {
                _waits.Add(0);
                _holdsEnd.Enqueue(at + hold, at + hold);
            }
            else if (_rules.Queue && _rules.Seats > 0)
            {
                _waiting.Enqueue((at, hold));
            }
            else
            {
                _refused++;
            }
        }

        public ReplayOutcome Finish()
        {
            AdvanceTo(long.MaxValue);
            _waits.Sort();
            var total = 0.0;
            foreach (var wait in _waits)
            {
                total += wait;
            }

            var seatTicks = (double)_rules.Seats * (_to - _from);
            return new ReplayOutcome(
                _rules.Seats,
                _logins,
                _refused,
                _waited,
                _abandoned,
                TimeSpan.FromTicks(_waits.Count == 0 ? 0 : (long)(total / _waits.Count)),
                Percentile(50),
                Percentile(95),
                Percentile(99),
                _waits.Count == 0 ? TimeSpan.Zero : TimeSpan.FromTicks(_waits[^1]),
                Math.Max(0, seatTicks - _busySeatTicks) / TimeSpan.TicksPerHour);
        }

        // Nearest rank over the logins that got a seat (refused and abandoned ones have no wait).
        private TimeSpan Percentile(double p) =>
            _waits.Count == 0 ? TimeSpan.Zero : TimeSpan.FromTicks(_waits[Math.Clamp((int)Math.Ceiling(p / 100 * _waits.Count) - 1, 0, _waits.Count - 1)]);

        // Frees every seat whose hold ends by `until`, in time order, handing each to the longest waiter.
        private void AdvanceTo(long until)
        {
            while (_holdsEnd.TryPeek(out _, out var end) && end <= until)
            {
                Account(end);
                _holdsEnd.Dequeue();
                while (_waiting.TryDequeue(out var waiter))
                {
                    var wait = end - waiter.Arrival;
                    if (_rules.MaxWait is { } max && wait > max.Ticks)
                    {
                        _abandoned++;
                        continue;
                    }

                    _waited++;
                    _waits.Add(wait);
                    _holdsEnd.Enqueue(end + waiter.Hold, end + waiter.Hold);
                    break;
                }
            }

            if (until != long.MaxValue)
            {
                Account(until);
            }

            // Waiters that gave up before now leave the queue (they would not be served).
            if (_rules.MaxWait is { } limit)
            {
                while (_waiting.TryPeek(out var head) && until != long.MaxValue && until - head.Arrival > limit.Ticks)
                {
                    _waiting.Dequeue();
                    _abandoned++;
                }
            }
            else if (until == long.MaxValue)
            {
                // Cannot happen: every waiter is served once the holds end.
                _abandoned += _waiting.Count;
                _waiting.Clear();
            }
        }

        // Seats held × time since the last event, clipped to the replayed range.
        private void Account(long at)
        {
            var start = Math.Max(_now, _from);
            var end = Math.Min(at, _to);
            if (end > start)
            {
                _busySeatTicks += (double)_holdsEnd.Count * (end - start);
            }

            _now = Math.Max(_now, at);
        }
    }
}
