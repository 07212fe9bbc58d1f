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

/// <summary>How admins see an agent.</summary>
public sealed record AgentContact(string DisplayName, string Email);

/// <summary>The limits an account bought for a product, and its idle-seat rules.</summary>
public sealed record SubscriptionTerms(
    Plan Plan,
    DateTimeOffset ValidUntil,
    int NamedSeatLimit,
    int ConcurrentSeatLimit,
    int UnattendedDeviceLimit,
    IdleRules? IdleRules = null,
    LeaseRecovery? Recovery = null,
    OveragePolicy? Overage = null,
    PoolQueueTerms? Queue = null);

/// <summary>A pool's own queue terms (0: the broker's default for that term, <see cref="Seats.SeatOptions.QueueTerms"/>).</summary>
public sealed record PoolQueueTerms(int MaxWaiters, int MaxWaitSeconds, int AgeStepSeconds)
{
    /// <summary>These terms over the broker's defaults.</summary>
    public Seats.QueueTerms Over(Seats.QueueTerms defaults) => new(
        MaxWaiters > 0 ? MaxWaiters : defaults.MaxWaiters,
        MaxWaitSeconds > 0 ? TimeSpan.FromSeconds(MaxWaitSeconds) : defaults.MaxWait,
        AgeStepSeconds > 0 ? TimeSpan.FromSeconds(AgeStepSeconds) : defaults.AgeStep);
}

/// <summary>
/// A group's shared seats in one pool: <see cref="Reserved"/> seats only its members take (and they
/// take them first), and at most <see cref="Max"/> of its members holding a shared seat (null: no cap); of them, at most
/// <see cref="OverageMax"/> on seats beyond the purchased ones (null: only the pool's overage allowance).
/// </summary>
/// <see cref="Priority"/>: its members' priority class in the pool's wait queue (null: standard).
public sealed record GroupSeatRule(string Product, string GroupId, int Reserved, int? Max, int? OverageMax = null, Seats.QueuePriority? Priority = null);

/// <summary>
/// What admission needs to know about one pool (account and product), read from the
/// durable catalog and cached: the subscription and who holds which kind of seat.
/// </summary>
public sealed class PoolPolicy
{
    private readonly IReadOnlyDictionary<string, SeatType> _assignments;
    private readonly IReadOnlyDictionary<string, AgentContact> _accountAgents;
    private readonly IReadOnlySet<string> _unattendedDevices;
    private readonly IReadOnlyDictionary<string, string> _ruledGroups;
    private readonly IReadOnlyDictionary<string, string> _groupNames;

    /// <param name="pool">The account and product.</param>
    /// <param name="seatModel">How the product counts seats.</param>
    /// <param name="subscription">The account's subscription, or null.</param>
    /// <param name="assignments">Seat type of each agent holding a seat of the product.</param>
    /// <param name="accountAgents">Every agent of the account, with the name and e-mail admins see.</param>
    /// <param name="unattendedDevices">Machines registered for unattended access on the product.</param>
    public PoolPolicy(
        PoolId pool,
        SeatModel seatModel,
        SubscriptionTerms? subscription,
        IReadOnlyDictionary<string, SeatType> assignments,
        IReadOnlyDictionary<string, AgentContact> accountAgents,
        IReadOnlySet<string>? unattendedDevices = null,
        IReadOnlyList<GroupSeatRule>? groupRules = null,
        IReadOnlyDictionary<string, string>? ruledGroups = null,
        long catalogVersion = 0,
        IReadOnlyDictionary<string, string>? groupNames = null)
    {
        _groupNames = groupNames ?? new Dictionary<string, string>();
        CatalogVersion = catalogVersion;
        GroupRules = groupRules ?? [];
        _ruledGroups = ruledGroups ?? new Dictionary<string, string>();
        Pool = pool;
        SeatModel = seatModel;
        Subscription = subscription;
        _assignments = assignments;
        _accountAgents = accountAgents;
        _unattendedDevices = unattendedDevices ?? new HashSet<string>();
    }

    public PoolId Pool { get; }

    /// <summary>
    /// The account's catalog version this policy was read at (bumped by every committed change, read
    /// before the rest): the live pool refuses to admit by a policy older than the last change applied.
    /// </summary>
    public long CatalogVersion { get; }

    /// <summary>The agent's group seats in this pool, as admission takes them.</summary>
    public Seats.GroupSeats GroupSeatsOf(string agentId) => new(RuledGroupOf(agentId), GroupRules, CatalogVersion);

