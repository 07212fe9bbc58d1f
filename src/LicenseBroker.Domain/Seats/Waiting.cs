using System.Runtime.CompilerServices;
using LicenseBroker.Domain.Catalog;

namespace LicenseBroker.Domain.Seats;

/// <summary>What a waiter learns: its place, or its seat.</summary>
public abstract record WaitUpdate
{
    private WaitUpdate()
    {
    }

    /// <summary>
    /// Position 1 is next; 0 means a seat is being handed over. <see cref="Why"/>: the rule that keeps the agent
    /// waiting, as a refusal would say it (<see cref="AcquireOutcome.PoolFull"/>).
    /// </summary>
    public sealed record InQueue(
        int Position, int SeatsInUse, int Waiting, SharedSeatRefusal Why = SharedSeatRefusal.AllInUse, string? Group = null, int Cap = 0, string? ReservedFor = null,
        string? GroupName = null, string? ReservedForNames = null) : WaitUpdate;

    public sealed record Granted(Lease Lease) : WaitUpdate;

    /// <summary>Refused before queueing (no seat, no subscription, pool recovering).</summary>
    public sealed record Refused(AcquireOutcome Reason) : WaitUpdate;

    /// <summary>Dropped from the queue (its offer expired unclaimed, or it was taken for dead).</summary>
    public sealed record Dropped : WaitUpdate;

    /// <summary>An admin's change ended the wait: the agent's shared seat was withdrawn, or its access revoked.</summary>
    public sealed record Ended(WaitEndReason Reason, string By, DateTimeOffset At) : WaitUpdate;
}

/// <summary>Why an admin's change ended a wait.</summary>
public enum WaitEndReason
{
    /// <summary>The agent's shared seat was removed or switched to another type, the agent removed or suspended, or the subscription ended.</summary>
    SeatWithdrawn,

    /// <summary>An admin ended the agent's sessions (and so its wait).</summary>
    Revoked,
}

/// <summary>The store's answer to a join or status call.</summary>
public abstract record QueueState
{
    private QueueState()
    {
    }

    public sealed record Granted(Lease Lease) : QueueState;

    /// <summary>In the queue; <see cref="ReservedFor"/>: the groups keeping the free seats, comma-separated.</summary>
    public sealed record Queued(
        int Position, int SeatsInUse, int Waiting, SharedSeatRefusal Why = SharedSeatRefusal.AllInUse, string? Group = null, int Cap = 0, string? ReservedFor = null) : QueueState;

    public sealed record Recovering(TimeSpan RetryAfter) : QueueState;

    public sealed record Gone : QueueState;

    /// <summary>An admin's change ended the wait (see <see cref="WaitUpdate.Ended"/>).</summary>
    public sealed record Ended(WaitEndReason Reason, string By, DateTimeOffset At) : QueueState;

    /// <summary>The pool applied a change newer than the join's rules (see <see cref="AcquireOutcome.RulesChanged"/>); nothing changed.</summary>
    public sealed record RulesChanged(long Version) : QueueState;
}

/// <summary>Notifications about a pool (queue moves, revocations), from any replica.</summary>
public interface IPoolEvents
{
    /// <summary>Calls <paramref name="onEvent"/> for every event of the pool until disposed; completes once subscribed.</summary>
    Task<IDisposable> SubscribeAsync(PoolId pool, Action<string> onEvent, CancellationToken cancellationToken);
}

/// <summary>The fair wait queue of a pool and lease watching, as streams of updates.</summary>
public sealed class SeatWaiter
{
    private readonly ILicenseCatalog _catalog;
    private readonly IQueueStore _store;
    private readonly IPoolEvents _events;
    private readonly TimeProvider _time;
    private readonly SeatOptions _options;
    private readonly LeaseProofs _proofs;

    public SeatWaiter(ILicenseCatalog catalog, IQueueStore store, IPoolEvents events, TimeProvider time, SeatOptions options, LeaseProofs proofs)
    {
        _proofs = proofs;
        _catalog = catalog;
        _store = store;
        _events = events;
        _time = time;
        _options = options;
    }

