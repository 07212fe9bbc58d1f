using LicenseBroker.Domain.Catalog;

namespace LicenseBroker.Domain.Planning;

/// <summary>What is asked of the planner: the range, the seat counts to try, and what "enough seats" means.</summary>
/// <param name="Candidates">Seat counts to replay; empty: every N from the recorded peak − 10 to peak + 5.</param>
/// <param name="MaxUnserved">Largest share of the busiest hour's logins left unserved (refused or gave up) that is acceptable (default 1 %).</param>
/// <param name="MaxP95Wait">Longest acceptable 95th-percentile wait in the busiest hour (default 2 min).</param>
public sealed record PlanQuestion(DateTimeOffset From, DateTimeOffset To, IReadOnlyList<int> Candidates, double MaxUnserved, TimeSpan MaxP95Wait)
{
    public static readonly double DefaultMaxUnserved = 0.01;

    public static readonly TimeSpan DefaultMaxP95Wait = TimeSpan.FromMinutes(2);

    /// <summary>The longest range replayed (the retention of raw events is 400 days).</summary>
    public static readonly TimeSpan MaxRange = TimeSpan.FromDays(400);

    /// <summary>At most this many seat counts in one question.</summary>
    public const int MaxCandidates = 64;
}

/// <summary>The pool as it is now: its shared seats, who may take one, and its group rules.</summary>
/// <param name="SeatLimit">Shared seats bought now.</param>
/// <param name="EligibleAgents">Agents allowed a shared seat now (Engset is used below <see cref="SeatPlanner.EngsetBelowAgents"/>).</param>
/// <param name="Rules">Group reservations and caps in force.</param>
/// <param name="RuledGroupOf">The group an agent's shared seat counts in (null: none), as admission takes it.</param>
public sealed record PlannedPool(int SeatLimit, int EligibleAgents, IReadOnlyList<GroupSeatRule> Rules, Func<string, string?> RuledGroupOf)
{
    /// <summary>Whether an agent holds a named seat now: tells grants apart that were recorded before the log said which seat they took.</summary>
    public Func<string, bool> HoldsNamedSeat { get; init; } = _ => false;
}

/// <summary>Which classic model is set beside the replay.</summary>
public enum PlanModel
{
    /// <summary>No queue, many agents: the probability of refusal.</summary>
    ErlangB,

    /// <summary>A queue, many agents: the probability of waiting.</summary>
    ErlangC,

    /// <summary>Few agents (below <see cref="SeatPlanner.EngsetBelowAgents"/>): the call congestion of a finite population.</summary>
    Engset,
}

/// <summary>One seat count replayed: the whole range and the busiest hour, and the model's figure beside the replay's.</summary>
/// <param name="ModelValue">The model's probability that a login finds no free seat in the busiest hour (refused in B and Engset, waits in C).</param>
/// <param name="ReplayValue">The replay's share of the busiest hour's logins not served at once (refused, waited or gave up).</param>
/// <param name="Disagrees">Replay and model differ by more than 20 % of the larger (ignored when both are under 0.5 %).</param>
public sealed record PlanCandidate(int Seats, ReplayOutcome Whole, ReplayOutcome BusiestHour, double ModelValue, double ReplayValue, bool Disagrees);

/// <summary>The planner's answer.</summary>
/// <param name="BusiestHourOfWeek">0 = Monday 00:00-01:00 UTC … 167; the hour of the week with the most offered load.</param>
/// <param name="OfferedLoad">Seats that would be held on average in that hour if every login were served at once (Erlangs: the models' input).</param>
/// <param name="ArrivalsPerHour">Logins per hour arriving in that hour of the week.</param>
/// <param name="MeanHold">Mean hold of the logins offered in that hour.</param>
/// <param name="AssumedQueue">Agents who found no seat mostly waited (so a login whose behaviour is unknown waits).</param>
/// <param name="Recommended">The smallest candidate meeting both thresholds in the busiest hour; null when none does.</param>
public sealed record SeatPlan(
    int RecordedPeak,
    int SeatLimit,
    int Logins,
    int BusiestHourOfWeek,
    double OfferedLoad,
    double ArrivalsPerHour,
    TimeSpan MeanHold,
    bool AssumedQueue,
    PlanModel Model,
    IReadOnlyList<PlanCandidate> Candidates,
    int? Recommended,
    RecordedFigures Recorded);