    /// <summary>The agent's priority class in the pool's wait queue: its group's (the group it counts in), else standard.</summary>
    public Seats.QueuePriority QueuePriorityOf(string agentId) =>
        RuledGroupOf(agentId) is { } group ? GroupRules.FirstOrDefault(r => r.GroupId == group)?.Priority ?? Seats.QueuePriority.Standard : Seats.QueuePriority.Standard;

    /// <summary>Every agent with a shared seat, and the group it counts in (null: none).</summary>
    public IEnumerable<KeyValuePair<string, string?>> SharedSeatHolders() =>
        _assignments.Where(a => a.Value == SeatType.Concurrent).Select(a => KeyValuePair.Create(a.Key, RuledGroupOf(a.Key)));

    public SeatModel SeatModel { get; }

    /// <summary>Null when the account never subscribed to the product (or the product is unknown).</summary>
    public SubscriptionTerms? Subscription { get; }

    public int ConcurrentLimit => Subscription?.ConcurrentSeatLimit ?? 0;

    /// <summary>The pool's group rules (reservations and caps of shared seats), by group id.</summary>
    public IReadOnlyList<GroupSeatRule> GroupRules { get; }

    /// <summary>The name admins gave a group with rules on this pool (what agents are told), else its id.</summary>
    public string GroupName(string groupId) => _groupNames.GetValueOrDefault(groupId) ?? groupId;

    /// <summary>
    /// The group an agent's shared seat counts in: the first, by id, of the agent's groups that have a
    /// rule in this pool; null for none. One group per agent and pool keeps every count exact.
    /// </summary>
    public string? RuledGroupOf(string agentId) => _ruledGroups.GetValueOrDefault(agentId);

    /// <summary>When the broker takes seats back from PENDING or idle sessions; none by default.</summary>
    public IdleRules IdleRules => Subscription?.IdleRules ?? IdleRules.None;

    /// <summary>The pool's revive window and outage grace (the defaults without a subscription).</summary>
    public LeaseRecovery Recovery => Subscription?.Recovery ?? LeaseRecovery.Default;

    /// <summary>The pool's queue terms: its subscription's, over the broker's <paramref name="defaults"/>.</summary>
    public Seats.QueueTerms QueueTerms(Seats.QueueTerms defaults) => Subscription?.Queue?.Over(defaults) ?? defaults;

    /// <summary>The pool's overage (none without a subscription).</summary>
    public OveragePolicy Overage => Subscription?.Overage ?? OveragePolicy.None;

    /// <summary>A subscription is active until its validity ends.</summary>
    public bool IsActiveAt(DateTimeOffset now) => Subscription is { } terms && terms.ValidUntil > now;

    /// <summary>
    /// Why the agent may not take a seat now, or null when they may (then <see cref="SeatTypeOf"/>
    /// has their seat type). The one admission check shared by AcquireSeat and WaitForSeat. The
    /// subscription's validity is a business date, so the replica's clock decides it; lease expiry,
    /// in contrast, is decided by the store's clock alone.
    /// </summary>
    public AcquireOutcome? RefusalFor(string agentId, DateTimeOffset now) =>
        !IsActiveAt(now) ? new AcquireOutcome.NoActiveSubscription()
        : SeatTypeOf(agentId) is null ? new AcquireOutcome.NoSeatAssigned()
        : null;

    /// <summary>True when the agent belongs to the account.</summary>
    public bool IsKnownAgent(string agentId) => _accountAgents.ContainsKey(agentId) || _assignments.ContainsKey(agentId);

    /// <summary>Name and e-mail of an agent of the account, if known.</summary>
    public AgentContact? ContactOf(string agentId) => _accountAgents.GetValueOrDefault(agentId);

    /// <summary>True when the machine is registered for unattended access on this product.</summary>
    public bool IsRegisteredUnattendedDevice(string deviceId) => _unattendedDevices.Contains(deviceId);

    /// <summary>The agent's seat type, or null when the agent may not use the product.</summary>
    public SeatType? SeatTypeOf(string agentId)
    {
        if (SeatModel == SeatModel.Unlimited)
        {
            return _accountAgents.ContainsKey(agentId) ? SeatType.Unlimited : null;
        }

        return _assignments.TryGetValue(agentId, out var seatType) ? seatType : null;
    }
}
