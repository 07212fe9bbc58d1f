using LicenseBroker.Domain.Planning;

namespace LicenseBroker.UnitTests;

public sealed class DemandBuilderTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);

    private static DateTimeOffset At(double minutes) => T0.AddMinutes(minutes);

    [Fact]
    public void Retries_are_one_login_a_queue_grant_arrives_when_first_asked_and_the_unserved_get_an_observed_hold()
    {
        var events = new[]
        {
            new RecordedEvent(At(0), RecordedKind.Granted, "alice", "l1"),
            new RecordedEvent(At(1), RecordedKind.Refused, "bob", null),
            new RecordedEvent(At(3), RecordedKind.Refused, "bob", null),      // a retry: the same login
            new RecordedEvent(At(5), RecordedKind.Refused, "bob", null),      // still the same login
            new RecordedEvent(At(30), RecordedKind.Ended, "alice", "l1"),     // alice held 30 min
            new RecordedEvent(At(30), RecordedKind.Granted, "bob", "l2"),     // 25 min after bob's last ask: a new login at 30
            new RecordedEvent(At(40), RecordedKind.Refused, "carol", null),   // never served
            new RecordedEvent(At(50), RecordedKind.Ended, "bob", "l2"),       // bob held 20 min
            new RecordedEvent(At(55), RecordedKind.Queued, "dave", null),
            new RecordedEvent(At(58), RecordedKind.Granted, "dave", "l3"),    // served from the queue: arrived at 55
            new RecordedEvent(At(59), RecordedKind.Ended, "zoe", "l0"),       // granted before the range: ignored
        };

        var demands = DemandBuilder.Build(events, At(60));

        Assert.Equal([At(0), At(1), At(30), At(40), At(55)], demands.Select(d => d.Arrival));
        Assert.Equal(TimeSpan.FromMinutes(30), demands[0].Hold);
        Assert.Equal(TimeSpan.FromMinutes(20), demands[2].Hold);
        Assert.Equal(TimeSpan.FromMinutes(2), demands[4].Hold); // still open at the end of the range: held until then

        // Unserved logins (bob's first, carol's) take holds the log observed, the same on every run.
        TimeSpan[] observed = [TimeSpan.FromMinutes(30), TimeSpan.FromMinutes(20), TimeSpan.FromMinutes(2)];
        Assert.Contains(demands[1].Hold, observed);
        Assert.Contains(demands[3].Hold, observed);
        Assert.Equal(demands, DemandBuilder.Build(events, At(60)));
    }

    [Fact]
    public void An_agent_holds_one_shared_seat_whatever_its_devices_and_named_seats_are_not_the_pools()
    {
        var events = new[]
        {
            new RecordedEvent(At(0), RecordedKind.Granted, "alice", "l1"),
            new RecordedEvent(At(2), RecordedKind.Granted, "alice", "l2", TookSharedSeat: false), // her phone: the same seat
            new RecordedEvent(At(3), RecordedKind.Granted, "nina", "n1", TookSharedSeat: false),  // a named seat
            new RecordedEvent(At(10), RecordedKind.Ended, "alice", "l1"),                         // the phone still holds it
            new RecordedEvent(At(22), RecordedKind.Queued, "bob", null),
            new RecordedEvent(At(12), RecordedKind.Ended, "nina", "n1"),                      // an expiry found late: after in sequence, no error
            new RecordedEvent(At(25), RecordedKind.Ended, "alice", "l2"),
            new RecordedEvent(At(25), RecordedKind.Granted, "bob", "l3"),                         // served from the queue: arrived at 22
        };

        var demands = DemandBuilder.Build(events, At(30), agent => agent == "bob" ? 1 : 0);

        Assert.Equal(
            [new Demand(At(0), TimeSpan.FromMinutes(25), 0, null), new Demand(At(22), TimeSpan.FromMinutes(5), 1, true)],
            demands);
    }

    [Fact]
    public void A_refused_login_that_never_came_back_keeps_its_behaviour()
    {
        var demands = DemandBuilder.Build(
            [
                new RecordedEvent(At(0), RecordedKind.Granted, "alice", "l1"),
                new RecordedEvent(At(1), RecordedKind.Refused, "bob", null),
                new RecordedEvent(At(2), RecordedKind.Queued, "carol", null),
                new RecordedEvent(At(9), RecordedKind.Ended, "alice", "l1"),
            ],
            At(10));

        Assert.Equal([null, false, true], demands.Select(d => d.Waits));
    }

    [Fact]
    public void A_wait_in_the_queue_is_one_login_however_long_it_lasted_up_to_half_a_day()
    {
        var demands = DemandBuilder.Build(
            [
                new RecordedEvent(At(0), RecordedKind.Queued, "frank", null),
                new RecordedEvent(At(120), RecordedKind.Granted, "frank", "l1"),  // two hours later: the wait served
                new RecordedEvent(At(180), RecordedKind.Ended, "frank", "l1"),
                new RecordedEvent(At(200), RecordedKind.Queued, "frank", null),
                new RecordedEvent(At(200 + (13 * 60)), RecordedKind.Granted, "frank", "l2"), // 13 h later: a new login
                new RecordedEvent(At(200 + (14 * 60)), RecordedKind.Ended, "frank", "l2"),
            ],
            At(2000));

        Assert.Equal(
            [At(0), At(200), At(200 + (13 * 60))],
            demands.Select(d => d.Arrival));
        Assert.Equal([true, true, null], demands.Select(d => d.Waits));
        Assert.Equal(TimeSpan.FromMinutes(60), demands[0].Hold);
    }

    [Fact]
    public void Grants_recorded_before_the_log_said_which_seat_they_took_are_told_apart_by_the_agents_seat_now()
    {
        var builder = new DemandBuilder(holdsNamedSeat: agent => agent == "nina");
        builder.Add(new RecordedEvent(At(0), RecordedKind.Granted, "nina", "n1", TookSharedSeat: null));
        builder.Add(new RecordedEvent(At(1), RecordedKind.Granted, "carl", "c1", TookSharedSeat: null));
        builder.Add(new RecordedEvent(At(2), RecordedKind.Granted, "carl", "c2", TookSharedSeat: null)); // his second device
        builder.Add(new RecordedEvent(At(5), RecordedKind.Ended, "nina", "n1"));
        builder.Add(new RecordedEvent(At(6), RecordedKind.Ended, "carl", "c1"));
        builder.Add(new RecordedEvent(At(9), RecordedKind.Ended, "carl", "c2"));

        Assert.Equal([new Demand(At(1), TimeSpan.FromMinutes(8))], builder.Finish(At(10)));
        Assert.Equal((1, 1), (builder.Figures.SharedGrants, builder.Figures.Peak));
    }
}
