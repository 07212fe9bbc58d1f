using LicenseBroker.Domain.Catalog;
using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Domain.Administration;

/// <summary>Durable numbers of one product of an account (PostgreSQL).</summary>
public sealed record DurableUsage(
    string Product,
    int NamedSeatsAssigned,
    int NamedSeatLimit,
    int ConcurrentSeatLimit,
    int ConcurrentEligibleAgents,
    int UnattendedDevicesInUse,
    int UnattendedDeviceLimit,
    int MonitoredDevices,
    int PeakToday,
    int RefusedToday,
    string Plan,
    DateTime ValidUntil,
    int PendingTimeoutSeconds = 0,
    int IdleTimeoutSeconds = 0,
    string? DisplayName = null,
    bool Unlimited = false)
{
    /// <summary>The product's name as the account sees it (its own, else the catalog's; the code if unknown).</summary>
    public string Name => DisplayName ?? Product;
}

/// <summary>The Seats &amp; Devices numbers of one product: durable and live together.</summary>
public sealed record ProductUsage(DurableUsage Durable, LiveUsage Live)
{
    /// <summary>Groups with seats reserved or capped in the product, with their live numbers.</summary>
    public IReadOnlyList<GroupUsage> Groups { get; init; } = [];

    /// <summary>The larger of Redis's counter and the persisted one, so a Redis restart loses no peak.</summary>
    public int PeakToday => Math.Max(Durable.PeakToday, Live.PeakToday);

    public int RefusedToday => Math.Max(Durable.RefusedToday, Live.RefusedToday);
}

/// <summary>A group's rule in a product and its shared seats now.</summary>
public sealed record GroupUsage(GroupSeatRule Rule, string DisplayName, GroupLiveUsage Live);

/// <summary>A day of a pool's history; <see cref="QueueAbandoned"/>: waits that ended without a seat (cancelled, timed out, abandoned).</summary>
public sealed record UsageDay(DateOnly Day, int PeakConcurrent, int Refused, int DistinctAgents, int QueueJoins = 0, int QueueAbandoned = 0, int NamedAgents = 0);

/// <summary>Reads the durable side of usage.</summary>
public interface IUsageReader
{
    /// <summary>One entry per product the account subscribes to (or only <paramref name="product"/>).</summary>
    Task<IReadOnlyList<DurableUsage>> GetUsageAsync(string accountId, string? product, DateOnly today, CancellationToken cancellationToken);

    /// <summary>Every day from <paramref name="from"/> to <paramref name="to"/> inclusive.</summary>
    Task<IReadOnlyList<UsageDay>> GetHistoryAsync(string accountId, string product, DateOnly from, DateOnly to, CancellationToken cancellationToken);

    /// <summary>The pool's overage seats at <paramref name="from"/>, and the audit log's overage events in [from, to), in order.</summary>
    Task<(int InitialSeats, IReadOnlyList<OverageChange> Changes)> GetOverageChangesAsync(
        string accountId, string product, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken);
}

/// <summary>A live shared session with the agent's name and e-mail.</summary>
public sealed record SharedSession(LeaseView Lease, AgentContact? Agent);

/// <summary>A page of live shared sessions, with the queue (on the first page).</summary>
public sealed record SharedSessionPage(
    int Total, int SeatsInUse, string? NextCursor, IReadOnlyList<SharedSession> Sessions, int Waiting = 0, IReadOnlyList<(QueuedAgent Agent, AgentContact? Contact)>? Queue = null);

/// <summary>
/// The admin center: who holds the shared seats now (Redis, with names from the cached catalog:
/// no query per lease), ending sessions, and the Seats &amp; Devices numbers.
/// </summary>
public sealed class UsageReports
{
    private readonly IOccupancyStore _occupancy;
    private readonly ILicenseCatalog _catalog;
    private readonly IUsageReader _usage;
    private readonly TimeProvider _time;
    private const int MaxQueueShown = 1000;
    private readonly SeatOptions _seats;
    private readonly IGroupStore _groups;

    public UsageReports(IOccupancyStore occupancy, ILicenseCatalog catalog, IUsageReader usage, TimeProvider time, SeatOptions seats, IGroupStore groups)
    {
        _groups = groups;
        _occupancy = occupancy;
        _catalog = catalog;
        _usage = usage;
        _time = time;
        _seats = seats;
    }

