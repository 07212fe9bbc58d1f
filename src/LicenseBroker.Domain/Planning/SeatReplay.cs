namespace LicenseBroker.Domain.Planning;

/// <summary>
/// One login to replay: when it asked, how long it would hold a seat once it had one, the group its seat
/// counts in (0: none; i: <c>ReplayRules.Groups[i - 1]</c>), and what it does when it finds no seat (true:
/// waits in the queue; false: leaves refused; null: what the pool's rules say).
/// </summary>
public readonly record struct Demand(DateTimeOffset Arrival, TimeSpan Hold, int Group = 0, bool? Waits = null);

/// <summary>A group's shared seats in the replayed pool: <see cref="Reserved"/> kept for its members, at most <see cref="Max"/> held by them (null: no cap).</summary>
public sealed record ReplayGroupRule(int Reserved, int? Max);

/// <summary>How the replayed pool behaves: its seats, its group rules, whether a login that finds no seat waits, and for how long at most.</summary>
/// <param name="Seats">Shared seats of the pool (0 to 100,000).</param>
/// <param name="Queue">For a login whose own behaviour is unknown: true, it waits for a seat; false, it is refused.</param>
/// <param name="MaxWait">A login still waiting after this long gives up (counted as abandoned); null: it waits as long as it takes.</param>
public sealed record ReplayRules(int Seats, bool Queue, TimeSpan? MaxWait = null)
{
    /// <summary>The pool's group rules, as admission applies them (reservations and caps), numbered from 1 by <see cref="Demand.Group"/>.</summary>
    public IReadOnlyList<ReplayGroupRule> Groups { get; init; } = [];

    /// <summary>
    /// An hour of the week (0 = Monday 00:00-01:00 UTC … 167) whose logins and seat-hours are also counted apart: the
    /// logins that would hold a seat during it if served at once (their offered hold meets it); null: none.
    /// </summary>
    public int? FocusHourOfWeek { get; init; }
}

/// <summary>What N seats would have done to the logins replayed (<see cref="Focus"/>: the same for the focus hour of the week).</summary>
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

    /// <summary>Logins not served (refused, or gave up waiting) over all logins.</summary>
    public double UnservedFraction => Logins == 0 ? 0 : (double)(Refused + Abandoned) / Logins;

    /// <summary>Logins not served at once (refused, waited or gave up) over all logins.</summary>
    public double BlockedFraction => Logins == 0 ? 0 : (double)(Refused + Waited + Abandoned) / Logins;

    /// <summary>Logins that waited over all logins.</summary>
    public double WaitedFraction => Logins == 0 ? 0 : (double)Waited / Logins;

    /// <summary>The same figures for the logins that arrived in the focus hour of the week (null when none was asked).</summary>
    public ReplayOutcome? Focus { get; init; }
}

/// <summary>
/// Replays logins against a pool of N shared seats: a discrete-event simulation, a pure function of its input
/// (no clock, no randomness, no storage), so the same demands give bit-identical answers. The admission rule is
/// the live pool's (library/08_admission.lua may_take_now): a group's reserved seats go to its members first, a capped group
/// never holds more than its cap, and the other groups share what is not reserved. A freed seat goes to the
/// longest waiter among those who may take it (a waiter who may not never blocks one who may). Work is
/// O(logins × (log seats + groups)) and memory O(seats + waiters + logins' waits).
/// </summary>
public static class SeatReplay
{
    public const int MaxSeats = 100_000;

    public const int HoursPerWeek = 168;

    /// <summary>The hour of the week of a moment, 0 = Monday 00:00-01:00 UTC (tick 0, 0001-01-01, was a Monday).</summary>
    public static int HourOfWeek(DateTimeOffset at) => HourOfWeek(at.UtcTicks);

    /// <summary>The hour of the week of a moment given in UTC ticks.</summary>
    public static int HourOfWeek(long utcTicks) => (int)(utcTicks / TimeSpan.TicksPerHour % HoursPerWeek);

    /// <summary>Time spent in hour-of-week <paramref name="hour"/> between tick 0 and <paramref name="ticks"/>.</summary>
    public static long TicksInHourOfWeek(long ticks, int hour)
    {
        const long week = TimeSpan.TicksPerHour * HoursPerWeek;
        return ticks / week * TimeSpan.TicksPerHour + Math.Clamp(ticks % week - (hour * TimeSpan.TicksPerHour), 0, TimeSpan.TicksPerHour);
    }

    /// <summary>Whether a login asking at <paramref name="at"/> and holding <paramref name="hold"/> ticks would be on a seat during hour-of-week <paramref name="hour"/>.</summary>
    public static bool OffersIn(long at, long hold, int hour) =>
        hold <= 0 ? HourOfWeek(at) == hour : TicksInHourOfWeek(at + hold, hour) > TicksInHourOfWeek(at, hour);

