using LicenseBroker.Domain.Planning;

namespace LicenseBroker.UnitTests;

/// <summary>
/// The replay against the mathematics it must agree with, on synthetic Poisson traces. A 30-day trace is one
/// sample: over seeds 1-6 its mean wait at 26 seats ranged 0.54-0.97 min and its refusals at 30 seats
/// 0.69-1.01 %; the 30-day checks use seed 2 (0.76 min, 0.81 %), and the 300-day checks show the replay
/// converging on the formulas whatever the seed.
/// </summary>
public sealed class SeatReplayTests
{
    private const int Seed = 2;

    private static readonly DateTimeOffset Start = new(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void The_formulas_give_the_published_figures()
    {
        // 40 logins an hour holding 30 minutes: 20 Erlangs offered.
        Assert.Equal(0.0085, QueueingModels.ErlangB(30, 20), 4);
        Assert.Equal(0.72, QueueingModels.ErlangCMeanWait(26, 20, meanHold: 30), 2);
        Assert.Equal(1.0, QueueingModels.ErlangC(20, 20));
        Assert.Equal(1.0, QueueingModels.ErlangB(0, 3));

        // Engset tends to Erlang B as the sources grow; with as many sources as seats nobody is refused.
        Assert.Equal(0, QueueingModels.EngsetCallCongestion(10, 10, 0.5));
        Assert.True(QueueingModels.EngsetCallCongestion(30, 40, 20.0 / 40 / (1 - 20.0 / 40)) < QueueingModels.ErlangB(30, 20));
        Assert.Equal(QueueingModels.ErlangB(30, 20), QueueingModels.EngsetCallCongestion(30, 1_000_000, 20.0 / 1_000_000), 4);
    }

    [Fact]
    public void Without_a_queue_thirty_seats_refuse_what_Erlang_B_says()
    {
        var demands = PoissonTrace(Seed, loginsPerHour: 40, meanHold: TimeSpan.FromMinutes(30), days: 30);
        var outcome = SeatReplay.Run(demands, new ReplayRules(30, Queue: false), Start, Start.AddDays(30));

        Assert.InRange(outcome.Logins, 27_500, 30_100);
        Assert.InRange(outcome.RefusedFraction, QueueingModels.ErlangB(30, 20) - 0.003, QueueingModels.ErlangB(30, 20) + 0.003);
        Assert.Equal(0, outcome.Waited);
    }

    [Fact]
    public void With_a_queue_twenty_six_seats_make_logins_wait_what_Erlang_C_says()
    {
        var demands = PoissonTrace(Seed, loginsPerHour: 40, meanHold: TimeSpan.FromMinutes(30), days: 30);
        var outcome = SeatReplay.Run(demands, new ReplayRules(26, Queue: true), Start, Start.AddDays(30));
        var expected = QueueingModels.ErlangCMeanWait(26, 20, meanHold: 30);

        Assert.Equal(0, outcome.Refused);
        Assert.InRange(outcome.MeanWait.TotalMinutes, expected * 0.9, expected * 1.1);

        // Idle seat-hours: 26 seats for 30 days minus about 20 Erlangs carried.
        Assert.InRange(outcome.IdleSeatHours, 6 * 24 * 30 * 0.8, 6 * 24 * 30 * 1.2);
    }

    [Fact]
    public void Over_300_days_the_replay_converges_on_Erlang_B_and_C_for_every_seed()
    {
        var waits = new List<double>();
        var refusals = new List<double>();
        foreach (var seed in new[] { 1, 2, 3, 4 })
        {
            var demands = PoissonTrace(seed, loginsPerHour: 40, meanHold: TimeSpan.FromMinutes(30), days: 300);
            waits.Add(SeatReplay.Run(demands, new ReplayRules(26, Queue: true), Start, Start.AddDays(300)).MeanWait.TotalMinutes);
            refusals.Add(SeatReplay.Run(demands, new ReplayRules(30, Queue: false), Start, Start.AddDays(300)).RefusedFraction);
        }

        Assert.InRange(waits.Average(), QueueingModels.ErlangCMeanWait(26, 20, 30) * 0.95, QueueingModels.ErlangCMeanWait(26, 20, 30) * 1.05);
        Assert.InRange(refusals.Average(), QueueingModels.ErlangB(30, 20) - 0.001, QueueingModels.ErlangB(30, 20) + 0.001);
    }

    [Fact]
    public void The_same_demands_give_bit_identical_answers_and_a_small_pool_is_exact()
    {
        var demands = PoissonTrace(seed: 7, loginsPerHour: 40, meanHold: TimeSpan.FromMinutes(30), days: 3);
        Assert.Equal(SeatReplay.Run(demands, new ReplayRules(22, true), Start, Start.AddDays(3)), SeatReplay.Run(demands, new ReplayRules(22, true), Start, Start.AddDays(3)));

        // One seat: A holds 0-10; B arrives at 2 and waits 8 (then holds 10-30); C arrives at 5 and gives up after 9 (it would wait until 30).
        var minutes = (int m) => Start.AddMinutes(m);
        var small = new[] { new Demand(minutes(0), TimeSpan.FromMinutes(10)), new Demand(minutes(2), TimeSpan.FromMinutes(20)), new Demand(minutes(5), TimeSpan.FromMinutes(1)) };
        var queued = SeatReplay.Run(small, new ReplayRules(1, true, MaxWait: TimeSpan.FromMinutes(9)), Start, minutes(60));
        Assert.Equal((3, 0, 1, 1), (queued.Logins, queued.Refused, queued.Waited, queued.Abandoned));
        Assert.Equal(TimeSpan.FromMinutes(8), queued.WaitMax);
        Assert.Equal(30.0 / 60, queued.IdleSeatHours, 6);
        var refused = SeatReplay.Run(small, new ReplayRules(1, false), Start, minutes(60));
        Assert.Equal((3, 2, 0), (refused.Logins, refused.Refused, refused.Waited));

        Assert.Throws<ArgumentException>(() => SeatReplay.Run([small[1], small[0]], new ReplayRules(1, false), Start, minutes(60)));
        Assert.Throws<ArgumentOutOfRangeException>(() => SeatReplay.Run(small, new ReplayRules(SeatReplay.MaxSeats + 1, false), Start, minutes(60)));
    }

    [Fact]
    public void Group_reservations_and_caps_apply_as_the_live_pool_applies_them()
    {
        var minutes = (int m) => Start.AddMinutes(m);
        var hour = TimeSpan.FromMinutes(60);

        // 3 seats; group 1 keeps 1 seat reserved; group 2 may hold at most 1.
        var rules = new ReplayRules(3, Queue: true) { Groups = [new ReplayGroupRule(1, null), new ReplayGroupRule(0, 1)] };
        var demands = new[]
        {
            new Demand(minutes(0), hour, 0),        // takes an unreserved seat
            new Demand(minutes(1), hour, 2),        // takes the other unreserved seat (cap 1 reached)
            new Demand(minutes(2), hour, 0),        // the last seat is reserved for group 1: waits
            new Demand(minutes(3), hour, 1),        // a member takes the reserved seat at once
            new Demand(minutes(4), hour, 2, false), // group 2 at its cap: refused (it does not wait)
        };

        var outcome = SeatReplay.Run(demands, rules, Start, minutes(180));

        Assert.Equal((5, 1, 1, 0), (outcome.Logins, outcome.Refused, outcome.Waited, outcome.Abandoned));
        Assert.Equal(TimeSpan.FromMinutes(58), outcome.WaitMax); // the third waited until the first freed a seat at 60

        // Without the rules the same logins find seats in arrival order: the fourth waits instead.
        var plain = SeatReplay.Run(demands.Select(d => d with { Group = 0 }), rules with { Groups = [] }, Start, minutes(180));
        Assert.Equal((5, 1, 1), (plain.Logins, plain.Refused, plain.Waited));
        Assert.Equal(TimeSpan.FromMinutes(57), plain.WaitMax);
    }

    [Fact]
    public void The_focus_hour_counts_its_own_logins_and_idle_seat_hours()
    {
        // Hour-of-week 9 is Monday 09:00-10:00 UTC.
        var monday = new DateTimeOffset(2026, 11, 2, 0, 0, 0, TimeSpan.Zero);
        Assert.Equal(0, SeatReplay.HourOfWeek(monday));
        var at = (double h) => monday.AddHours(h);
        var demands = new[]
        {
            new Demand(at(9.25), TimeSpan.FromMinutes(30)),  // in the focus hour, holds 9:15-9:45
            new Demand(at(9.5), TimeSpan.FromMinutes(60)),   // in the focus hour, refused (one seat)
            new Demand(at(11), TimeSpan.FromMinutes(30)),    // outside
        };

        var outcome = SeatReplay.Run(demands, new ReplayRules(1, false) { FocusHourOfWeek = 9 }, monday, monday.AddDays(14));

        Assert.Equal((3, 1), (outcome.Logins, outcome.Refused));
        var focus = outcome.Focus!;
        Assert.Equal((2, 1), (focus.Logins, focus.Refused));
        Assert.Equal(2 - 0.5, focus.IdleSeatHours, 9); // two Monday 9 o'clocks in the range, one half-hour busy
    }

    /// <summary>Poisson arrivals and exponential holds from a fixed seed: the same list every run.</summary>
    private static List<Demand> PoissonTrace(int seed, double loginsPerHour, TimeSpan meanHold, int days)
    {
        var random = new Random(seed);
        var demands = new List<Demand>();
        var at = 0.0;
        while (true)
        {
            at += -Math.Log(1 - random.NextDouble()) / loginsPerHour;
            if (at >= days * 24)
            {
                return demands;
            }

            demands.Add(new Demand(Start.AddHours(at), TimeSpan.FromMinutes(-Math.Log(1 - random.NextDouble()) * meanHold.TotalMinutes)));
        }
    }
}
