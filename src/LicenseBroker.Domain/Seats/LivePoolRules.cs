using LicenseBroker.Domain.Catalog;

namespace LicenseBroker.Domain.Seats;

/// <summary>
/// What an admin (or an identity provider) changes is what the pool does, at once. Every write path
/// calls this after its transaction commits, before it answers: every replica's cached copy is
/// dropped, the account's catalog version goes up, and each pool the change touches gets its new
/// limit, group rules and seat holders in the same call (<see cref="IOccupancyStore.ApplyRulesAsync"/>),
/// which also ends the waits of agents who may no longer take a shared seat and runs admission again.
/// </summary>
/// <remarks>
/// Admission compares versions: a replica whose copy predates the change is told STALE by the pool and
/// reads the catalog again (<see cref="ILicenseCatalog.GetPoolPolicyAsync(PoolId, long, CancellationToken)"/>),
/// so no grant uses rules older than the last committed change, whatever the announcement's delay.
/// </remarks>
public sealed class LivePoolRules : ICatalogInvalidator
{
    private readonly ICatalogInvalidator _caches;
    private readonly IPoolPolicySource _source;
    private readonly IOccupancyStore _occupancy;
    private readonly SeatOptions _seats;
    private readonly TimeProvider _time;
    private readonly CoalescedRounds<(string AccountId, string? Product)> _rounds;

    /// <param name="caches">Drops cached copies on every replica.</param>
    public LivePoolRules(ICatalogInvalidator caches, IPoolPolicySource source, IOccupancyStore occupancy, SeatOptions seats, TimeProvider time)
    {
        _caches = caches;
        _source = source;
        _occupancy = occupancy;
        _seats = seats;
        _time = time;
        _rounds = new CoalescedRounds<(string AccountId, string? Product)>(ApplyChangeAsync);
    }

    /// <summary>
    /// The change is committed: every replica drops its copy, then each live pool it touches applies it.
    /// Changes of one account (and product) at the same moment share a round (<see cref="CoalescedRounds{TKey}"/>):
    /// fifty parallel SCIM joins cost two reloads, not fifty.
    /// </summary>
    public Task InvalidateAsync(string accountId, string? product) => _rounds.RunAsync((accountId, product));

    private async Task ApplyChangeAsync((string AccountId, string? Product) change)
    {
        var (accountId, product) = change;
        await _caches.InvalidateAsync(accountId, product);

        // Not the caller's token: the change is committed, so its effect must not stop halfway because the caller left.
        foreach (var policy in await _source.ReadAfterChangeAsync(accountId, product, CancellationToken.None))
        {
            await ApplyAsync(policy, CancellationToken.None);
        }
    }

    /// <summary>Applies one pool's policy to its live state.</summary>
    public Task<ApplyRulesOutcome> ApplyAsync(PoolPolicy policy, CancellationToken cancellationToken) =>
        _occupancy.ApplyRulesAsync(
            new ApplyRulesCommand(
                policy.Pool,
                policy.CatalogVersion,
                policy.ConcurrentLimit,
                policy.GroupRules,
                Active: policy.SeatModel == SeatModel.Seats && policy.IsActiveAt(_time.GetUtcNow()),
                policy.SharedSeatHolders().ToList(),
                ChangedBy: "admin",
                _seats.LeaseTtl,
                policy.Overage),
            cancellationToken);
}