/// <summary>
/// How many shared seats a pool needs: its recorded demand replayed against each candidate N with today's rules
/// (<see cref="SeatReplay"/>), the classic model beside it for the busiest hour of the week, and the smallest N
/// that meets the thresholds. A pure function of the events: the same log gives bit-identical answers.
/// </summary>
public static class SeatPlanner
{
    /// <summary>Below this many eligible agents a pool without a queue is compared with Engset rather than Erlang B.</summary>
    public const int EngsetBelowAgents = 30;

    /// <summary>Replay and model disagree when they differ by more than this share of the larger.</summary>
    public const double DisagreementRatio = 0.2;

    /// <summary>Figures both below this are too small to compare.</summary>
    public const double DisagreementFloor = 0.005;

    /// <param name="events">The pool's events in the range, in the order the pool made them (read in pages, never held whole).</param>
    public static async Task<SeatPlan> PlanAsync(IAsyncEnumerable<RecordedEvent> events, PlannedPool pool, PlanQuestion question, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentNullException.ThrowIfNull(question);
        if (question.To <= question.From || question.To - question.From > PlanQuestion.MaxRange)
        {
            throw new ArgumentException("the range must end after it starts, at most 400 days later", nameof(question));
        }

        // Group indexes for the replay: 1.. in the order of the rules (sorted by id: the same every run).
        var rules = pool.Rules.OrderBy(r => r.GroupId, StringComparer.Ordinal).ToList();
        var index = rules.Select((r, i) => (r.GroupId, i + 1)).ToDictionary(p => p.GroupId, p => p.Item2, StringComparer.Ordinal);
        var groupRules = rules.Select(r => new ReplayGroupRule(r.Reserved, r.Max)).ToList();
        int GroupOf(string agent) => pool.RuledGroupOf(agent) is { } g && index.TryGetValue(g, out var i) ? i : 0;

        var builder = new DemandBuilder(GroupOf, pool.HoldsNamedSeat);
        await foreach (var recordedEvent in events.WithCancellation(cancellationToken))
        {
            builder.Add(recordedEvent);
        }

        var recorded = builder.Figures;
        var demands = builder.Finish(question.To);
        var (busiest, load, arrivalsPerHour, meanHold) = BusiestHour(demands, question.From, question.To);
        var queue = recorded.MostlyWaited;
        var model = pool.EligibleAgents < EngsetBelowAgents ? PlanModel.Engset : queue ? PlanModel.ErlangC : PlanModel.ErlangB;

        var (lowest, highest) = (Math.Max(0, recorded.Peak - 10), Math.Min(recorded.Peak + 5, SeatReplay.MaxSeats));
        var seatCounts = question.Candidates.Count > 0
            ? question.Candidates.Distinct().Order().ToList()
            : Enumerable.Range(lowest, highest - lowest + 1).ToList();

        var candidates = new List<PlanCandidate>(seatCounts.Count);
        foreach (var seats in seatCounts)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var rulesOfN = new ReplayRules(seats, queue) { Groups = groupRules, FocusHourOfWeek = busiest };
            var whole = SeatReplay.Run(demands, rulesOfN, question.From, question.To);
            var hour = whole.Focus!;
            // Each model gives the chance that a login finds no free seat (refused in B and Engset, waits in C):
            // the replay's share of logins not served at once.
            var modelValue = model switch
            {
                PlanModel.ErlangC => QueueingModels.ErlangC(seats, load),
                PlanModel.Engset => Engset(seats, pool.EligibleAgents, load),
                _ => QueueingModels.ErlangB(seats, load),
            };
            var replayValue = hour.BlockedFraction;
            var larger = Math.Max(modelValue, replayValue);
            var disagrees = larger >= DisagreementFloor && Math.Abs(modelValue - replayValue) > DisagreementRatio * larger;
            candidates.Add(new PlanCandidate(seats, whole with { Focus = null }, hour, modelValue, replayValue, disagrees));
        }

