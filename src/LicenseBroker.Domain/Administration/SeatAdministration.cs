using LicenseBroker.Domain.Catalog;
using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Domain.Administration;

/// <summary>
/// Admin and back-office changes: the durable change first (one transaction with its limit
/// checks and audit row), then every replica's cache is told, then live leases that the change
/// withdrew are ended, so a revoked seat stops working everywhere at once.
/// </summary>
public sealed class SeatAdministration
{
    private readonly ICatalogStore _store;
    private readonly ICatalogInvalidator _invalidator;
    private readonly IOccupancyStore _occupancy;
    private readonly SeatOptions _seats;
    private readonly Provisioning.ProvisioningService _provisioning;

    public SeatAdministration(ICatalogStore store, ICatalogInvalidator invalidator, IOccupancyStore occupancy, SeatOptions seats, Provisioning.ProvisioningService provisioning)
    {
        _store = store;
        _invalidator = invalidator;
        _occupancy = occupancy;
        _seats = seats;
        _provisioning = provisioning;
    }

    /// <summary>Keeps the acting admin's name for the audit log where the action's events carry only ids (ending sessions).</summary>
    public Task RememberActorNameAsync(string accountId, Actor actor, CancellationToken cancellationToken) =>
        _store.RememberActorNameAsync(accountId, actor, cancellationToken);

    public async Task<SubscriptionOutcome> UpsertSubscriptionAsync(Actor actor, SubscriptionRecord subscription, CancellationToken cancellationToken)
    {
        var outcome = await _store.UpsertSubscriptionAsync(actor, subscription, cancellationToken);
        if (outcome is SubscriptionOutcome.Saved)
        {
            await _invalidator.InvalidateAsync(subscription.AccountId, subscription.Product);

            // A higher named limit gives the waiting provisioning problems their seats.
            await _provisioning.ResolveProblemsAsync(actor, subscription.AccountId, subscription.Product, cancellationToken);
        }

        return outcome;
    }

    /// <summary>An admin's pending and idle timeouts of a product; every replica reads them at once (false: no subscription).</summary>
    public async Task<bool> SetSessionTimeoutsAsync(Actor actor, string accountId, string product, Seats.IdleRules rules, CancellationToken cancellationToken)
    {
        var saved = await _store.SetSessionTimeoutsAsync(actor, accountId, product, rules, cancellationToken);
        if (saved)
        {
            await _invalidator.InvalidateAsync(accountId, product);
        }

        return saved;
    }

    /// <summary>A person's own console time zone (null: none chosen).</summary>
    public Task<string?> GetTimeZoneAsync(string accountId, string personId, CancellationToken cancellationToken) =>
        _store.GetTimeZoneAsync(accountId, personId, cancellationToken);

    public Task SetTimeZoneAsync(string accountId, string personId, string? timeZone, CancellationToken cancellationToken) =>
        _store.SetTimeZoneAsync(accountId, personId, timeZone, cancellationToken);

    public Task<SubscriptionRecord?> GetSubscriptionAsync(string accountId, string product, CancellationToken cancellationToken) =>
        _store.GetSubscriptionAsync(accountId, product, cancellationToken);

    public async Task<AgentOutcome> UpsertAgentAsync(Actor actor, string accountId, AgentRecord agent, CancellationToken cancellationToken)
    {
        var outcome = await _store.UpsertAgentAsync(actor, accountId, agent, cancellationToken);
        if (outcome is AgentOutcome.Saved)
        {
            // A new agent is entitled to products without seat limit (Monitoring).
            await _invalidator.InvalidateAsync(accountId, null);
        }

        return outcome;
    }

    /// <summary>Removes an agent with their seats and ends every live lease they hold.</summary>
    public async Task<UnassignResult> RemoveAgentAsync(Actor actor, string accountId, string agentId, CancellationToken cancellationToken)
    {
        var removed = await _store.RemoveAgentAsync(actor, accountId, agentId, cancellationToken);
        if (!removed)
        {
            return new UnassignResult(false, 0);
        }

        await _invalidator.InvalidateAsync(accountId, null);
        var ended = 0;
        foreach (var product in await _store.ProductCodesAsync(cancellationToken))
        {
            ended += await EndLeasesAsync(actor, new PoolId(accountId, product), agentId, RevokeCause.AgentRemoved, cancellationToken);
            await _provisioning.ResolveProblemsAsync(actor, accountId, product, cancellationToken);
        }

        return new UnassignResult(true, ended);
    }

