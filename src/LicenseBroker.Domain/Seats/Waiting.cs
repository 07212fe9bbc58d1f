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
    /// <see cref="Priority"/>: the waiter's class; <see cref="EstimatedWait"/>: about how long it still waits (null: not known
    /// yet); <see cref="Deadline"/>: when its max wait ends it; <see cref="Ticket"/>: its signed place, which gives it back
    /// after Redis lost the queue (<see cref="LeaseProofs.SignTicket"/>).
    public sealed record InQueue(
        int Position, int SeatsInUse, int Waiting, SharedSeatRefusal Why = SharedSeatRefusal.AllInUse, string? Group = null, int Cap = 0, string? ReservedFor = null,
        string? GroupName = null, string? ReservedForNames = null, QueuePriority Priority = QueuePriority.Standard, TimeSpan? EstimatedWait = null,
        DateTimeOffset? Deadline = null, string? Ticket = null) : WaitUpdate
    {
        /// <summary>
        /// Whether the app should hear of this update after <paramref name="last"/>: anything but the estimate changed, or
        /// the estimate moved by more than a fifth (and 5 s): not a message every refresh for a clock that ticks.
        /// </summary>
        public bool WorthSendingAfter(InQueue? last)
        {
            if (last is null || this with { EstimatedWait = null, Deadline = null, Ticket = null } != last with { EstimatedWait = null, Deadline = null, Ticket = null })
            {
                return true;
            }

            if (EstimatedWait is null || last.EstimatedWait is null)
            {
                return EstimatedWait != last.EstimatedWait;
            }

            var moved = (EstimatedWait.Value - last.EstimatedWait.Value).Duration();
            return moved > TimeSpan.FromSeconds(5) && moved > last.EstimatedWait.Value / 5;
        }
    }

    /// <summary>The pool's queue is full (<see cref="QueueTerms.MaxWaitersFor"/>): not queued, nothing changed.</summary>
    public sealed record QueueFull(int Waiting, int MaxWaiters, int SeatsInUse) : WaitUpdate;

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

    /// <summary>The wait lasted the pool's max wait (<see cref="QueueTerms.MaxWait"/>) without a seat.</summary>
    QueueTimeout,
}

/// <summary>A waiter's priority class: the queue serves a higher class first, and ages waiters one class up per age step.</summary>
public enum QueuePriority
{
    /// <summary>A technician who must work now (e.g. on a customer's incident).</summary>
    Incident = 0,

    High = 1,

    /// <summary>Everyone whose group sets no class.</summary>
    Standard = 2,

    /// <summary>Work that can wait (reports, training).</summary>
    Background = 3,
}

/// <summary>
/// The queue's terms for a pool: at most <see cref="MaxWaiters"/> waiting (null: twice the shared seats, and at least 20), a
/// wait ends after <see cref="MaxWait"/>, and a waiter moves one class up per <see cref="AgeStep"/>.
/// </summary>
public sealed record QueueTerms(int? MaxWaiters, TimeSpan MaxWait, TimeSpan AgeStep)
{
    public static readonly QueueTerms Default = new(null, TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(2));

    public int MaxWaitersFor(int sharedSeats) => MaxWaiters ?? Math.Max(2 * sharedSeats, 20);
}

/// <summary>
/// A waiter's place, as the pool's queue orders it (see Scripts/library/07_queue.lua): its key, class, start and deadline. Signed
/// into the app's queue ticket, so that the app gets it back after Redis lost the queue.
/// </summary>
public sealed record QueuePlace(long Key, QueuePriority Priority, DateTimeOffset Since, DateTimeOffset Deadline);

/// <summary>The store's answer to a join or status call.</summary>
public abstract record QueueState
{
    private QueueState()
    {
    }

    public sealed record Granted(Lease Lease) : QueueState;

    /// <summary>In the queue; <see cref="ReservedFor"/>: the groups keeping the free seats, comma-separated.</summary>
    public sealed record Queued(
        int Position, int SeatsInUse, int Waiting, SharedSeatRefusal Why = SharedSeatRefusal.AllInUse, string? Group = null, int Cap = 0, string? ReservedFor = null,
        QueuePriority Priority = QueuePriority.Standard, TimeSpan? EstimatedWait = null, TimeSpan? TimeLeft = null, QueuePlace? Place = null) : QueueState;