        var recommended = candidates.FirstOrDefault(c => c.BusiestHour.UnservedFraction <= question.MaxUnserved && c.BusiestHour.WaitP95 <= question.MaxP95Wait);
        return new SeatPlan(
            recorded.Peak, pool.SeatLimit, demands.Count, busiest, load, arrivalsPerHour, meanHold, queue, model, candidates, recommended?.Seats, recorded);
    }

    // The busy hour (teletraffic's time-consistent busy hour, per hour of the week): the hour of the week with the
    // most offered load, i.e. seats that would be held in it if every login were served at once, averaged over its
    // occurrences in the range; the first such hour on a tie, Monday 00:00 when nothing was asked. Its arrival rate
    // and the mean hold of the logins offered in it are reported beside the load.
    private static (int Hour, double OfferedLoad, double ArrivalsPerHour, TimeSpan MeanHold) BusiestHour(List<Demand> demands, DateTimeOffset from, DateTimeOffset to)
    {
        const long hourTicks = TimeSpan.TicksPerHour;
        const long weekTicks = hourTicks * SeatReplay.HoursPerWeek;
        var offered = new double[SeatReplay.HoursPerWeek]; // seat-ticks offered in each hour of the week
        var arrivals = new long[SeatReplay.HoursPerWeek];
        foreach (var demand in demands)
        {
            var start = demand.Arrival.UtcTicks;
            var hold = demand.Hold.Ticks;
            arrivals[SeatReplay.HourOfWeek(demand.Arrival)]++;

            // Whole weeks of a very long hold fill every hour alike; the rest is walked hour by hour (at most a week).
            if (hold >= weekTicks)
            {
                for (var h = 0; h < SeatReplay.HoursPerWeek; h++)
                {
                    offered[h] += hold / weekTicks * hourTicks;
                }

                hold %= weekTicks;
            }

            for (var at = start; at < start + hold;)
            {
                var next = Math.Min((at / hourTicks + 1) * hourTicks, start + hold);
                offered[SeatReplay.HourOfWeek(at)] += next - at;
                at = next;
            }
        }

        var best = 0;
        var bestLoad = -1.0;
        var hours = new double[SeatReplay.HoursPerWeek];
        for (var h = 0; h < SeatReplay.HoursPerWeek; h++)
        {
            hours[h] = (double)(SeatReplay.TicksInHourOfWeek(to.UtcTicks, h) - SeatReplay.TicksInHourOfWeek(from.UtcTicks, h)) / hourTicks;
            var load = hours[h] > 0 ? offered[h] / hourTicks / hours[h] : 0;
            if (load > bestLoad)
            {
                (best, bestLoad) = (h, load);
            }
        }

        var present = demands.Where(d => SeatReplay.OffersIn(d.Arrival.UtcTicks, d.Hold.Ticks, best)).ToList();
        var meanHold = present.Count == 0 ? TimeSpan.Zero : TimeSpan.FromTicks((long)present.Average(d => (double)d.Hold.Ticks));
        return (best, Math.Max(0, bestLoad), hours[best] > 0 ? arrivals[best] / hours[best] : 0, meanHold);
    }

    // Engset from the offered load of the whole pool: each idle agent offers β = a / (S − a) (a < S);
    // with the load at or above the agents, every seat is wanted all the time.
    private static double Engset(int seats, int agents, double load) =>
        agents <= seats ? 0.0 : load >= agents ? 1.0 : QueueingModels.EngsetCallCongestion(seats, agents, load / (agents - load));
}
