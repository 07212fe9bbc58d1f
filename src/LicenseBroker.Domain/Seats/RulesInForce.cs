using LicenseBroker.Domain.Catalog;

namespace LicenseBroker.Domain.Seats;

/// <summary>
/// One decision taken by the rules the pool is applying now. The pool answers STALE to a call whose rules
/// predate the last change it applied (see <see cref="LivePoolRules"/>); the caller then reads the catalog at
/// that version or later and decides again, at most <see cref="MaxReloads"/> times (each reload means yet
/// another change committed meanwhile). The one loop of AcquireSeat and WaitForSeat.
/// </summary>
public static class RulesInForce
{
    /// <summary>How many times one call reads the rules again when they change under it.</summary>
    public const int MaxReloads = 3;

    /// <summary>
    /// Runs <paramref name="decide"/> with the pool's policy until it is not refused as stale (its
    /// <paramref name="staleAt"/> is null) or the reloads are spent; returns the last result and the policy it used.
    /// </summary>
    public static async Task<(T Result, PoolPolicy Policy)> DecideAsync<T>(
        ILicenseCatalog catalog, PoolId pool, Func<PoolPolicy, Task<T>> decide, Func<T, long?> staleAt, CancellationToken cancellationToken)
    {
        var policy = await catalog.GetPoolPolicyAsync(pool, cancellationToken);
        for (var attempt = 1; ; attempt++)
        {
            var result = await decide(policy);
            if (staleAt(result) is not { } version || attempt == MaxReloads)
            {
                return (result, policy);
            }

            policy = await catalog.GetPoolPolicyAsync(pool, version, cancellationToken);
        }
    }
}