    /// <summary>What <see cref="RemoveAgentAsync"/> would do, changing nothing: whether the agent exists, and their live sessions of every product.</summary>
    public async Task<(bool WouldRemove, IReadOnlyList<(string Product, LeaseView Lease)> WouldEnd)> PreviewRemoveAgentAsync(
        string accountId, string agentId, CancellationToken cancellationToken)
    {
        if (!await _store.AgentExistsAsync(accountId, agentId, cancellationToken))
        {
            return (false, []);
        }

        var sessions = new List<(string, LeaseView)>();
        foreach (var product in await _store.ProductCodesAsync(cancellationToken))
        {
            sessions.AddRange((await _occupancy.ListAgentLeasesAsync(new PoolId(accountId, product), agentId, cancellationToken)).Select(lease => (product, lease)));
        }

        return (true, sessions);
    }

    /// <summary>
    /// Erases a person (GDPR art. 17): their live leases end, then the agent goes with their seats and every trace of
    /// their id, name and e-mail in the account's events becomes one opaque id (counts unchanged); null when unknown.
    /// </summary>
    public async Task<(ErasedAgent Erased, int LeasesEnded)?> EraseAgentAsync(Actor actor, string accountId, string agentId, CancellationToken cancellationToken)
    {
        // Leases first, while the agent still exists: their seat events reach PostgreSQL later and are mapped to the
        // opaque id on the way in (erased_agents).
        var products = await _store.ProductCodesAsync(cancellationToken);
        var ended = 0;
        foreach (var product in products)
        {
            ended += await EndLeasesAsync(actor, new PoolId(accountId, product), agentId, RevokeCause.AgentRemoved, cancellationToken);
        }

        var erased = await _store.EraseAgentAsync(actor, accountId, agentId, cancellationToken);
        if (erased is null)
        {
            return null;
        }

        await _invalidator.InvalidateAsync(accountId, null);
        foreach (var product in products)
        {
            await _provisioning.ResolveProblemsAsync(actor, accountId, product, cancellationToken);
        }

        return (erased, ended);
    }

    public Task<AgentPage> ListAgentsAsync(
        string accountId, string? product, SeatFilter filter, string? query, int pageSize, string? after, CancellationToken cancellationToken) =>
        _store.ListAgentsAsync(accountId, product, filter, query, pageSize, after, cancellationToken);

    public Task<DevicePage?> ListDevicesAsync(string accountId, string product, int pageSize, string? after, CancellationToken cancellationToken) =>
        _store.ListDevicesAsync(accountId, product, pageSize, after, cancellationToken);

    public Task<AuditPage> ListAuditEventsAsync(string accountId, AuditQuery query, CancellationToken cancellationToken) =>
        _store.ListAuditEventsAsync(accountId, query, cancellationToken);

    public Task<int> GetEventRetentionAsync(string accountId, CancellationToken cancellationToken) =>
        _store.GetEventRetentionAsync(accountId, cancellationToken);

    /// <summary>Sets how long the account's events are kept; every read applies it from then on (see EventRetentionClasses).</summary>
    public async Task SetEventRetentionAsync(Actor actor, string accountId, int days, CancellationToken cancellationToken)
    {
        // Callers validate: a value outside the classes reaching here is a bug (the database refuses it too).
        if (!EventRetentionClasses.IsAllowed(days))
        {
            throw new ArgumentOutOfRangeException(nameof(days), days, "Not a retention class.");
        }

        await _store.SetEventRetentionAsync(actor, accountId, days, cancellationToken);
    }

    /// <summary>
    /// Gives a seat. A change of seat type ends the agent's live leases of the product: a lease
    /// granted as NAMED must not keep running outside the shared pool's count once the seat is
    /// CONCURRENT (nor the other way round); the app acquires again under the new type.
    /// </summary>
    public async Task<AssignOutcome> AssignSeatAsync(
        Actor actor, string accountId, string agentId, string product, SeatType seatType, CancellationToken cancellationToken)
    {
        var outcome = await _store.AssignSeatAsync(actor, accountId, agentId, product, seatType, cancellationToken);
        if (outcome is AssignOutcome.Assigned { Changed: true })
        {
            await _invalidator.InvalidateAsync(accountId, product);
            await EndLeasesAsync(actor, new PoolId(accountId, product), agentId, RevokeCause.SeatChanged, cancellationToken);
            if (seatType == SeatType.Concurrent)
            {
                // A switch from named may have freed a named seat.
                await _provisioning.ResolveProblemsAsync(actor, accountId, product, cancellationToken);
            }
        }

        return outcome;
    }

