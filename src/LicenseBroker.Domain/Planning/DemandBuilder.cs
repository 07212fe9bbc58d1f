namespace LicenseBroker.Domain.Planning;

/// <summary>What the audit log recorded of a pool's shared seats, as the replay reads it.</summary>
public enum RecordedKind
{
    /// <summary>A lease was granted (at once, or to a waiter).</summary>
    Granted,

    /// <summary>A lease ended: released, expired, ended by an admin or taken back as idle.</summary>
    Ended,

    /// <summary>A login found no seat and was refused.</summary>
    Refused,

    /// <summary>A login found no seat and joined the queue.</summary>
    Queued,

    /// <summary>A wait ended without a seat: the agent cancelled, its max wait passed, or its app went away.</summary>
    WaitAbandoned,
}

/// <summary>
/// One recorded event of one pool. <see cref="TookSharedSeat"/>: a grant that took a shared seat (the agent's
/// first concurrent lease); a grant that did not is a named seat or another lease of an agent already on one;
/// null when the log does not say (grants recorded before it did): the agent's seat type now decides.
/// </summary>
public readonly record struct RecordedEvent(DateTimeOffset At, RecordedKind Kind, string AgentId, string? LeaseId, bool? TookSharedSeat = true);

/// <summary>What a pool's log shows as recorded, beside the demand built from it.</summary>
public sealed class RecordedFigures
{
    /// <summary>Most agents on shared seats at once, as recorded (seats held before the range are not seen).</summary>
    public int Peak { get; set; }

    /// <summary>Grants that took a shared seat.</summary>
    public int SharedGrants { get; set; }

    /// <summary>Acquires refused for want of a shared seat (each retry counted).</summary>
    public int Refusals { get; set; }

    /// <summary>Joins of the wait queue.</summary>
    public int QueueJoins { get; set; }

    /// <summary>Waits that ended without a seat (cancelled, timed out, abandoned): demand the pool did not serve.</summary>
    public int QueueAbandonments { get; set; }

    /// <summary>How agents behaved when they found no seat: they waited more often than they left.</summary>
    public bool MostlyWaited => QueueJoins > 0 && QueueJoins >= Refusals;
}

/// <summary>
/// Turns a pool's recorded events into the demand the replay offers to N seats. A shared seat is held by an
/// agent from the grant that took it until the end of the agent's last lease on it (one agent, one seat,
/// whatever the number of its devices). Asks of one agent that failed (refused, or queued and never served)
/// within <see cref="RetryWindow"/> of each other are one login, not one per retry; a grant within that window
/// of a refused ask, or within <see cref="MaxQueuedWait"/> of joining the queue, is the same login, arriving when
/// it first asked (and waiting, if it queued). A login that
/// never got a seat has no observed hold (the log censors it): it gets one from the holds observed in the same
/// log, picked deterministically from the agent and the time, so the same log always gives the same demand.
/// A seat still held at the end of the range holds until then (a lower bound).
/// </summary>
public sealed class DemandBuilder
{
    /// <summary>Asks of one agent closer than this are one login.</summary>
    public static readonly TimeSpan RetryWindow = TimeSpan.FromMinutes(5);

    /// <summary>
    /// A grant this long at most after the agent joined the queue is that wait served (the log does not record a
    /// waiter leaving the queue; nobody keeps a wait open for half a day).
    /// </summary>
    public static readonly TimeSpan MaxQueuedWait = TimeSpan.FromHours(12);

    private readonly Func<string, int> _groupOf;
    private readonly Func<string, bool> _holdsNamedSeat;
    private readonly Dictionary<string, Holding> _holding = new(StringComparer.Ordinal); // by agent
    private readonly Dictionary<string, string> _leaseHolder = new(StringComparer.Ordinal); // shared leases open: lease -> agent
    private readonly Dictionary<string, (DateTimeOffset First, DateTimeOffset Last, bool Queued)> _asking = new(StringComparer.Ordinal);
    private readonly List<Demand> _served = [];
    private readonly List<(string Agent, DateTimeOffset Arrival, bool Waits)> _unserved = [];

    /// <param name="groupOf">The replay's group of an agent (0: none).</param>
    /// <param name="holdsNamedSeat">Whether an agent holds a named seat now (for grants whose log does not say).</param>
    public DemandBuilder(Func<string, int>? groupOf = null, Func<string, bool>? holdsNamedSeat = null)
    {
        _groupOf = groupOf ?? (_ => 0);
        _holdsNamedSeat = holdsNamedSeat ?? (_ => false);
    }

    /// <summary>What the log itself shows (peak, grants, refusals, queue joins), so far.</summary>
    public RecordedFigures Figures { get; } = new();

    /// <param name="events">The pool's events in the order the pool made them (its sequence).</param>
    /// <param name="rangeEnd">End of the range read: seats still held then hold until it.</param>
    /// <param name="groupOf">The replay's group of an agent (0: none).</param>
    public static List<Demand> Build(IEnumerable<RecordedEvent> events, DateTimeOffset rangeEnd, Func<string, int>? groupOf = null)
    {
        ArgumentNullException.ThrowIfNull(events);
        var builder = new DemandBuilder(groupOf);
        foreach (var recorded in events)
        {
            builder.Add(recorded);
        }

        return builder.Finish(rangeEnd);
    }

