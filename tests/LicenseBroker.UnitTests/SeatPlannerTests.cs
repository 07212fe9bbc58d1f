using LicenseBroker.Domain.Catalog;
using LicenseBroker.Domain.Planning;

namespace LicenseBroker.UnitTests;

public sealed class SeatPlannerTests
{
    private static readonly DateTimeOffset Monday = new(2026, 11, 2, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task A_daily_waiter_makes_the_plan_one_seat_more_than_the_peak_and_the_answer_is_the_same_every_time()
    {
        // Four weeks of weekdays: three agents fill three seats in the morning, a fourth queues at 10:30 and gets the
        // first seat freed at 12:15.
        var events = new List<RecordedEvent>();
        for (var day = 0; day < 28; day++)
        {
            if (day % 7 >= 5)
            {
                continue;
            }

            var at = (double hours) => Monday.AddDays(day).AddHours(hours);
            events.AddRange(
            [
                new RecordedEvent(at(8), RecordedKind.Granted, "carol", $"c{day}"),
                new RecordedEvent(at(8.5), RecordedKind.Granted, "erin", $"e{day}"),
                new RecordedEvent(at(9), RecordedKind.Granted, "dave", $"d{day}"),
                new RecordedEvent(at(10.5), RecordedKind.Queued, "frank", null),
                new RecordedEvent(at(12.25), RecordedKind.Ended, "carol", $"c{day}"),
                new RecordedEvent(at(12.25), RecordedKind.Granted, "frank", $"f{day}"),
                new RecordedEvent(at(15), RecordedKind.Ended, "frank", $"f{day}"),
                new RecordedEvent(at(16), RecordedKind.Ended, "erin", $"e{day}"),
                new RecordedEvent(at(17.5), RecordedKind.Ended, "dave", $"d{day}"),
            ]);
        }

        var pool = new PlannedPool(3, 4, [], _ => null);
        var question = new PlanQuestion(Monday, Monday.AddDays(28), [], PlanQuestion.DefaultMaxUnserved, PlanQuestion.DefaultMaxP95Wait);

        var plan = await SeatPlanner.PlanAsync(events.ToAsyncEnumerable(), pool, question);

        Assert.Equal((3, 80, 20), (plan.RecordedPeak, plan.Logins, plan.Recorded.QueueJoins));
        Assert.True(plan.AssumedQueue);
        Assert.Equal(PlanModel.Engset, plan.Model);
        Assert.Equal(Enumerable.Range(0, 9), plan.Candidates.Select(c => c.Seats));
        Assert.Equal(11, plan.BusiestHourOfWeek % 24); // 10:30-12:15: four agents want a seat (frank's login offered from 10:30)
        Assert.Equal(4.0, plan.OfferedLoad, 9);

        // At the real limit the replay is the log: frank waits 1 h 45 every day.
        var real = plan.Candidates.Single(c => c.Seats == 3).Whole;
        Assert.Equal((80, 0, 20), (real.Logins, real.Refused, real.Waited));
        Assert.Equal(TimeSpan.FromMinutes(105), real.WaitMax);
        Assert.Equal(4, plan.Recommended);

        // Bit-identical on a second run.
        var again = await SeatPlanner.PlanAsync(events.ToAsyncEnumerable(), pool, question);
        Assert.Equal(plan.Candidates, again.Candidates);
        Assert.Equal(plan with { Candidates = [], Recorded = again.Recorded }, again with { Candidates = [] });
    }

    [Fact]
    public async Task A_large_pool_without_a_queue_agrees_with_erlang_b_in_its_busy_hour()
    {
        // 60 agents; Poisson logins at 40/h and 30-minute exponential holds, all day for 30 days: every hour is alike,
        // so the busy hour's replay should sit near Erlang B (20 Erlangs) for the seat counts around the load.
        var random = new Random(3);
        var events = new List<(DateTimeOffset At, RecordedEvent Event)>();
        var hours = 0.0;
        var n = 0;
        while ((hours += -Math.Log(1 - random.NextDouble()) / 40) < 30 * 24)
        {
            var lease = $"l{n++}";
            var agent = $"agent-{n}";
            var start = Monday.AddHours(hours);
            events.Add((start, new RecordedEvent(start, RecordedKind.Granted, agent, lease)));
            var end = start.AddMinutes(-Math.Log(1 - random.NextDouble()) * 30);
            events.Add((end, new RecordedEvent(end, RecordedKind.Ended, agent, lease)));
        }

        var ordered = events.OrderBy(e => e.At).Select(e => e.Event).ToList();
        var pool = new PlannedPool(100, 60_000, [], _ => null);
        var question = new PlanQuestion(Monday, Monday.AddDays(30), [15, 20, 25, 30, 35], 0.01, TimeSpan.Zero);

        var plan = await SeatPlanner.PlanAsync(ordered.ToAsyncEnumerable(), pool, question);

        Assert.Equal(PlanModel.ErlangB, plan.Model);
        Assert.False(plan.AssumedQueue);
        foreach (var candidate in plan.Candidates.Where(c => c.Seats <= 25))
        {
            Assert.InRange(candidate.ReplayValue, candidate.ModelValue * 0.5, (candidate.ModelValue * 1.5) + 0.01);
        }

        // Refusals at 30 seats over the month: close to Erlang B(30, 20) = 0.85 %.
        Assert.InRange(plan.Candidates.Single(c => c.Seats == 30).Whole.RefusedFraction, 0.0055, 0.0115);
    }
}