    /// <summary>
    /// What <see cref="AssignSeatAsync"/> would do, changing nothing: its outcome (the same checks) and, when it would
    /// change the seat, the agent's live sessions of the product that the change would end.
    /// </summary>
    public async Task<(AssignOutcome Outcome, IReadOnlyList<LeaseView> WouldEnd)> PreviewAssignSeatAsync(
        Actor actor, string accountId, string agentId, string product, SeatType seatType, CancellationToken cancellationToken)
    {
        var outcome = await _store.PreviewAssignSeatAsync(actor, accountId, agentId, product, seatType, cancellationToken);
        return outcome is AssignOutcome.Assigned { Changed: true }
            ? (outcome, await _occupancy.ListAgentLeasesAsync(new PoolId(accountId, product), agentId, cancellationToken))
            : (outcome, []);
    }

    /// <summary>What <see cref="UnassignSeatAsync"/> would do, changing nothing: whether it removes a seat, and the sessions that would end.</summary>
    public async Task<(bool WouldRemove, IReadOnlyList<LeaseView> WouldEnd)> PreviewUnassignSeatAsync(
        Actor actor, string accountId, string agentId, string product, CancellationToken cancellationToken)
    {
        var removes = await _store.PreviewUnassignSeatAsync(actor, accountId, agentId, product, cancellationToken);
        return removes
            ? (true, await _occupancy.ListAgentLeasesAsync(new PoolId(accountId, product), agentId, cancellationToken))
            : (false, []);
    }

    /// <summary>Removes a seat; the agent stays, and their live lease of the product ends.</summary>
    public async Task<UnassignResult> UnassignSeatAsync(Actor actor, string accountId, string agentId, string product, CancellationToken cancellationToken)
    {
        if (!await _store.UnassignSeatAsync(actor, accountId, agentId, product, cancellationToken))
        {
            return new UnassignResult(false, 0);
        }

        await _invalidator.InvalidateAsync(accountId, product);
        var ended = await EndLeasesAsync(actor, new PoolId(accountId, product), agentId, RevokeCause.SeatRemoved, cancellationToken);
        await _provisioning.ResolveProblemsAsync(actor, accountId, product, cancellationToken);
        return new UnassignResult(true, ended);
    }

    public async Task<IReadOnlyList<BulkItemResult>> BulkAssignAsync(
        Actor actor, string accountId, IReadOnlyList<BulkAssignItem> items, bool allOrNothing, CancellationToken cancellationToken)
    {
        var results = await _store.BulkAssignAsync(actor, accountId, items, allOrNothing, cancellationToken);
        var changed = results
            .Where(r => r.Removed || r.Outcome is AssignOutcome.Assigned { Changed: true })
            .Select(r => (Item: items[r.Index], Cause: r.Removed ? RevokeCause.SeatRemoved : RevokeCause.SeatChanged))
            .ToList();
        foreach (var product in changed.Select(c => c.Item.Product).Distinct(StringComparer.Ordinal))
        {
            await _invalidator.InvalidateAsync(accountId, product);
        }

        foreach (var (item, cause) in changed)
        {
            await EndLeasesAsync(actor, new PoolId(accountId, item.Product), item.AgentId, cause, cancellationToken);
        }

        return results;
    }

    public async Task<DeviceOutcome> RegisterDeviceAsync(
        Actor actor, string accountId, string product, DeviceRegistration device, CancellationToken cancellationToken)
    {
        var outcome = await _store.RegisterDeviceAsync(actor, accountId, product, device, cancellationToken);
        if (outcome is DeviceOutcome.Registered { Changed: true })
        {
            await _invalidator.InvalidateAsync(accountId, product);
        }

        return outcome;
    }

    public async Task<bool> UnregisterDeviceAsync(Actor actor, string accountId, string product, string deviceId, CancellationToken cancellationToken)
    {
        var removed = await _store.UnregisterDeviceAsync(actor, accountId, product, deviceId, cancellationToken);
        if (removed)
        {
            await _invalidator.InvalidateAsync(accountId, product);
        }

        return removed;
    }

    private async Task<int> EndLeasesAsync(Actor actor, PoolId pool, string agentId, RevokeCause cause, CancellationToken cancellationToken)
    {
        // Remembered for one lease lifetime, so the evicted app hears LEASE_REVOKED, and why, on its next heartbeat.
        var ended = await _occupancy.RevokeAsync(new RevokeCommand(pool, actor.Id, ByAgent: true, [agentId], _seats.LeaseTtl, cause), cancellationToken);
        return ended.Count;
    }
}
