namespace LicenseBroker.Domain.Administration;

/// <summary>The pool's overage seats from <see cref="At"/> on, as an overage event of the audit log recorded it.</summary>
public sealed record OverageChange(DateTimeOffset At, int OverageSeats);

/// <summary>One UTC day (or month) of a statement: overage seat-time to the millisecond, and the most overage seats at once.</summary>
public sealed record OveragePeriod(string Period, long SeatMilliseconds, int PeakSeats)
{
    public double SeatSeconds => SeatMilliseconds / 1000.0;

    public double SeatHours => SeatMilliseconds / 3_600_000.0;
}

/// <summary>
/// The overage statement of a pool (issue 32): per UTC day and per month, the seat-time spent above the purchased shared
/// seats and the peak of overage seats, computed from the audit log's overage events only (pool.overage_started,
/// pool.overage_changed, pool.overage_ended, each with the overage seats after it), never from counters. The overage
/// seats are a step function of time; the statement integrates it exactly between events, so computing it again gives
/// the same figures.
/// </summary>
public static class OverageStatement
{
    /// <summary>The longest range a statement covers.</summary>
    public static readonly TimeSpan MaxRange = TimeSpan.FromDays(400);

    /// <param name="initialSeats">The overage seats at <paramref name="from"/> (the last event before it, 0 without one).</param>
    /// <param name="changes">The events in [<paramref name="from"/>, <paramref name="to"/>), in the pool's order.</param>
    public static (IReadOnlyList<OveragePeriod> Days, IReadOnlyList<OveragePeriod> Months) Compute(
        int initialSeats, IReadOnlyList<OverageChange> changes, DateTimeOffset from, DateTimeOffset to)
    {
        var days = new List<OveragePeriod>();
        var seats = initialSeats;
        var next = 0;
        for (var dayStart = new DateTimeOffset(from.UtcDateTime.Date, TimeSpan.Zero); dayStart < to; dayStart = dayStart.AddDays(1))
        {
            var start = dayStart < from ? from : dayStart;
            var end = dayStart.AddDays(1) < to ? dayStart.AddDays(1) : to;
            long milliseconds = 0;
            var peak = seats;
            var cursor = start;
            while (next < changes.Count && changes[next].At < end)
            {
                var at = changes[next].At < cursor ? cursor : changes[next].At;
                milliseconds += seats * (long)(at - cursor).TotalMilliseconds;
                cursor = at;
                seats = changes[next].OverageSeats;
                peak = Math.Max(peak, seats);
                next++;
            }

            milliseconds += seats * (long)(end - cursor).TotalMilliseconds;
            days.Add(new OveragePeriod(dayStart.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), milliseconds, peak));
        }

        var months = days
            .GroupBy(d => d.Period[..7], StringComparer.Ordinal)
            .Select(g => new OveragePeriod(g.Key, g.Sum(d => d.SeatMilliseconds), g.Max(d => d.PeakSeats)))
            .ToList();
        return (days, months);
    }
}
