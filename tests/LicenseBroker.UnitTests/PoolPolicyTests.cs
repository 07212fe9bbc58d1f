using LicenseBroker.Domain.Catalog;
using LicenseBroker.Domain.Seats;

namespace LicenseBroker.UnitTests;

public sealed class PoolPolicyTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
    private static readonly PoolId Pool = new("acme", "remote-support");

    [Fact]
    public void Subscription_is_active_only_before_its_end()
    {
        var policy = Policy(new SubscriptionTerms(Plan.Paid, Now.AddSeconds(1), 1, 1, 0));
        Assert.True(policy.IsActiveAt(Now));
        Assert.False(policy.IsActiveAt(Now.AddSeconds(1)));
        Assert.False(Policy(null).IsActiveAt(Now));
    }

    [Fact]
    public void Seat_type_follows_the_assignment()
    {
        var policy = Policy(new SubscriptionTerms(Plan.Trial, Now.AddDays(1), 1, 3, 0));
        Assert.Equal(SeatType.Named, policy.SeatTypeOf("named"));
        Assert.Equal(SeatType.Concurrent, policy.SeatTypeOf("shared"));
        Assert.Null(policy.SeatTypeOf("nobody"));
        Assert.Equal(3, policy.ConcurrentLimit);
    }

    [Fact]
    public void Unlimited_products_admit_every_agent_of_the_account_and_nobody_else()
    {
        var policy = new PoolPolicy(
            Pool,
            SeatModel.Unlimited,
            new SubscriptionTerms(Plan.Paid, Now.AddDays(1), 0, 0, 0),
            new Dictionary<string, SeatType>(),
            new Dictionary<string, AgentContact> { ["member"] = new("Member", "member@example.test") });
        Assert.Equal(SeatType.Unlimited, policy.SeatTypeOf("member"));
        Assert.Null(policy.SeatTypeOf("stranger"));
    }

    [Fact]
    public void Refusal_names_the_first_rule_broken()
    {
        var active = Policy(new SubscriptionTerms(Plan.Paid, Now.AddDays(1), 1, 1, 0));
        Assert.Null(active.RefusalFor("shared", Now));
        Assert.IsType<AcquireOutcome.NoSeatAssigned>(active.RefusalFor("nobody", Now));
        Assert.IsType<AcquireOutcome.NoActiveSubscription>(Policy(null).RefusalFor("shared", Now));
    }

    [Fact]
    public void No_subscription_means_a_zero_limit()
    {
        Assert.Equal(0, Policy(null).ConcurrentLimit);
    }

    private static PoolPolicy Policy(SubscriptionTerms? terms) => new(
        Pool,
        SeatModel.Seats,
        terms,
        new Dictionary<string, SeatType> { ["named"] = SeatType.Named, ["shared"] = SeatType.Concurrent },
        new Dictionary<string, AgentContact>());
}