    /// <param name="demands">Logins in arrival order (an out-of-order arrival is an error, not a guess).</param>
    /// <param name="rules">The pool replayed.</param>
    /// <param name="from">Start of the replayed range (for idle seat-hours).</param>
    /// <param name="to">End of the replayed range.</param>
    public static ReplayOutcome Run(IEnumerable<Demand> demands, ReplayRules rules, DateTimeOffset from, DateTimeOffset to)
    {
        ArgumentNullException.ThrowIfNull(demands);
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentOutOfRangeException.ThrowIfNegative(rules.Seats);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rules.Seats, MaxSeats);
        if (rules.FocusHourOfWeek is { } focus)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(focus);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(focus, HoursPerWeek);
        }

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

            if (demand.Group < 0 || demand.Group > rules.Groups.Count)
            {
                throw new ArgumentException($"a demand's group {demand.Group} has no rule", nameof(demands));
            }

            last = at;
            pool.Arrive(at, Math.Max(0, demand.Hold.Ticks), demand.Group, demand.Waits ?? rules.Queue);
        }

        return pool.Finish();
    }

    /// <summary>What is counted for one set of logins (all of them, or the focus hour's).</summary>
    private sealed class Tally
    {
        public readonly List<long> Waits = [];
        public int Logins;
        public int Refused;
        public int Waited;
        public int Abandoned;
        public double BusySeatTicks;

        public ReplayOutcome ToOutcome(int seats, double seatTicks)
        {
            Waits.Sort();
            var total = 0.0;
            foreach (var wait in Waits)
            {
                total += wait;
            }

            return new ReplayOutcome(
                seats,
                Logins,
                Refused,
                Waited,
                Abandoned,
                TimeSpan.FromTicks(Waits.Count == 0 ? 0 : (long)(total / Waits.Count)),
                Percentile(50),
                Percentile(95),
                Percentile(99),
                Waits.Count == 0 ? TimeSpan.Zero : TimeSpan.FromTicks(Waits[^1]),
                Math.Max(0, seatTicks - BusySeatTicks) / TimeSpan.TicksPerHour);
        }

        // Nearest rank over the logins that got a seat (refused and abandoned ones have no wait).
        private TimeSpan Percentile(double p) =>
            Waits.Count == 0 ? TimeSpan.Zero : TimeSpan.FromTicks(Waits[Math.Clamp((int)Math.Ceiling(p / 100 * Waits.Count) - 1, 0, Waits.Count - 1)]);
    }

    private readonly record struct Waiter(long Arrival, long Hold, long Order, bool InFocus);

    private sealed class Pool
    {
        private readonly ReplayRules _rules;
        private readonly long _from;
        private readonly long _to;
        private readonly PriorityQueue<(int Group, bool Charged), long> _holdsEnd = new(); // one entry per seat taken: when it frees
        private readonly Queue<Waiter>[] _waiting; // per group, first in first out
        private readonly int[] _held; // per group: members holding a seat
        private readonly int[] _charged; // per group: of them, on the group's reserved seats
        private readonly int _reservedTotal;
        private readonly Tally _all = new();
        private readonly Tally? _focus;
        private long _now;
        private long _order;
        private int _waitingCount;

        public Pool(ReplayRules rules, long from, long to)
        {
            _rules = rules;
            _from = from;
            _to = to;
            _now = from;
            var groups = rules.Groups.Count + 1;
            _waiting = new Queue<Waiter>[groups];
            for (var g = 0; g < groups; g++)
            {
                _waiting[g] = new Queue<Waiter>();
            }

            _held = new int[groups];
            _charged = new int[groups];
            _reservedTotal = rules.Groups.Sum(r => r.Reserved);
            _focus = rules.FocusHourOfWeek is null ? null : new Tally();
        }

        private int InUse => _holdsEnd.Count;

        public void Arrive(long at, long hold, int group, bool waits)
        {
            AdvanceTo(at);
            var inFocus = _rules.FocusHourOfWeek is { } focus && OffersIn(at, hold, focus);
            Count(inFocus, t => t.Logins++);
            if (SeatOpen(group))
            {
                Take(group, at + hold);
                Count(inFocus, t => t.Waits.Add(0));
            }
            else if (waits && _rules.Seats > 0)
            {
                _waiting[group].Enqueue(new Waiter(at, hold, _order++, inFocus));
                _waitingCount++;
            }
            else
            {
                Count(inFocus, t => t.Refused++);
            }
        }

        public ReplayOutcome Finish()
        {
            AdvanceTo(long.MaxValue);
            var seatTicks = (double)_rules.Seats * (_to - _from);
            var outcome = _all.ToOutcome(_rules.Seats, seatTicks);
            if (_focus is null || _rules.FocusHourOfWeek is not { } hour)
            {
                return outcome;
            }

            var focusTicks = (double)_rules.Seats * (TicksInHourOfWeek(_to, hour) - TicksInHourOfWeek(_from, hour));
            return outcome with { Focus = _focus.ToOutcome(_rules.Seats, focusTicks) };
        }

        private void Count(bool inFocus, Action<Tally> count)
        {
            count(_all);
            if (inFocus && _focus is not null)
            {
                count(_focus);
            }
        }

        // library/08_admission.lua may_take_now: the one admission rule of shared seats.
        private bool SeatOpen(int group)
        {
            if (InUse >= _rules.Seats)
            {
                return false;
            }

            if (_rules.Groups.Count == 0)
            {
                return true;
            }

            if (group > 0)
            {
                var rule = _rules.Groups[group - 1];
                if (rule.Max is { } max && _held[group] >= max)
                {
                    return false;
                }

                if (_charged[group] < rule.Reserved)
                {
                    return true;
                }
            }

            var reservedUsed = 0;
            for (var g = 1; g < _held.Length; g++)
            {
                reservedUsed += Math.Min(_charged[g], _rules.Groups[g - 1].Reserved);
            }

            return (_rules.Seats - _reservedTotal) - (InUse - reservedUsed) > 0;
        }

        // library/05_groups.lua seat_taken: a member takes its group's reserved seats first.
        private void Take(int group, long until)
        {
            var charged = group > 0 && _charged[group] < _rules.Groups[group - 1].Reserved;
            _held[group]++;
            if (charged)
            {
                _charged[group]++;
            }

            _holdsEnd.Enqueue((group, charged), until);
        }

        // Frees every seat whose hold ends by `until`, in time order, handing seats to the longest waiters who may take them.
        private void AdvanceTo(long until)
        {
            while (_holdsEnd.TryPeek(out var seat, out var end) && end <= until)
            {
                Account(end);
                _holdsEnd.Dequeue();
                _held[seat.Group]--;
                if (seat.Charged)
                {
                    _charged[seat.Group]--;
                }

                GiveUpBefore(end);
                Promote(end);
            }

            if (until != long.MaxValue)
            {
                Account(until);
                GiveUpBefore(until);
            }
            else
            {
                // Cannot happen without a cap that nobody can ever pass; counted rather than lost.
                foreach (var queue in _waiting)
                {
                    while (queue.TryDequeue(out var left))
                    {
                        Count(left.InFocus, t => t.Abandoned++);
                    }
                }

                _waitingCount = 0;
            }
        }

        // library/08_admission.lua promote/next_waiter: while a seat is open to someone waiting, the earliest such waiter takes it.
        private void Promote(long at)
        {
            while (_waitingCount > 0)
            {
                var best = -1;
                for (var g = 0; g < _waiting.Length; g++)
                {
                    if (_waiting[g].TryPeek(out var head) && (best < 0 || head.Order < _waiting[best].Peek().Order) && SeatOpen(g))
                    {
                        best = g;
                    }
                }

                if (best < 0)
                {
                    return;
                }

                var waiter = _waiting[best].Dequeue();
                _waitingCount--;
                Take(best, at + waiter.Hold);
                var wait = at - waiter.Arrival;
                Count(waiter.InFocus, t =>
                {
                    t.Waited++;
                    t.Waits.Add(wait);
                });
            }
        }

        // Waiters still waiting past MaxWait at `at` gave up (they would not be served).
        private void GiveUpBefore(long at)
        {
            if (_rules.MaxWait is not { } limit)
            {
                return;
            }

            foreach (var queue in _waiting)
            {
                while (queue.TryPeek(out var head) && at - head.Arrival > limit.Ticks)
                {
                    queue.Dequeue();
                    _waitingCount--;
                    Count(head.InFocus, t => t.Abandoned++);
                }
            }
        }

        // Seats held × time since the last event, clipped to the replayed range (and to the focus hour for its tally).
        private void Account(long at)
        {
            var start = Math.Max(_now, _from);
            var end = Math.Min(at, _to);
            if (end > start && InUse > 0)
            {
                _all.BusySeatTicks += (double)InUse * (end - start);
                if (_focus is not null && _rules.FocusHourOfWeek is { } hour)
                {
                    _focus.BusySeatTicks += (double)InUse * (TicksInHourOfWeek(end, hour) - TicksInHourOfWeek(start, hour));
                }
            }

            _now = Math.Max(_now, at);
        }
    }
}
