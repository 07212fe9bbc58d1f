using System.Collections.Frozen;
using LicenseBroker.Contracts.V1;

namespace LicenseBroker.Client.Entitlements;

/// <summary>
/// One version of an account's entitlements, frozen for lookups: a check is two hash lookups and a
/// comparison, with no allocation. A change builds a new index from the previous one (copy on write) and
/// swaps it in; readers never lock.
/// </summary>
internal sealed class EntitlementIndex
{
    /// <summary>Seat flags are bits of a ulong: an account may subscribe to this many products (the catalog has four).</summary>
    public const int MaxProducts = 64;

    private readonly FrozenDictionary<string, ProductSlot> _products;
    private readonly FrozenDictionary<string, ulong> _seats; // every agent of the account: a bit per product they hold a seat of

    private EntitlementIndex(long version, IReadOnlyDictionary<string, ProductTerms> products, IReadOnlyDictionary<string, AgentEntitlements> agents)
    {
        if (products.Count > MaxProducts)
        {
            throw new InvalidDataException($"an account with more than {MaxProducts} products");
        }

        Version = version;
        Products = products;
        Agents = agents;
        var bits = products.Keys.Order(StringComparer.Ordinal).Select((product, bit) => (product, bit)).ToDictionary(p => p.product, p => p.bit, StringComparer.Ordinal);
        _products = products.Values.ToFrozenDictionary(p => p.Product, p => new ProductSlot(bits[p.Product], p.ValidUntilUnixMs, p.Unlimited), StringComparer.Ordinal);
        _seats = agents.Values.ToFrozenDictionary(
            a => a.AgentId,
            a => a.Seats.Where(s => bits.ContainsKey(s.Product)).Aggregate(0UL, (mask, s) => mask | (1UL << bits[s.Product])),
            StringComparer.Ordinal);
    }

    public long Version { get; }

    public IReadOnlyDictionary<string, ProductTerms> Products { get; }

    public IReadOnlyDictionary<string, AgentEntitlements> Agents { get; }

    public static EntitlementIndex FromSnapshot(EntitlementDocument snapshot) => new(
        snapshot.Version,
        snapshot.Products.ToDictionary(p => p.Product, StringComparer.Ordinal),
        snapshot.Agents.ToDictionary(a => a.AgentId, StringComparer.Ordinal));

    public EntitlementIndex With(EntitlementDocument changes)
    {
        var products = new Dictionary<string, ProductTerms>(Products, StringComparer.Ordinal);
        var agents = new Dictionary<string, AgentEntitlements>(Agents, StringComparer.Ordinal);
        foreach (var product in changes.RemovedProducts)
        {
            products.Remove(product);
        }

        foreach (var agent in changes.RemovedAgents)
        {
            agents.Remove(agent);
        }

        foreach (var product in changes.Products)
        {
            products[product.Product] = product;
        }

        foreach (var agent in changes.Agents)
        {
            agents[agent.AgentId] = agent;
        }

        return new EntitlementIndex(changes.Version, products, agents);
    }

    /// <summary>
    /// The broker's rule (CheckEntitlement's): an unknown agent is not entitled, nor anyone without a subscription
    /// valid at <paramref name="nowUnixMs"/>; on an unlimited product every agent of the account is; otherwise
    /// an agent with a seat of the product is.
    /// </summary>
    public EntitlementStatus Decide(string agentId, string product, long nowUnixMs)
    {
        if (!_seats.TryGetValue(agentId, out var seats))
        {
            return EntitlementStatus.UnknownAgent;
        }

        if (!_products.TryGetValue(product, out var terms) || terms.ValidUntilUnixMs <= nowUnixMs)
        {
            return EntitlementStatus.NoActiveSubscription;
        }

        return terms.Unlimited || (seats & (1UL << terms.Bit)) != 0 ? EntitlementStatus.Entitled : EntitlementStatus.NoSeatAssigned;
    }

    private readonly record struct ProductSlot(int Bit, long ValidUntilUnixMs, bool Unlimited);
}