    /// <summary>Takes the pool's next event (in the order the pool made them: its sequence).</summary>
    public void Add(RecordedEvent recorded)
    {
        switch (recorded.Kind)
        {
            // Counted; the replay already takes a wait that no grant followed as an unserved login.
            case RecordedKind.WaitAbandoned:
                Figures.QueueAbandonments++;
                break;
            case RecordedKind.Refused or RecordedKind.Queued:
                var queued = recorded.Kind == RecordedKind.Queued;
                if (queued)
                {
                    Figures.QueueJoins++;
                }
                else
                {
                    Figures.Refusals++;
                }

                if (_asking.TryGetValue(recorded.AgentId, out var ask) && recorded.At - ask.Last <= RetryWindow)
                {
                    _asking[recorded.AgentId] = (ask.First, recorded.At, ask.Queued || queued);
                }
                else
                {
                    if (_asking.Remove(recorded.AgentId, out var older))
                    {
                        _unserved.Add((recorded.AgentId, older.First, older.Queued));
                    }

                    _asking[recorded.AgentId] = (recorded.At, recorded.At, queued);
                }

                break;
            case RecordedKind.Granted when recorded.LeaseId is { } lease:
                if (_holding.TryGetValue(recorded.AgentId, out var held))
                {
                    // Another device of an agent already on a shared seat: no new seat.
                    held.Leases++;
                    _leaseHolder[lease] = recorded.AgentId;
                    break;
                }

                if (!(recorded.TookSharedSeat ?? !_holdsNamedSeat(recorded.AgentId)))
                {
                    break; // a named seat: not the pool's shared seats
                }

                var arrival = recorded.At;
                bool? waits = null;
                if (_asking.Remove(recorded.AgentId, out var pending))
                {
                    if (recorded.At - pending.Last <= (pending.Queued ? MaxQueuedWait : RetryWindow))
                    {
                        arrival = pending.First;
                        waits = pending.Queued;
                    }
                    else
                    {
                        _unserved.Add((recorded.AgentId, pending.First, pending.Queued));
                    }
                }

                _holding[recorded.AgentId] = new Holding { Arrival = arrival, GrantedAt = recorded.At, Waits = waits };
                _leaseHolder[lease] = recorded.AgentId;
                Figures.SharedGrants++;
                Figures.Peak = Math.Max(Figures.Peak, _holding.Count);
                break;
            case RecordedKind.Ended when recorded.LeaseId is { } ended && _leaseHolder.Remove(ended, out var agent)
                                          && _holding.TryGetValue(agent, out var seat):
                if (--seat.Leases == 0)
                {
                    _holding.Remove(agent);
                    var hold = recorded.At > seat.GrantedAt ? recorded.At - seat.GrantedAt : TimeSpan.Zero;
                    _served.Add(new Demand(seat.Arrival, hold, _groupOf(agent), seat.Waits));
                }

                break;
        }
    }

    /// <summary>The demand, in arrival order.</summary>
    /// <param name="rangeEnd">End of the range read: seats still held then hold until it.</param>
    public List<Demand> Finish(DateTimeOffset rangeEnd)
    {
        var served = new List<Demand>(_served);
        foreach (var (agent, seat) in _holding)
        {
            served.Add(new Demand(seat.Arrival, rangeEnd > seat.GrantedAt ? rangeEnd - seat.GrantedAt : TimeSpan.Zero, _groupOf(agent), seat.Waits));
        }

        var unserved = new List<(string Agent, DateTimeOffset Arrival, bool Waits)>(_unserved);
        unserved.AddRange(_asking.Select(a => (a.Key, a.Value.First, a.Value.Queued)));

        var holds = served.Select(d => d.Hold.Ticks).Order().ToArray();
        var demands = new List<Demand>(served.Count + unserved.Count);
        demands.AddRange(served);
        foreach (var (agent, arrival, waits) in unserved)
        {
            var hold = holds.Length == 0 ? TimeSpan.Zero : TimeSpan.FromTicks(holds[Pick(agent, arrival, holds.Length)]);
            demands.Add(new Demand(arrival, hold, _groupOf(agent), waits));
        }

        // A total order (arrival, then hold, group, behaviour): dictionaries' enumeration order never shows.
        demands.Sort(static (a, b) =>
            a.Arrival.UtcTicks.CompareTo(b.Arrival.UtcTicks) is var byTime and not 0 ? byTime
            : a.Hold.CompareTo(b.Hold) is var byHold and not 0 ? byHold
            : a.Group.CompareTo(b.Group) is var byGroup and not 0 ? byGroup
            : Nullable.Compare(a.Waits, b.Waits));
        return demands;
    }

    // A position among the observed holds from the agent and the time: FNV-1a, stable across runs and
    // platforms (string.GetHashCode is randomised per process).
    private static int Pick(string agent, DateTimeOffset arrival, int count)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in agent)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }

        hash = (hash ^ (ulong)arrival.UtcTicks) * 1099511628211UL;
        return (int)(hash % (ulong)count);
    }

    private sealed class Holding
    {
        public required DateTimeOffset Arrival { get; init; }

        public required DateTimeOffset GrantedAt { get; init; }

        public required bool? Waits { get; init; }

        public int Leases { get; set; } = 1;
    }
}