    /// <summary>The queue holds its most waiters; nothing changed.</summary>
    public sealed record Full(int Waiting, int MaxWaiters, int SeatsInUse) : QueueState;

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
    /// seconds so the queue knows this replica is alive, and at its deadline. Leaving early (cancel,
    /// disconnect, deadline) leaves the queue at once; a replica that stops (<paramref name="replicaStopping"/>)
    /// does not: the app re-joins through another replica and finds its place. <paramref name="queueTicket"/>: the ticket
    /// of an earlier update of this wait, which gives the place back if Redis lost the queue meanwhile.
    /// </summary>
    public async IAsyncEnumerable<WaitUpdate> WaitAsync(
        AgentIdentity agent, string product, string sessionId, DeviceInfo device, SessionKind kind, string? queueTicket, CancellationToken replicaStopping,
        [EnumeratorCancellation] CancellationToken cancellationToken, LostLease? lostLease = null)
    {
        var pool = new PoolId(agent.AccountId, product);
        // Only a lease this broker gave this agent on this device counts; any other is ignored (never an error, never a class).
        var lostLeaseId = lostLease is { } lost
            && _proofs.Verify(pool, agent.AgentId, device.DeviceId, lost.LeaseId, lost.SessionId, lost.SeatType, lost.FencingToken, lost.Proof) is not null
            ? lost.LeaseId
            : null;
        using var wake = await PoolWake.SubscribeAsync(_events, pool, e => e == "queue", cancellationToken);
        var place = queueTicket is { Length: > 0 } ? _proofs.VerifyTicket(pool, agent.AgentId, queueTicket) : null;

        // Joins (or, restoreOnly, only takes back the ticket's place) under the rules in force.
        async Task<(AcquireOutcome? Refusal, QueueState? State, PoolPolicy Policy)> JoinAsync(bool restoreOnly)
        {
            var ((refused, state), rulesInForce) = await RulesInForce.DecideAsync<(AcquireOutcome? Refusal, QueueState? State)>(
                _catalog,
                pool,
                async rules =>
                {
                    if (rules.RefusalFor(agent.AgentId, _time.GetUtcNow()) is { } refusal)
                    {
                        return (refusal, null);
                    }

                    var join = new QueueJoin(
                        pool, agent.AgentId, sessionId, SeatBroker.NewLeaseId(), rules.SeatTypeOf(agent.AgentId)!.Value, rules.ConcurrentLimit, device, kind, rules.IdleRules,
                        rules.GroupSeatsOf(agent.AgentId), rules.Recovery, rules.Overage, rules.QueuePriorityOf(agent.AgentId), rules.QueueTerms(_options.QueueTerms), place, restoreOnly,
                        lostLeaseId);
                    return (null, await _store.JoinAsync(join, cancellationToken));
                },
                static attempt => (attempt.State as QueueState.RulesChanged)?.Version,
                cancellationToken);
            return (refused, state, rulesInForce);
        }

        var (refusal, joined, policy) = await JoinAsync(restoreOnly: false);
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
            var nextCheck = _options.WaiterRefresh;
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
                    case QueueState.Full full:
                        yield return new WaitUpdate.QueueFull(full.Waiting, full.MaxWaiters, full.SeatsInUse);
                        yield break;
                    case QueueState.Gone when place is not null:
                        // Redis may have lost the queue: the place this wait was given comes back while the pool recovers
                        // (the ticket is this broker's own signature); otherwise the wait is over.
                        var (_, restored, _) = await JoinAsync(restoreOnly: true);
                        place = null;
                        state = restored is QueueState.Queued or QueueState.Granted ? restored : new QueueState.Gone();
                        continue;
                    case QueueState.Gone:
                        yield return new WaitUpdate.Dropped();
                        yield break;
                    case QueueState.Ended ended:
                        yield return new WaitUpdate.Ended(ended.Reason, ended.By, ended.At);
                        yield break;
                    case QueueState.Queued q:
                        place = q.Place ?? place;
                        var now = _time.GetUtcNow();
                        var update = new WaitUpdate.InQueue(
                            q.Position, q.SeatsInUse, q.Waiting, q.Why, q.Group, q.Cap, q.ReservedFor,
                            q.Group is null ? null : policy.GroupName(q.Group),
                            q.ReservedFor is null ? null : string.Join(",", q.ReservedFor.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(policy.GroupName)),
                            q.Priority, q.EstimatedWait, q.TimeLeft is { } left ? now + left : null);
                        if (update.WorthSendingAfter(last))
                        {
                            // Signed only for an update that is sent (not on every refresh of the place).
                            last = update with { Ticket = place is null ? null : _proofs.SignTicket(pool, agent.AgentId, place) };
                            yield return last;
                        }

                        // Refresh our place when the keep-alive is due, and at the deadline (within a second of it).
                        nextCheck = q.TimeLeft is { } timeLeft && timeLeft + TimeSpan.FromMilliseconds(50) < _options.WaiterRefresh
                            ? timeLeft + TimeSpan.FromMilliseconds(50)
                            : _options.WaiterRefresh;
                        break;
                }

                // Wait for the pool to move, or the next check.
                await wake.WaitAsync(nextCheck, cancellationToken);

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
            if (!granted && !replicaStopping.IsCancellationRequested)
            {
                // Cancelled, disconnected or past the deadline: leave now, even though the call is over. Not when this
                // replica stops: the app re-joins through another one and keeps its place.
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
/// <see cref="Ticket"/>: the place a verified queue ticket proves (given back only while the pool recovers from a loss of data);
/// <see cref="RestoreOnly"/>: only give that place back, never start a new wait. <see cref="LostLeaseId"/>: a lease of the agent
/// that expired, its proof verified: lost during an attended session, the agent waits in the incident class.
public sealed record QueueJoin(
    PoolId Pool, string AgentId, string SessionId, string LeaseId, SeatType SeatType, int ConcurrentLimit, DeviceInfo Device, SessionKind Kind, IdleRules? IdleRules = null,
    GroupSeats? Groups = null, LeaseRecovery? Recovery = null, OveragePolicy? Overage = null, QueuePriority Priority = QueuePriority.Standard,
    QueueTerms? Queue = null, QueuePlace? Ticket = null, bool RestoreOnly = false, string? LostLeaseId = null);

/// <summary>A lease the app lost (as it was given, with its proof): see <see cref="QueueJoin.LostLeaseId"/>.</summary>
public sealed record LostLease(string LeaseId, string SessionId, SeatType SeatType, long FencingToken, string Proof);

/// <summary>The queue side of the occupancy store.</summary>
public interface IQueueStore
{
    Task<QueueState> JoinAsync(QueueJoin join, CancellationToken cancellationToken);

    Task<QueueState> QueueStatusAsync(PoolId pool, string agentId, CancellationToken cancellationToken);

    Task LeaveQueueAsync(PoolId pool, string agentId, CancellationToken cancellationToken);

    Task<LeaseState> LeaseStateAsync(PoolId pool, string agentId, string leaseId, CancellationToken cancellationToken);
}
