using LicenseBroker.Domain.Catalog;
using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Domain.Administration;

/// <summary>
/// Who makes a change: an admin of an account, or a back-office service; <paramref name="Name"/> is the name their
/// validated token gave (the audit log shows it where the account has no person of that id), null when none.
/// </summary>
public sealed record Actor(string Id, string? Name = null);

public enum AgentRole
{
    Admin,
    Manager,
    Member,
}

public enum Privilege
{
    ManageUsers,
    ManageSeats,
}

/// <summary>Filter on how agents hold a product.</summary>
public enum SeatFilter
{
    Any,
    Named,
    Concurrent,
    None,
}

/// <summary>A subscription as stored.</summary>
public sealed record SubscriptionRecord(
    string AccountId,
    string Product,
    Plan Plan,
    DateTimeOffset ValidUntil,
    int NamedSeatLimit,
    int ConcurrentSeatLimit,
    int UnattendedDeviceLimit,
    int? MonitoredDeviceLimit)
{
    /// <summary>When the broker takes seats back from PENDING or idle sessions (default: never).</summary>
    public IdleRules IdleRules { get; init; } = IdleRules.None;

    /// <summary>The product's name for this account; null: the catalog's (written), or unknown (not read yet).</summary>
    public string? DisplayName { get; init; }

    /// <summary>How long after expiry a lease is revived (see <see cref="LeaseRecovery"/>); on write null keeps the stored value.</summary>
    public TimeSpan? ReviveWindow { get; init; }

    /// <summary>How long past expiry a lease's outage grace runs (see <see cref="LeaseRecovery"/>); on write null keeps the stored value.</summary>
    public TimeSpan? OutageGrace { get; init; }

    /// <summary>The pool's overage; on write, null fields keep the stored values.</summary>
    public OverageMode? OverageMode { get; init; }

    public int? OverageSeats { get; init; }

    public int? OveragePercent { get; init; }

    /// <summary>
    /// The pool's queue terms, each 0 for the broker's default (<see cref="Seats.QueueTerms"/>): at most this many waiters, the
    /// longest wait and the aging step, in seconds. On write, null keeps the stored value.
    /// </summary>
    public int? QueueMaxWaiters { get; init; }

    public int? QueueMaxWaitSeconds { get; init; }

    public int? QueueAgeStepSeconds { get; init; }
}

/// <summary>An agent as stored, with the seats they hold.</summary>
public sealed record AgentRecord(
    string AgentId,
    string Email,
    string DisplayName,
    AgentRole Role,
    IReadOnlyList<Privilege> Privileges,
    IReadOnlyList<SeatHolding> Seats);

/// <summary>A seat of one product held by an agent.</summary>
public sealed record SeatHolding(string Product, SeatType SeatType);

/// <summary>One change of a bulk provisioning call; a null seat type removes the seat.</summary>
public sealed record BulkAssignItem(string AgentId, string Product, SeatType? SeatType);

/// <summary>A page of agents; <see cref="NextAfter"/> is the last id of the page when more follow.</summary>
public sealed record AgentPage(IReadOnlyList<AgentRecord> Agents, string? NextAfter);

/// <summary>A device to register.</summary>
public sealed record DeviceRegistration(string DeviceId, string DisplayName, Platform Platform);

/// <summary>A machine registered for unattended access or monitoring.</summary>
public sealed record DeviceRecord(string DeviceId, string DisplayName, Platform Platform, DateTimeOffset RegisteredAt);

/// <summary>A page of devices of one kind, with how many are registered and allowed (null: no limit).</summary>
public sealed record DevicePage(IReadOnlyList<DeviceRecord> Devices, string? NextAfter, int InUse, int? Limit);

/// <summary>
/// What to read from the audit log: categories ("seat") and exact actions ("seat.refused") are
/// joined by OR; empty lists keep everything. <see cref="Before"/> is the paging cursor (an event id).
/// </summary>
public sealed record AuditQuery(
    string? Product,
    IReadOnlyList<string> Categories,
    IReadOnlyList<string> Actions,
    DateTimeOffset? From,
    DateTimeOffset? To,
    long? Before,
    int PageSize)
{
    /// <summary>Only the events that name this agent (as who did it or whom it concerns): an access request's export.</summary>
    public string? AgentId { get; init; }
}

/// <summary>A person erased: the opaque id that now stands for them everywhere, and how many rows were rewritten.</summary>
public sealed record ErasedAgent(string ErasedId, int EventsRewritten);

/// <summary>One row of the audit log; the JSON columns are passed through as written.</summary>
public sealed record AuditEntry(
    long Id, DateTimeOffset OccurredAt, string? Product, string Actor, string Action, string? Subject, string? BeforeJson, string? AfterJson,
    string? ActorName = null, string? SubjectName = null);

/// <summary>A page of the audit log, newest first; <see cref="NextBefore"/> is the cursor of the next, older page.</summary>
public sealed record AuditPage(IReadOnlyList<AuditEntry> Events, long? NextBefore);
