using System.Text.RegularExpressions;
using LicenseBroker.Domain.Seats;

namespace LicenseBroker.UnitTests;

public sealed class SeatRulesTests
{
    [Fact]
    public void Lease_ids_carry_128_random_bits_and_never_repeat()
    {
        var ids = Enumerable.Range(0, 10_000).Select(_ => SeatBroker.NewLeaseId()).ToList();
        Assert.All(ids, id => Assert.Matches(new Regex("^ls_[A-Za-z0-9_-]{22}$"), id));
        Assert.Equal(ids.Count, ids.Distinct(StringComparer.Ordinal).Count());
    }

    [Theory]
    [InlineData("00:00:00.500", "00:00:00.100")]
    [InlineData("00:01:30", "00:01:30")]
    [InlineData("00:01:30", "00:00:00")]
    public void Unworkable_lease_timings_are_refused_at_start(string ttl, string interval)
    {
        var options = new SeatOptions { LeaseTtl = TimeSpan.Parse(ttl, System.Globalization.CultureInfo.InvariantCulture), HeartbeatInterval = TimeSpan.Parse(interval, System.Globalization.CultureInfo.InvariantCulture) };
        Assert.Throws<InvalidOperationException>(options.Validate);
    }

    [Fact]
    public void Default_timings_match_the_design()
    {
        var options = new SeatOptions();
        options.Validate();
        Assert.Equal(TimeSpan.FromSeconds(90), options.LeaseTtl);
        Assert.Equal(TimeSpan.FromSeconds(30), options.HeartbeatInterval);
    }
}
