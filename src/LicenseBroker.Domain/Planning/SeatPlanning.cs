using LicenseBroker.Domain.Administration;
using LicenseBroker.Domain.Catalog;
using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Domain.Planning;

/// <summary>A pool's recorded seat events, read from the audit log in bounded pages.</summary>
public interface ISeatEventHistory
{
    /// <summary>The pool's shared-seat events that happened in [<paramref name="from"/>, <paramref name="to"/>), in the pool's sequence.</summary>
    IAsyncEnumerable<RecordedEvent> ReadAsync(PoolId pool, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken);
}

/// <summary>The answer to a planning question, or why there is none.</summary>
public abstract record PlanOutcome
{
    private PlanOutcome()
    {
    }

    public sealed record Planned(SeatPlan Plan) : PlanOutcome;

    /// <summary>No product has this code.</summary>
    public sealed record UnknownProduct : PlanOutcome;

    /// <summary>The account never subscribed to the product.</summary>
    public sealed record NotSubscribed : PlanOutcome;

    /// <summary>The product has no seats to plan (Monitoring: every agent may use it).</summary>
    public sealed record ProductHasNoSeats : PlanOutcome;
}

/// <summary>
/// "How many seats do we need?": the pool's recorded events replayed with today's rules (<see cref="SeatPlanner"/>).
/// The catalog gives the rules as they are now; the audit log gives what happened.
/// </summary>
public sealed class SeatPlanning
{
    private readonly ICatalogStore _store;
    private readonly ILicenseCatalog _catalog;
    private readonly ISeatEventHistory _history;

    public SeatPlanning(ICatalogStore store, ILicenseCatalog catalog, ISeatEventHistory history)
    {
        _store = store;
        _catalog = catalog;
        _history = history;
    }

    public async Task<PlanOutcome> PlanAsync(PoolId pool, PlanQuestion question, CancellationToken cancellationToken)
    {
        if (!(await _store.ProductCodesAsync(cancellationToken)).Contains(pool.Product, StringComparer.Ordinal))
        {
            return new PlanOutcome.UnknownProduct();
        }

        var policy = await _catalog.GetPoolPolicyAsync(pool, cancellationToken);
        if (policy.Subscription is null)
        {
            return new PlanOutcome.NotSubscribed();
        }

        if (policy.SeatModel == SeatModel.Unlimited)
        {
            return new PlanOutcome.ProductHasNoSeats();
        }

        var planned = new PlannedPool(policy.ConcurrentLimit, policy.SharedSeatHolders().Count(), policy.GroupRules, policy.RuledGroupOf)
        {
            HoldsNamedSeat = agent => policy.SeatTypeOf(agent) == SeatType.Named,
        };
        return new PlanOutcome.Planned(await SeatPlanner.PlanAsync(_history.ReadAsync(pool, question.From, question.To, cancellationToken), planned, question, cancellationToken));
    }
}
