using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Domain.Catalog;

/// <summary>Kind of subscription.</summary>
public enum Plan
{
    Trial,
    Paid,
}

/// <summary>How a product counts seats.</summary>
public enum SeatModel
{
    /// <summary>Named and concurrent seats, each with a limit.</summary>
    Seats,

    /// <summary>No seat limit: every agent of the account may use the product (Monitoring).</summary>
    Unlimited,
}

/// <summary>The limits an account bought for a product.</summary>
public sealed record SubscriptionTerms(
    Plan Plan,
    DateTimeOffset ValidUntil,
    int NamedSeatLimit,
    int ConcurrentSeatLimit,
    int UnattendedDeviceLimit);

/// <summary>
/// What admission needs to know about one pool (account and product), read from the
/// durable catalog and cached: the subscription and who holds which kind of seat.
/// </summary>
public sealed class PoolPolicy
{
    private readonly IReadOnlyDictionary<string, SeatType> _assignments;
    private readonly IReadOnlySet<string> _accountAgents;

    public PoolPolicy(
        PoolId pool,
        SeatModel seatModel,
        SubscriptionTerms? subscription,
        IReadOnlyDictionary<string, SeatType> assignments,
        IReadOnlySet<string> accountAgents)
    {
        Pool = pool;
        SeatModel = seatModel;
        Subscription = subscription;
        _assignments = assignments;
        _accountAgents = accountAgents;
    }

    public PoolId Pool { get; }

    public SeatModel SeatModel { get; }

    /// <summary>Null when the account never subscribed to the product (or the product is unknown).</summary>
    public SubscriptionTerms? Subscription { get; }

    public int ConcurrentLimit => Subscription?.ConcurrentSeatLimit ?? 0;

    /// <summary>A subscription is active until its validity ends.</summary>
    public bool IsActiveAt(DateTimeOffset now) => Subscription is { } terms && terms.ValidUntil > now;

    /// <summary>The agent's seat type, or null when the agent may not use the product.</summary>
    public SeatType? SeatTypeOf(string agentId)
    {
        if (SeatModel == SeatModel.Unlimited)
        {
            return _accountAgents.Contains(agentId) ? SeatType.Unlimited : null;
        }

        return _assignments.TryGetValue(agentId, out var seatType) ? seatType : null;
    }
}
