using LicenseBroker.Domain.Administration;

namespace LicenseBroker.UnitTests;

/// <summary>The overage statement integrates the overage events' step function exactly, per UTC day and month.</summary>
public sealed class OverageStatementTests
{
    private static readonly DateTimeOffset Day = new(2026, 11, 30, 0, 0, 0, TimeSpan.Zero);

    private static readonly OverageChange[] Trace =
    [
        new(Day.AddHours(10), 1),
        new(Day.AddHours(10.5), 3),
        new(Day.AddHours(11), 2),
        new(Day.AddHours(12), 0),
        new(Day.AddDays(1).AddHours(23), 1),
        new(Day.AddDays(2).AddHours(1).AddMilliseconds(1), 0),
    ];

    [Fact]
    public void A_known_trace_gives_exact_seat_time_and_peaks_per_day_and_month()
    {
        var (days, months) = OverageStatement.Compute(0, Trace, Day, Day.AddDays(3));

        Assert.Equal(
            [("2026-11-30", 14_400_000L, 3), ("2026-12-01", 3_600_000L, 1), ("2026-12-02", 3_600_001L, 1)],
            days.Select(d => (d.Period, d.SeatMilliseconds, d.PeakSeats)));
        Assert.Equal([("2026-11", 14_400_000L, 3), ("2026-12", 7_200_001L, 1)], months.Select(m => (m.Period, m.SeatMilliseconds, m.PeakSeats)));
        Assert.Equal(4.0, days[0].SeatHours);
    }

    [Fact]
    public void A_range_that_starts_during_an_overage_starts_from_its_seats()
    {
        var from = Day.AddHours(10.75);
        var (days, _) = OverageStatement.Compute(3, Trace.Where(c => c.At >= from).ToList(), from, Day.AddDays(1));

        Assert.Equal(("2026-11-30", 9_900_000L, 3), (days.Single().Period, days.Single().SeatMilliseconds, days.Single().PeakSeats));
    }

    [Fact]
    public void Computing_again_gives_the_same_figures()
    {
        Assert.Equal(OverageStatement.Compute(0, Trace, Day, Day.AddDays(3)).Days, OverageStatement.Compute(0, Trace, Day, Day.AddDays(3)).Days);
    }
}
