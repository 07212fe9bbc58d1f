using LicenseBroker.Domain.Catalog;
using LicenseBroker.Domain.Entitlements;

namespace LicenseBroker.Domain.Seats;

/// <summary>Why an agent may or may not use a product.</summary>
public enum EntitlementStatus
{
    Entitled,
    NoActiveSubscription,
    NoSeatAssigned,
    UnknownAgent,
}

/// <summary>A question from another backend: may this agent of this account use this product?</summary>
public sealed record EntitlementQuery(string AccountId, string AgentId, string Product);

/// <summary>The answer, with whether the agent holds a live lease now.</summary>
public sealed record Entitlement(EntitlementQuery Query, EntitlementStatus Status, SeatType? SeatType, bool HasLiveLease);

/// <summary>
/// Answers entitlement questions from the cached catalog (no PostgreSQL query once warm) and
/// live occupancy (one Redis call per pool asked about, all pools at once).
/// </summary>
public sealed class EntitlementChecker
{
    private readonly ILicenseCatalog _catalog;
    private readonly IOccupancyStore _occupancy;
    private readonly TimeProvider _time;

    public EntitlementChecker(ILicenseCatalog catalog, IOccupancyStore occupancy, TimeProvider time)
    {
        _catalog = catalog;
        _occupancy = occupancy;
        _time = time;
    }

    public async Task<IReadOnlyList<Entitlement>> CheckAsync(IReadOnlyList<EntitlementQuery> queries, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var results = new Entitlement[queries.Count];
        var byPool = queries
            .Select((query, index) => (query, index))
            .GroupBy(q => new PoolId(q.query.AccountId, q.query.Product));

        await Task.WhenAll(byPool.Select(async group =>
        {
            var policy = await _catalog.GetPoolPolicyAsync(group.Key, cancellationToken);
            var agents = group.Select(q => q.query.AgentId).Distinct(StringComparer.Ordinal).ToList();
            var live = await _occupancy.CountLiveLeasesAsync(group.Key, agents, cancellationToken);
            var liveByAgent = agents.Zip(live).ToDictionary(p => p.First, p => p.Second > 0, StringComparer.Ordinal);

            foreach (var (query, index) in group)
            {
                var seatType = policy.SeatTypeOf(query.AgentId);
                var terms = policy.Subscription is { } subscription
                    ? new ProductTerms(policy.Pool.Product, subscription.ValidUntil, policy.SeatModel == SeatModel.Unlimited)
                    : null;
                var status = AccountEntitlements.Decide(policy.IsKnownAgent(query.AgentId), terms, seatType is not null, now);
                results[index] = new Entitlement(
                    query, status, status == EntitlementStatus.Entitled ? seatType : null, liveByAgent[query.AgentId]);
            }
        }));
        return results;
    }
}
