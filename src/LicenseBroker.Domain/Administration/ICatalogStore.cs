using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Domain.Administration;

/// <summary>
/// Durable writes of the licensing catalog. Every change is one transaction that enforces its
/// limits and writes its audit row, so no race between replicas can break a limit.
/// </summary>
public interface ICatalogStore
{
    Task<SubscriptionOutcome> UpsertSubscriptionAsync(Actor actor, SubscriptionRecord subscription, CancellationToken cancellationToken);

    Task<SubscriptionRecord?> GetSubscriptionAsync(string accountId, string product, CancellationToken cancellationToken);

    Task<AgentOutcome> UpsertAgentAsync(Actor actor, string accountId, AgentRecord agent, CancellationToken cancellationToken);

    /// <summary>
    /// Sets the product's pending and idle timeouts (the account's own rule), audited before → after; false when the
    /// account has no subscription to it.
    /// </summary>
    Task<bool> SetSessionTimeoutsAsync(Actor actor, string accountId, string product, Seats.IdleRules rules, CancellationToken cancellationToken);

    /// <summary>A person's chosen time zone for the console (an IANA id), or null when none.</summary>
    Task<string?> GetTimeZoneAsync(string accountId, string personId, CancellationToken cancellationToken);

    /// <summary>Keeps a person's chosen time zone (validated by the caller); null forgets it.</summary>
    Task SetTimeZoneAsync(string accountId, string personId, string? timeZone, CancellationToken cancellationToken);

    /// <summary>
    /// Keeps the name the actor's token gave, for the audit log's readers, where no change of the catalog records it
    /// (an admin ending sessions: seat events carry ids). A courtesy: a storage fault is swallowed, never the caller's error.
    /// </summary>
    Task RememberActorNameAsync(string accountId, Actor actor, CancellationToken cancellationToken);

    /// <summary>Removes the agent and their seats; returns false when unknown.</summary>
    Task<bool> RemoveAgentAsync(Actor actor, string accountId, string agentId, CancellationToken cancellationToken);

    /// <summary>Whether the account has this agent (what <see cref="RemoveAgentAsync"/> would find).</summary>
    Task<bool> AgentExistsAsync(string accountId, string agentId, CancellationToken cancellationToken);

    /// <summary>
    /// Removes an agent for good: the agent and their seats go, and their id, name and e-mail are replaced by an
    /// opaque id in every event of the account (the erasure itself audited), with every name and e-mail they were
    /// recorded under; an agent removed earlier can be erased too. Null when the id was never an agent of the account.
    /// </summary>
    Task<ErasedAgent?> EraseAgentAsync(Actor actor, string accountId, string agentId, CancellationToken cancellationToken);

    /// <summary>Agents in id order; <paramref name="query"/> keeps those whose id, e-mail or name contains it.</summary>
    Task<AgentPage> ListAgentsAsync(string accountId, string? product, SeatFilter filter, string? query, int pageSize, string? after, CancellationToken cancellationToken);

    Task<AssignOutcome> AssignSeatAsync(Actor actor, string accountId, string agentId, string product, SeatType seatType, CancellationToken cancellationToken);

    /// <summary>What <see cref="AssignSeatAsync"/> would answer, with every check it makes, leaving nothing behind.</summary>
    Task<AssignOutcome> PreviewAssignSeatAsync(Actor actor, string accountId, string agentId, string product, SeatType seatType, CancellationToken cancellationToken);

    /// <summary>Removes the seat; returns false when the agent had none.</summary>
    Task<bool> UnassignSeatAsync(Actor actor, string accountId, string agentId, string product, CancellationToken cancellationToken);

    /// <summary>What <see cref="UnassignSeatAsync"/> would answer, leaving nothing behind.</summary>
    Task<bool> PreviewUnassignSeatAsync(Actor actor, string accountId, string agentId, string product, CancellationToken cancellationToken);

    Task<IReadOnlyList<BulkItemResult>> BulkAssignAsync(
        Actor actor, string accountId, IReadOnlyList<BulkAssignItem> items, bool allOrNothing, CancellationToken cancellationToken);

    Task<DeviceOutcome> RegisterDeviceAsync(Actor actor, string accountId, string product, DeviceRegistration device, CancellationToken cancellationToken);

    /// <summary>Removes the device; returns false when unknown.</summary>
    Task<bool> UnregisterDeviceAsync(Actor actor, string accountId, string product, string deviceId, CancellationToken cancellationToken);

    /// <summary>Devices of the product's kind in id order; null when the account has no subscription to it.</summary>
    Task<DevicePage?> ListDevicesAsync(string accountId, string product, int pageSize, string? after, CancellationToken cancellationToken);

    /// <summary>The account's audit log, newest first.</summary>
    Task<AuditPage> ListAuditEventsAsync(string accountId, AuditQuery query, CancellationToken cancellationToken);

    /// <summary>Days the account's events are kept (<see cref="EventRetentionClasses.DefaultDays"/> for an account not yet in the catalog).</summary>
    Task<int> GetEventRetentionAsync(string accountId, CancellationToken cancellationToken);

    /// <summary>Sets the days the account's events are kept (one of <see cref="EventRetentionClasses.AllowedDays"/>), audited as account.retention_set.</summary>
    Task SetEventRetentionAsync(Actor actor, string accountId, int days, CancellationToken cancellationToken);

    /// <summary>Every product code of the catalog.</summary>
    Task<IReadOnlyList<string>> ProductCodesAsync(CancellationToken cancellationToken);
}
