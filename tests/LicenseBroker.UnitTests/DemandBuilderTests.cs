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
            new RecordedEvent(At(5), RecordedKind.Queued, "bob", null),       // still the same login
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
    public void Events_out_of_order_are_refused()
    {
        Assert.Throws<ArgumentException>(() => DemandBuilder.Build(
            [new RecordedEvent(At(2), RecordedKind.Refused, "a", null), new RecordedEvent(At(1), RecordedKind.Refused, "a", null)], At(3)));
    }
}
