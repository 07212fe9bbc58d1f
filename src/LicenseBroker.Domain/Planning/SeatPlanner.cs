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
public sealed record PlannedPool(int SeatLimit, int EligibleAgents, IReadOnlyList<GroupSeatRule> Rules, Func<string, string?> RuledGroupOf);

/// <summary>Which classic model is set beside the replay.</summary>
public enum PlanModel
{
    /// <summary>No queue, many agents: the probability of refusal.</summary>
    ErlangB,

    /// <summary>A queue: the probability of waiting.</summary>
    ErlangC,

    /// <summary>No queue, few agents: the call congestion.</summary>
    Engset,
}

/// <summary>One seat count replayed: the whole range and the busiest hour, and the model's figure beside the replay's.</summary>
/// <param name="ModelValue">The model's probability of refusal (B, Engset) or of waiting (C) in the busiest hour.</param>
/// <param name="ReplayValue">The replay's share of the busiest hour's logins refused (B, Engset) or that waited (C).</param>
/// <param name="Disagrees">Replay and model differ by more than 20 % of the larger (ignored when both are under 0.5 %).</param>
public sealed record PlanCandidate(int Seats, ReplayOutcome Whole, ReplayOutcome BusiestHour, double ModelValue, double ReplayValue, bool Disagrees);

/// <summary>The planner's answer.</summary>
/// <param name="BusiestHourOfWeek">0 = Monday 00:00-01:00 UTC … 167; the hour of the week with the most offered load.</param>
/// <param name="ArrivalsPerHour">Logins per hour in the busiest hour of the week (the models' λ).</param>
/// <param name="MeanHold">Mean hold of those logins (the models' 1/μ).</param>
/// <param name="AssumedQueue">Agents who found no seat mostly waited (so a login whose behaviour is unknown waits).</param>
/// <param name="Recommended">The smallest candidate meeting both thresholds in the busiest hour; null when none does.</param>
public sealed record SeatPlan(
    int RecordedPeak,
    int SeatLimit,
    int Logins,
    int BusiestHourOfWeek,
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

        var builder = new DemandBuilder(GroupOf);
        await foreach (var recordedEvent in events.WithCancellation(cancellationToken))
        {
            builder.Add(recordedEvent);
        }

        var recorded = builder.Figures;
        var demands = builder.Finish(question.To);
        var (busiest, arrivalsPerHour, meanHold) = BusiestHour(demands, question.From, question.To);
        var queue = recorded.MostlyWaited;
        var model = queue ? PlanModel.ErlangC : pool.EligibleAgents < EngsetBelowAgents ? PlanModel.Engset : PlanModel.ErlangB;
        var load = arrivalsPerHour * meanHold.TotalHours;

        var seatCounts = question.Candidates.Count > 0
            ? question.Candidates.Distinct().Order().ToList()
            : Enumerable.Range(Math.Max(0, recorded.Peak - 10), Math.Min(recorded.Peak + 5, SeatReplay.MaxSeats) - Math.Max(0, recorded.Peak - 10) + 1).ToList();

        var candidates = new List<PlanCandidate>(seatCounts.Count);
        foreach (var seats in seatCounts)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var rulesOfN = new ReplayRules(seats, queue) { Groups = groupRules, FocusHourOfWeek = busiest };
            var whole = SeatReplay.Run(demands, rulesOfN, question.From, question.To);
            var hour = whole.Focus!;
            var (modelValue, replayValue) = model switch
            {
                PlanModel.ErlangC => (QueueingModels.ErlangC(seats, load), hour.WaitedFraction),
                PlanModel.Engset => (Engset(seats, pool.EligibleAgents, load), hour.RefusedFraction),
                _ => (QueueingModels.ErlangB(seats, load), hour.RefusedFraction),
            };
            var larger = Math.Max(modelValue, replayValue);
            var disagrees = larger >= DisagreementFloor && Math.Abs(modelValue - replayValue) > DisagreementRatio * larger;
            candidates.Add(new PlanCandidate(seats, whole with { Focus = null }, hour, modelValue, replayValue, disagrees));
        }

        var recommended = candidates.FirstOrDefault(c => c.BusiestHour.UnservedFraction <= question.MaxUnserved && c.BusiestHour.WaitP95 <= question.MaxP95Wait);
        return new SeatPlan(
            recorded.Peak, pool.SeatLimit, demands.Count, busiest, arrivalsPerHour, meanHold, queue, model, candidates, recommended?.Seats, recorded);
    }

    // The hour of the week with the most offered load (logins × mean hold per hour of that hour-of-week in the
    // range); the first such hour on a tie, Monday 00:00 when nothing was asked.
    private static (int Hour, double ArrivalsPerHour, TimeSpan MeanHold) BusiestHour(List<Demand> demands, DateTimeOffset from, DateTimeOffset to)
    {
        var logins = new long[SeatReplay.HoursPerWeek];
        var holdTicks = new double[SeatReplay.HoursPerWeek];
        foreach (var demand in demands)
        {
            var hour = SeatReplay.HourOfWeek(demand.Arrival);
            logins[hour]++;
            holdTicks[hour] += demand.Hold.Ticks;
        }

        var best = 0;
        var bestLoad = -1.0;
        var hours = new double[SeatReplay.HoursPerWeek];
        for (var h = 0; h < SeatReplay.HoursPerWeek; h++)
        {
            hours[h] = (double)(SeatReplay.TicksInHourOfWeek(to.UtcTicks, h) - SeatReplay.TicksInHourOfWeek(from.UtcTicks, h)) / TimeSpan.TicksPerHour;
            var load = hours[h] > 0 ? holdTicks[h] / TimeSpan.TicksPerHour / hours[h] : 0;
            if (load > bestLoad)
            {
                (best, bestLoad) = (h, load);
            }
        }

        // A range shorter than the busiest hour's own span still counts that part of an hour, never zero.
        var arrivals = hours[best] > 0 ? logins[best] / hours[best] : 0;
        var meanHold = logins[best] == 0 ? TimeSpan.Zero : TimeSpan.FromTicks((long)(holdTicks[best] / logins[best]));
        return (best, arrivals, meanHold);
    }

    // Engset from the offered load of the whole pool: each idle agent offers β = a / (S − a) (a < S);
    // with the load at or above the agents, every seat is wanted all the time.
    private static double Engset(int seats, int agents, double load) =>
        agents <= seats ? 0.0 : load >= agents ? 1.0 : QueueingModels.EngsetCallCongestion(seats, agents, load / (agents - load));
}
