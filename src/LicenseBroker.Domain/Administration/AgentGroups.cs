using LicenseBroker.Domain.Catalog;

namespace LicenseBroker.Domain.Administration;

/// <summary>An agent group of an account (a team): created by an admin, or by an identity provider over SCIM.</summary>
public sealed record AgentGroupRecord(string GroupId, string DisplayName, int MemberCount, IReadOnlyList<GroupSeatRule> Rules, IReadOnlyList<string>? Members = null);

/// <summary>Result of a group change.</summary>
public abstract record GroupOutcome
{
    private GroupOutcome()
    {
    }

    public sealed record Saved(AgentGroupRecord Group, bool Created) : GroupOutcome;

    public sealed record UnknownGroup : GroupOutcome;

    /// <summary>Some members named are not agents of the account (the first few are listed).</summary>
    public sealed record UnknownAgents(IReadOnlyList<string> AgentIds) : GroupOutcome;

    public sealed record NameTaken : GroupOutcome;
}

/// <summary>Result of setting a group's seat rule in a pool.</summary>
public abstract record GroupRuleOutcome
{
    private GroupRuleOutcome()
    {
    }

    /// <summary>Saved; <paramref name="MembersWhoMayShare"/>: the group's members with a shared (concurrent) seat of the product.</summary>
    public sealed record Saved(GroupSeatRule Rule, int MembersWhoMayShare) : GroupRuleOutcome
    {
        /// <summary>Seats kept for the group that none of its members could take now: they stay free while others wait.</summary>
        public bool ReservationUnusable => Rule.Reserved > MembersWhoMayShare;
    }

    public sealed record UnknownGroup : GroupRuleOutcome;

    public sealed record NoSubscription : GroupRuleOutcome;

    /// <summary>The pool's reservations would sum above its concurrent limit.</summary>
    public sealed record ReservationsOverLimit(int ConcurrentLimit, int ReservedElsewhere, int Requested) : GroupRuleOutcome;

    public sealed record TooManyRules(int Max) : GroupRuleOutcome;

    /// <summary>The group's overage cap is above the pool's overage allowance (seats beyond the purchased ones).</summary>
    public sealed record OverageCapOverAllowance(int Allowance, int Requested) : GroupRuleOutcome;
}

/// <summary>The durable side of agent groups and their seat rules (PostgreSQL).</summary>
public interface IGroupStore
{
    /// <summary>At most this many groups have a rule in one pool.</summary>
    const int MaxRulesPerPool = 20;

    /// <summary>Creates or renames a group; <paramref name="members"/> replaces its members when given.</summary>
    Task<GroupOutcome> UpsertGroupAsync(Actor actor, string accountId, string groupId, string displayName, IReadOnlyList<string>? members, CancellationToken cancellationToken);

    Task<bool> DeleteGroupAsync(Actor actor, string accountId, string groupId, CancellationToken cancellationToken);

    /// <summary>The account's groups with their member counts and rules; with members when <paramref name="groupId"/> names one.</summary>
    Task<IReadOnlyList<AgentGroupRecord>> ListGroupsAsync(string accountId, string? groupId, CancellationToken cancellationToken);

    Task<GroupRuleOutcome> SetRuleAsync(Actor actor, string accountId, GroupSeatRule rule, CancellationToken cancellationToken);

    Task<bool> RemoveRuleAsync(Actor actor, string accountId, string product, string groupId, CancellationToken cancellationToken);
}

/// <summary>Group changes: the durable change (with its checks and audit row), then every replica's cache is told.</summary>
public sealed class AgentGroups
{
    private readonly IGroupStore _store;
    private readonly ICatalogInvalidator _invalidator;

    public AgentGroups(IGroupStore store, ICatalogInvalidator invalidator)
    {
        _store = store;
        _invalidator = invalidator;
    }

    public async Task<GroupOutcome> UpsertGroupAsync(Actor actor, string accountId, string groupId, string displayName, IReadOnlyList<string>? members, CancellationToken cancellationToken)
    {
        var outcome = await _store.UpsertGroupAsync(actor, accountId, groupId, displayName, members, cancellationToken);
        if (outcome is GroupOutcome.Saved)
        {
            // Membership decides which group an agent's shared seat counts in, in every product.
            await _invalidator.InvalidateAsync(accountId, null);
        }

        return outcome;
    }

    public async Task<bool> DeleteGroupAsync(Actor actor, string accountId, string groupId, CancellationToken cancellationToken)
    {
        var deleted = await _store.DeleteGroupAsync(actor, accountId, groupId, cancellationToken);
        if (deleted)
        {
            await _invalidator.InvalidateAsync(accountId, null);
        }

        return deleted;
    }

    public Task<IReadOnlyList<AgentGroupRecord>> ListGroupsAsync(string accountId, string? groupId, CancellationToken cancellationToken) =>
        _store.ListGroupsAsync(accountId, groupId, cancellationToken);

    public async Task<GroupRuleOutcome> SetRuleAsync(Actor actor, string accountId, GroupSeatRule rule, CancellationToken cancellationToken)
    {
        var outcome = await _store.SetRuleAsync(actor, accountId, rule, cancellationToken);
        if (outcome is GroupRuleOutcome.Saved)
        {
            await _invalidator.InvalidateAsync(accountId, rule.Product);
        }

        return outcome;
    }

    public async Task<bool> RemoveRuleAsync(Actor actor, string accountId, string product, string groupId, CancellationToken cancellationToken)
    {
        var removed = await _store.RemoveRuleAsync(actor, accountId, product, groupId, cancellationToken);
        if (removed)
        {
            await _invalidator.InvalidateAsync(accountId, product);
        }

        return removed;
    }
}
