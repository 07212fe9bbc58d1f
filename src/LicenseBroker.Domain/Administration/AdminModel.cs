using LicenseBroker.Domain.Catalog;
using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Domain.Administration;

/// <summary>Who makes a change: an admin of an account, or a back-office service.</summary>
public sealed record Actor(string Id);

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
    int? MonitoredDeviceLimit);

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