    public async Task<SharedSessionPage> ListSharedSessionsAsync(PoolId pool, string? cursor, int pageSize, CancellationToken cancellationToken)
    {
        var policy = await _catalog.GetPoolPolicyAsync(pool, cancellationToken);
        // The first page also shows the queue: both reads are sent together (pipelined on the one
        // Redis connection), so the page costs one round trip of latency, not two.
        var pageRead = _occupancy.ListSharedAsync(pool, cursor, pageSize, cancellationToken);
        var queueRead = cursor is null ? _occupancy.ListQueueAsync(pool, MaxQueueShown, cancellationToken) : Task.FromResult((0, (IReadOnlyList<QueuedAgent>)[]));
        await Task.WhenAll(pageRead, queueRead);
        var page = await pageRead;
        var (waiting, queue) = await queueRead;
        return new SharedSessionPage(
            page.Total,
            page.SeatsInUse,
            page.NextCursor,
            page.Leases.Select(l => new SharedSession(l, policy.ContactOf(l.AgentId))).ToList(),
            waiting,
            queue.Select(q => (q, policy.ContactOf(q.AgentId))).ToList());
    }

    /// <summary>
    /// Ends sessions by lease or agent id; their seats are free for the next acquire at once, and
    /// the evicted apps hear LEASE_REVOKED for one lease lifetime. Idempotent: what was already
    /// ended is not returned again.
    /// </summary>
    public async Task<IReadOnlyList<SharedSession>> ForceReleaseAsync(
        PoolId pool, Actor admin, IReadOnlyList<string> leaseIds, IReadOnlyList<string> agentIds, CancellationToken cancellationToken)
    {
        var policy = await _catalog.GetPoolPolicyAsync(pool, cancellationToken);
        var ended = new List<LeaseView>();
        if (leaseIds.Count > 0)
        {
            ended.AddRange(await _occupancy.RevokeAsync(new RevokeCommand(pool, admin.Id, ByAgent: false, leaseIds, _seats.LeaseTtl), cancellationToken));
        }

        if (agentIds.Count > 0)
        {
            ended.AddRange(await _occupancy.RevokeAsync(new RevokeCommand(pool, admin.Id, ByAgent: true, agentIds, _seats.LeaseTtl), cancellationToken));
        }

        return ended.Select(l => new SharedSession(l, policy.ContactOf(l.AgentId))).ToList();
    }

    public async Task<IReadOnlyList<ProductUsage>> GetSeatUsageAsync(string accountId, string? product, CancellationToken cancellationToken)
    {
        var today = DateOnly.FromDateTime(_time.GetUtcNow().UtcDateTime);
        var durable = await _usage.GetUsageAsync(accountId, product, today, cancellationToken);
        var live = await Task.WhenAll(durable.Select(d => _occupancy.GetLiveUsageAsync(new PoolId(accountId, d.Product), cancellationToken)));
        var policies = await Task.WhenAll(durable.Select(d => _catalog.GetPoolPolicyAsync(new PoolId(accountId, d.Product), cancellationToken).AsTask()));
        var names = policies.Any(p => p.GroupRules.Count > 0)
            ? (await _groups.ListGroupsAsync(accountId, null, cancellationToken)).ToDictionary(g => g.GroupId, g => g.DisplayName, StringComparer.Ordinal)
            : [];
        return durable.Select((d, i) => new ProductUsage(d, live[i])
        {
            // The rules the catalog has now; the numbers Redis has for them (zero for a rule no call has used yet).
            Groups = policies[i].GroupRules.Select(rule => new GroupUsage(
                rule,
                names.GetValueOrDefault(rule.GroupId, rule.GroupId),
                live[i].Groups?.FirstOrDefault(g => g.GroupId == rule.GroupId) ?? new GroupLiveUsage(rule.GroupId, 0, 0, 0))).ToList(),
        }).ToList();
    }

    public Task<IReadOnlyList<UsageDay>> GetHistoryAsync(string accountId, string product, DateOnly from, DateOnly to, CancellationToken cancellationToken) =>
        _usage.GetHistoryAsync(accountId, product, from, to, cancellationToken);

    /// <summary>The pool's overage statement over [from, to): per UTC day and per month (see <see cref="OverageStatement"/>).</summary>
    public async Task<(IReadOnlyList<OveragePeriod> Days, IReadOnlyList<OveragePeriod> Months)> GetOverageStatementAsync(
        string accountId, string product, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        var (initial, changes) = await _usage.GetOverageChangesAsync(accountId, product, from, to, cancellationToken);
        return OverageStatement.Compute(initial, changes, from, to);
    }
}
