using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Domain.Entitlements;

/// <summary>A subscription's terms as far as entitlement goes: valid until when, and whether every agent may use it.</summary>
public sealed record ProductTerms(string Product, DateTimeOffset ValidUntil, bool Unlimited);

/// <summary>One seat of an agent.</summary>
public readonly record struct AgentSeat(string Product, SeatType SeatType);

/// <summary>An agent of the account: whether the identity provider has them active, and their seats in product order.</summary>
public sealed record AgentEntitlements(string AgentId, bool Active, IReadOnlyList<AgentSeat> Seats)
{
    /// <summary>Same agent state (records compare lists by reference; this compares the seats).</summary>
    public bool SameAs(AgentEntitlements other) =>
        AgentId == other.AgentId && Active == other.Active && Seats.SequenceEqual(other.Seats);
}

/// <summary>
/// Everything that decides whether an agent of one account may use a product, at one entitlement version
/// (accounts.entitlement_version, raised in the transaction of every change: the state at a version is
/// one state, whoever reads it). The rule itself is <see cref="Decide"/>, the same as CheckEntitlement's.
/// </summary>
public sealed class AccountEntitlements
{
    public AccountEntitlements(string accountId, long version, IEnumerable<ProductTerms> products, IEnumerable<AgentEntitlements> agents)
    {
        AccountId = accountId;
        Version = version;
        Products = products.ToDictionary(p => p.Product, StringComparer.Ordinal);
        Agents = agents.ToDictionary(a => a.AgentId, StringComparer.Ordinal);
    }

    public string AccountId { get; }

    public long Version { get; }

    public IReadOnlyDictionary<string, ProductTerms> Products { get; }

    public IReadOnlyDictionary<string, AgentEntitlements> Agents { get; }

    /// <summary>
    /// The entitlement rule (CheckEntitlement's, and the SDK's local check, documented in docs/entitlements.md):
    /// an unknown agent is not entitled; nor is anyone without a subscription valid now; on an unlimited product
    /// every agent of the account is; otherwise an agent with a seat of the product is.
    /// </summary>
    public static EntitlementStatus Decide(bool knownAgent, ProductTerms? terms, bool hasSeat, DateTimeOffset now) =>
        !knownAgent ? EntitlementStatus.UnknownAgent
        : terms is null || terms.ValidUntil <= now ? EntitlementStatus.NoActiveSubscription
        : terms.Unlimited || hasSeat ? EntitlementStatus.Entitled
        : EntitlementStatus.NoSeatAssigned;

    /// <summary>What changed from <paramref name="before"/> to <paramref name="after"/> (same account).</summary>
    public static EntitlementChanges Diff(AccountEntitlements before, AccountEntitlements after)
    {
        if (before.AccountId != after.AccountId)
        {
            throw new ArgumentException("the two states are of different accounts", nameof(after));
        }

        return new EntitlementChanges(
            before.Version,
            after.Version,
            after.Products.Values.Where(p => !before.Products.TryGetValue(p.Product, out var old) || old != p).OrderBy(p => p.Product, StringComparer.Ordinal).ToList(),
            before.Products.Keys.Where(p => !after.Products.ContainsKey(p)).Order(StringComparer.Ordinal).ToList(),
            after.Agents.Values.Where(a => !before.Agents.TryGetValue(a.AgentId, out var old) || !old.SameAs(a)).OrderBy(a => a.AgentId, StringComparer.Ordinal).ToList(),
            before.Agents.Keys.Where(a => !after.Agents.ContainsKey(a)).Order(StringComparer.Ordinal).ToList());
    }
}

/// <summary>The changes between two versions of one account: what to replace and what to remove.</summary>
public sealed record EntitlementChanges(
    long FromVersion,
    long Version,
    IReadOnlyList<ProductTerms> Products,
    IReadOnlyList<string> RemovedProducts,
    IReadOnlyList<AgentEntitlements> Agents,
    IReadOnlyList<string> RemovedAgents);

/// <summary>Reads an account's entitlement state, consistent at one version.</summary>
public interface IEntitlementSource
{
    /// <summary>The account's state now, or null when there is no such account.</summary>
    Task<AccountEntitlements?> ReadAsync(string accountId, CancellationToken cancellationToken);

    /// <summary>The account's entitlement version now (one indexed row), or null when there is no such account.</summary>
    Task<long?> ReadVersionAsync(string accountId, CancellationToken cancellationToken);
}
