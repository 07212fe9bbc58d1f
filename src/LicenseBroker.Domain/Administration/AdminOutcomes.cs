using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Domain.Administration;

// Expected refusals of admin and back-office changes are values, mapped to status codes in one place.

public abstract record SubscriptionOutcome
{
    private SubscriptionOutcome()
    {
    }

    public sealed record Saved(SubscriptionRecord Subscription, bool Created) : SubscriptionOutcome;

    /// <summary>A named-seat or device limit would fall below what is in use.</summary>
    public sealed record LimitBelowUsage(string Limit, int InUse, int RequestedLimit) : SubscriptionOutcome;

    public sealed record UnknownProduct : SubscriptionOutcome;
}

public abstract record AgentOutcome
{
    private AgentOutcome()
    {
    }

    public sealed record Saved(AgentRecord Agent, bool Created) : AgentOutcome;

    /// <summary>Another agent of the account has this e-mail.</summary>
    public sealed record EmailTaken : AgentOutcome;

    /// <summary>The account does not exist (it appears with its first subscription).</summary>
    public sealed record UnknownAccount : AgentOutcome;
}

public abstract record AssignOutcome
{
    private AssignOutcome()
    {
    }

    public sealed record Assigned(SeatType SeatType, bool Changed) : AssignOutcome;

    public sealed record NoActiveSubscription : AssignOutcome;

    /// <summary>The product has no seats to give (Monitoring: every agent may use it).</summary>
    public sealed record ProductHasNoSeats : AssignOutcome;

    public sealed record UnknownAgent : AssignOutcome;

    public sealed record NamedSeatLimitReached(int Limit) : AssignOutcome;
}

/// <summary>Result of removing an agent's seat: <see cref="Removed"/> false when there was none.</summary>
public sealed record UnassignResult(bool Removed, int LeasesEnded);

/// <summary>Result of one bulk item, in request order.</summary>
public sealed record BulkItemResult(int Index, AssignOutcome? Outcome, bool Removed, bool Aborted);

public abstract record DeviceOutcome
{
    private DeviceOutcome()
    {
    }

    /// <summary>Registered (or already registered); <see cref="Limit"/> null means no limit.</summary>
    public sealed record Registered(int InUse, int? Limit, bool Changed) : DeviceOutcome;

    public sealed record DeviceLimitReached(int Limit) : DeviceOutcome;

    public sealed record NoActiveSubscription : DeviceOutcome;

    /// <summary>The product registers no devices.</summary>
    public sealed record ProductHasNoDevices : DeviceOutcome;
}