    /// <summary>
    /// Joins the pool's queue and yields the position whenever it changes, then the granted lease.
    /// Woken by the pool's events (a seat freed on any replica), and refreshes its place every few
    /// seconds so the queue knows this replica is alive. Leaving early (cancel, disconnect,
    /// deadline) leaves the queue at once.
    /// </summary>
    public async IAsyncEnumerable<WaitUpdate> WaitAsync(
        AgentIdentity agent, string product, string sessionId, DeviceInfo device, SessionKind kind, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var pool = new PoolId(agent.AccountId, product);
        using var wake = await PoolWake.SubscribeAsync(_events, pool, e => e == "queue", cancellationToken);
        var ((refusal, joined), policy) = await RulesInForce.DecideAsync<(AcquireOutcome? Refusal, QueueState? State)>(
            _catalog,
            pool,
            async rules =>
            {
                if (rules.RefusalFor(agent.AgentId, _time.GetUtcNow()) is { } refused)
                {
                    return (refused, null);
                }

                var join = new QueueJoin(
                    pool, agent.AgentId, sessionId, SeatBroker.NewLeaseId(), rules.SeatTypeOf(agent.AgentId)!.Value, rules.ConcurrentLimit, device, kind, rules.IdleRules,
                    rules.GroupSeatsOf(agent.AgentId), rules.Recovery, rules.Overage);
                return (null, await _store.JoinAsync(join, cancellationToken));
            },
            static attempt => (attempt.State as QueueState.RulesChanged)?.Version,
            cancellationToken);
        if (refusal is not null || joined is QueueState.RulesChanged)
        {
            // Refused by the rules, or they kept changing under the call (RULES_CHANGED).
            yield return new WaitUpdate.Refused(refusal ?? new AcquireOutcome.RulesChanged(((QueueState.RulesChanged)joined!).Version));
            yield break;
        }

        var state = joined!;
        var granted = false;
        try
        {
            WaitUpdate.InQueue? last = null;
            while (true)
            {
                switch (state)
                {
                    case QueueState.Granted g:
                        granted = true;
                        // The grant's seat event was recorded by the store, as for every grant.
                        yield return new WaitUpdate.Granted(_proofs.Attach(pool, agent.AgentId, device.DeviceId, g.Lease, policy.Recovery.OutageGrace));
                        yield break;
                    case QueueState.Recovering r:
                        yield return new WaitUpdate.Refused(new AcquireOutcome.Recovering(r.RetryAfter));
                        yield break;
                    case QueueState.Gone:
                        yield return new WaitUpdate.Dropped();
                        yield break;
                    case QueueState.Ended ended:
                        yield return new WaitUpdate.Ended(ended.Reason, ended.By, ended.At);
                        yield break;
                    case QueueState.Queued q:
                        var update = new WaitUpdate.InQueue(
                            q.Position, q.SeatsInUse, q.Waiting, q.Why, q.Group, q.Cap, q.ReservedFor,
                            q.Group is null ? null : policy.GroupName(q.Group),
                            q.ReservedFor is null ? null : string.Join(",", q.ReservedFor.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(policy.GroupName)));
                        if (update != last)
                        {
                            last = update;
                            yield return update;
                        }

                        break;
                }

                // Wait for the pool to move, or refresh our place when the keep-alive is due.
                await wake.WaitAsync(_options.WaiterRefresh, cancellationToken);

                // A subscription ends by the clock, with no write to announce it: past its end, the rules in force
                // (read again: it may have been extended meanwhile) decide whether this wait goes on.
                if (policy.Subscription is { } terms && _time.GetUtcNow() >= terms.ValidUntil)
                {
                    policy = await _catalog.GetPoolPolicyAsync(pool, cancellationToken);
                    if (policy.RefusalFor(agent.AgentId, _time.GetUtcNow()) is { } ended)
                    {
                        yield return new WaitUpdate.Refused(ended);
                        yield break;
                    }
                }

                state = await _store.QueueStatusAsync(pool, agent.AgentId, cancellationToken);
            }
        }
        finally
        {
            if (!granted)
            {
                // Cancelled, disconnected or past the deadline: leave now, even though the call is over.
                await _store.LeaveQueueAsync(pool, agent.AgentId, CancellationToken.None);
            }
        }
    }

