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
}

/// <summary>One recorded event of one pool.</summary>
public readonly record struct RecordedEvent(DateTimeOffset At, RecordedKind Kind, string AgentId, string? LeaseId);

/// <summary>
/// Turns a pool's recorded events into the demand the replay offers to N seats. A grant and the end of its
/// lease give one login with its true hold; asks of one agent that failed (refused, or queued and never
/// served) within <see cref="RetryWindow"/> of each other are one login, not one per retry; a grant within
/// that window of a failed ask is the same login, arriving when it first asked. A login that never got a
/// seat has no observed hold (the log censors it): it gets one from the holds observed in the same log,
/// picked deterministically from the agent and the time, so the same log always gives the same demand.
/// A lease still open at the end of the range holds until then (a lower bound).
/// </summary>
public static class DemandBuilder
{
    /// <summary>Asks of one agent closer than this are one login.</summary>
    public static readonly TimeSpan RetryWindow = TimeSpan.FromMinutes(5);

    /// <param name="events">The pool's events in the order they happened.</param>
    /// <param name="rangeEnd">End of the range read: leases still open then hold until it.</param>
    public static List<Demand> Build(IEnumerable<RecordedEvent> events, DateTimeOffset rangeEnd)
    {
        ArgumentNullException.ThrowIfNull(events);
        var open = new Dictionary<string, (DateTimeOffset Arrival, DateTimeOffset GrantedAt)>(StringComparer.Ordinal);
        var asking = new Dictionary<string, (DateTimeOffset First, DateTimeOffset Last)>(StringComparer.Ordinal);
        var served = new List<Demand>();
        var unserved = new List<(string Agent, DateTimeOffset Arrival)>();
        var last = DateTimeOffset.MinValue;

        foreach (var recorded in events)
        {
            if (recorded.At < last)
            {
                throw new ArgumentException("events must come in the order they happened", nameof(events));
            }

            last = recorded.At;
            switch (recorded.Kind)
            {
                case RecordedKind.Refused or RecordedKind.Queued:
                    if (asking.TryGetValue(recorded.AgentId, out var ask) && recorded.At - ask.Last <= RetryWindow)
                    {
                        asking[recorded.AgentId] = (ask.First, recorded.At);
                    }
                    else
                    {
                        if (asking.Remove(recorded.AgentId, out var older))
                        {
                            unserved.Add((recorded.AgentId, older.First));
                        }

                        asking[recorded.AgentId] = (recorded.At, recorded.At);
                    }

                    break;
                case RecordedKind.Granted when recorded.LeaseId is { } lease:
                    var arrival = recorded.At;
                    if (asking.Remove(recorded.AgentId, out var pending))
                    {
                        if (recorded.At - pending.Last <= RetryWindow)
                        {
                            arrival = pending.First;
                        }
                        else
                        {
                            unserved.Add((recorded.AgentId, pending.First));
                        }
                    }

                    open[lease] = (arrival, recorded.At);
                    break;
                case RecordedKind.Ended when recorded.LeaseId is { } ended && open.Remove(ended, out var held):
                    served.Add(new Demand(held.Arrival, recorded.At - held.GrantedAt));
                    break;
            }
        }

        // Open at the end of the range: they hold at least until then.
        served.AddRange(open.Values.Select(held => new Demand(held.Arrival, rangeEnd > held.GrantedAt ? rangeEnd - held.GrantedAt : TimeSpan.Zero)));
        unserved.AddRange(asking.Select(a => (a.Key, a.Value.First)));

        var holds = served.Select(d => d.Hold.Ticks).Order().ToArray();
        var demands = new List<Demand>(served.Count + unserved.Count);
        demands.AddRange(served);
        foreach (var (agent, arrival) in unserved)
        {
            demands.Add(new Demand(arrival, holds.Length == 0 ? TimeSpan.Zero : TimeSpan.FromTicks(holds[Pick(agent, arrival, holds.Length)])));
        }

        demands.Sort((a, b) => a.Arrival.CompareTo(b.Arrival) is var byTime and not 0 ? byTime : a.Hold.CompareTo(b.Hold));
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
}
