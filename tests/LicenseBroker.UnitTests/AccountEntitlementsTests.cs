using LicenseBroker.Domain.Entitlements;
using LicenseBroker.Domain.Seats;

namespace LicenseBroker.UnitTests;

public sealed class AccountEntitlementsTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 4, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void The_diff_lists_what_changed_and_what_went_and_nothing_else()
    {
        var before = new AccountEntitlements("acme", 7,
            [new ProductTerms("remote-support", Now.AddDays(30), false), new ProductTerms("service-desk", Now.AddDays(30), false), new ProductTerms("monitoring", Now.AddDays(30), true)],
            [
                new AgentEntitlements("alice", true, [new AgentSeat("remote-support", SeatType.Named)]),
                new AgentEntitlements("bob", true, [new AgentSeat("remote-support", SeatType.Concurrent)]),
                new AgentEntitlements("carol", true, []),
                new AgentEntitlements("dave", true, [new AgentSeat("service-desk", SeatType.Named)]),
            ]);
        var after = new AccountEntitlements("acme", 9,
            [new ProductTerms("remote-support", Now.AddDays(60), false), new ProductTerms("monitoring", Now.AddDays(30), true)],
            [
                new AgentEntitlements("alice", true, [new AgentSeat("remote-support", SeatType.Named)]),
                new AgentEntitlements("bob", true, [new AgentSeat("remote-support", SeatType.Named)]),
                new AgentEntitlements("carol", false, []),
                new AgentEntitlements("erin", true, [new AgentSeat("remote-support", SeatType.Concurrent)]),
            ]);

        var changes = AccountEntitlements.Diff(before, after);

        Assert.Equal((7, 9), (changes.FromVersion, changes.Version));
        Assert.Equal(["remote-support"], changes.Products.Select(p => p.Product));
        Assert.Equal(["service-desk"], changes.RemovedProducts);
        Assert.Equal(["bob", "carol", "erin"], changes.Agents.Select(a => a.AgentId));
        Assert.Equal(["dave"], changes.RemovedAgents);
        Assert.Empty(AccountEntitlements.Diff(after, after).Agents);
    }

    [Theory]
    [InlineData(false, true, false, true, EntitlementStatus.UnknownAgent)]
    [InlineData(true, false, false, true, EntitlementStatus.NoActiveSubscription)]
    [InlineData(true, true, false, false, EntitlementStatus.NoActiveSubscription)]
    [InlineData(true, true, false, true, EntitlementStatus.NoSeatAssigned)]
    [InlineData(true, true, true, true, EntitlementStatus.Entitled)]
    public void The_rule_is_the_one_of_CheckEntitlement(bool known, bool subscribed, bool hasSeat, bool valid, EntitlementStatus expected)
    {
        var terms = subscribed ? new ProductTerms("remote-support", valid ? Now.AddSeconds(1) : Now, false) : null;
        Assert.Equal(expected, AccountEntitlements.Decide(known, terms, hasSeat, Now));
        if (known && subscribed && valid)
        {
            Assert.Equal(EntitlementStatus.Entitled, AccountEntitlements.Decide(known, terms! with { Unlimited = true }, hasSeat: false, Now));
        }
    }
}