    /// <summary>Yields the lease's state now, then again when an admin ends it, the broker takes it back, or it is gone.</summary>
    public async IAsyncEnumerable<LeaseState> WatchAsync(AgentIdentity agent, string product, string leaseId, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var pool = new PoolId(agent.AccountId, product);
        using var wake = await PoolWake.SubscribeAsync(
            _events,
            pool,
            e => e.StartsWith("revoked " + leaseId + " ", StringComparison.Ordinal) || e.StartsWith("ended " + leaseId + " ", StringComparison.Ordinal),
            cancellationToken);

        while (true)
        {
            var state = await _store.LeaseStateAsync(pool, agent.AgentId, leaseId, cancellationToken);
            yield return state;
            if (state is not LeaseState.Live)
            {
                yield break;
            }

            await wake.WaitAsync(_options.HeartbeatInterval, cancellationToken);
        }
    }
}

/// <summary>Wakes a stream when a matching event of its pool arrives, or when its own timer is due.</summary>
internal sealed class PoolWake : IDisposable
{
    private readonly WakeSignal _signal = new();
    private IDisposable? _subscription;

    public static async Task<PoolWake> SubscribeAsync(IPoolEvents events, PoolId pool, Func<string, bool> matches, CancellationToken cancellationToken)
    {
        var wake = new PoolWake();
        wake._subscription = await events.SubscribeAsync(
            pool,
            e =>
            {
                if (matches(e))
                {
                    wake._signal.Set();
                }
            },
            cancellationToken);
        return wake;
    }

    /// <summary>Returns at the first matching event since the last wait, or after <paramref name="atMost"/>.</summary>
    public Task WaitAsync(TimeSpan atMost, CancellationToken cancellationToken) => _signal.WaitAsync(atMost, cancellationToken);

    public void Dispose() => _subscription?.Dispose();
}

/// <summary>State of a watched lease.</summary>
public abstract record LeaseState
{
    private LeaseState()
    {
    }

    public sealed record Live(DateTimeOffset ExpiresAt) : LeaseState;

    public sealed record Revoked(string RevokedBy, DateTimeOffset RevokedAt) : LeaseState;

    /// <summary>The broker took the seat back (PENDING or idle past the pool's timeout).</summary>
    public sealed record IdleReleased(IdleReleaseCause Cause, DateTimeOffset At) : LeaseState;

    /// <summary>Released, expired, or never the caller's.</summary>
    public sealed record Gone : LeaseState;
}

/// <summary>Everything the store needs to put an agent in the queue (or grant at once).</summary>
public sealed record QueueJoin(
    PoolId Pool, string AgentId, string SessionId, string LeaseId, SeatType SeatType, int ConcurrentLimit, DeviceInfo Device, SessionKind Kind, IdleRules? IdleRules = null,
    GroupSeats? Groups = null, LeaseRecovery? Recovery = null, OveragePolicy? Overage = null);

/// <summary>The queue side of the occupancy store.</summary>
public interface IQueueStore
{
    Task<QueueState> JoinAsync(QueueJoin join, CancellationToken cancellationToken);

    Task<QueueState> QueueStatusAsync(PoolId pool, string agentId, CancellationToken cancellationToken);

    Task LeaveQueueAsync(PoolId pool, string agentId, CancellationToken cancellationToken);

    Task<LeaseState> LeaseStateAsync(PoolId pool, string agentId, string leaseId, CancellationToken cancellationToken);
}
