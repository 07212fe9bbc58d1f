using Dapper;
using LicenseBroker.Contracts.V1;
using LicenseBroker.Domain.Catalog;
using LicenseBroker.Domain.Seats;
using LicenseBroker.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit.Abstractions;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Issue 33: the queue's priority classes. A thousand waiters of three classes join over three replicas (clocks skewed)
/// while seats free one at a time; the audit log, in the pool's order, is the record: joins, grants, releases.
/// </summary>
public sealed class QueueOrderTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Product = "remote-support";
    private static readonly TimeSpan AgeStep = TimeSpan.FromMinutes(2);
    private SkewedReplicas? _cluster;

    private IReadOnlyList<BrokerTestHost> Replicas => _cluster!.Replicas;

    private BrokerTestHost A => Replicas[0];

    public async Task InitializeAsync() => _cluster = await SkewedReplicas.StartAsync(new Dictionary<string, string?>
    {
        // Waiters joined through the store have no stream refreshing them: they live as long as the test.
        ["Seats:WaiterTimeout"] = "00:10:00",
        ["Seats:QueueMaxWait"] = "01:00:00",
        ["Seats:QueueMaxWaiters"] = "2000",
        ["Seats:QueueAgeStep"] = "00:02:00",
    });

    public async Task DisposeAsync() => await _cluster!.DisposeAsync();

    [Fact]
    public async Task A_thousand_waiters_in_three_classes_over_three_replicas_keep_their_order_within_each_class_and_incidents_take_the_next_seat()
    {
        const int seats = 20;
        var seeder = A.Seeder();
        var account = await seeder.AccountAsync(concurrentSeats: seats);
        var holders = await seeder.AgentsAsync(account, seats, "CONCURRENT", prefix: "holder");
        var incident = await seeder.AgentsAsync(account, 100, "CONCURRENT", prefix: "incident");
        var standard = await seeder.AgentsAsync(account, 600, "CONCURRENT", prefix: "standard");
        var background = await seeder.AgentsAsync(account, 300, "CONCURRENT", prefix: "background");
        await A.SetGroupAsync(account, "on-call", incident);
        await A.SetGroupRuleAsync(account, "on-call", 0, null, priority: Contracts.V1.QueuePriority.Incident);
        await A.SetGroupAsync(account, "reports", background);
        await A.SetGroupRuleAsync(account, "reports", 0, null, priority: Contracts.V1.QueuePriority.Background);
        var classOf = incident.Select(a => (a, 0)).Concat(standard.Select(a => (a, 2))).Concat(background.Select(a => (a, 3))).ToDictionary(p => p.a, p => p.Item2);
        var pool = new PoolId(account, Product);

        // Every seat taken.
        var held = new Queue<(string Agent, string LeaseId)>();
        foreach (var holder in holders)
        {
            held.Enqueue((holder, (await A.Agent(account, holder).AcquireAsync(Product)).Lease.LeaseId));
        }

        // The arrivals, shuffled: 400 join at once (eight at a time, over the three replicas), the other 600 one before each
        // of the first 600 releases; incidents come among them, so that each meets a long queue.
        var random = new Random(33);
        var arrivals = classOf.Keys.OrderBy(_ => random.Next()).ToList();
        var early = arrivals.Take(400).ToList();
        var late = new Queue<string>(arrivals.Skip(400));
        var joined = 0;
        await Parallel.ForEachAsync(early, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (agent, ct) =>
        {
            var state = await JoinAsync(Replicas[Interlocked.Increment(ref joined) % Replicas.Count], pool, agent, ct);
            Assert.IsType<QueueState.Queued>(state);
        });

        // One seat frees at a time, on a replica in turn: the seat goes to the waiter the queue puts first, whose replica
        // claims it (the test plays that replica); the claimed lease is released later, as the others.
        var granted = 0;
        var step = 0;
        var admins = Replicas.Select(r => (Client: r.AdminClient, Headers: r.AdminHeaders(account))).ToList();
        while (granted < classOf.Count)
        {
            var replica = Replicas[step++ % Replicas.Count];
            if (late.TryDequeue(out var arrival))
            {
                Assert.IsType<QueueState.Queued>(await JoinAsync(replica, pool, arrival, CancellationToken.None));
            }

            var (agent, leaseId) = held.Dequeue();
            Assert.True((await replica.Agent(account, agent).Raw.ReleaseSeatAsync(new ReleaseSeatRequest { Product = Product, LeaseId = leaseId }, replica.Agent(account, agent).Headers)).Released);
            var sessions = await admins[step % admins.Count].Client.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, admins[step % admins.Count].Headers);
            var holding = held.Select(h => h.Agent).ToHashSet();
            var offered = Assert.Single(sessions.Sessions, s => !holding.Contains(s.AgentId));
            var claimed = Assert.IsType<QueueState.Granted>(await Replicas[(step + 1) % Replicas.Count].Services.GetRequiredService<IQueueStore>().QueueStatusAsync(pool, offered.AgentId, CancellationToken.None));
            held.Enqueue((offered.AgentId, claimed.Lease.LeaseId));
            granted++;
            Assert.Equal(seats, sessions.SeatsInUse);
        }

        // The record, once stored: every join and grant of the waiters, and the releases between them, in the pool's order.
        var log = await AuditAsync(account, 1000 + 1000 + 1000 + seats);
        var joins = log.Where(e => e.Action == "queue.joined").ToDictionary(e => e.Subject);
        var grants = log.Where(e => e.Action == "seat.granted" && classOf.ContainsKey(e.Subject)).ToDictionary(e => e.Subject);
        Assert.Equal(1000, joins.Count);
        Assert.Equal(1000, grants.Count);
        var releases = log.Where(e => e.Action == "seat.released").Select(e => e.Seq).ToList();

        // 0 overtakes within a class: the grant order of each class is its join order.
        foreach (var cls in new[] { 0, 2, 3 })
        {
            var members = classOf.Where(c => c.Value == cls).Select(c => c.Key).ToList();
            var byJoin = members.OrderBy(a => joins[a].Seq).ToList();
            var byGrant = members.OrderBy(a => grants[a].Seq).ToList();
            Assert.Equal(byJoin, byGrant);
        }

        // An incident waits a median of at most one release: the next seat that frees is its.
        var incidentWaits = incident.Select(a => releases.Count(r => r > joins[a].Seq && r < grants[a].Seq)).Order().ToList();
        Assert.True(incidentWaits[incidentWaits.Count / 2] <= 1, $"median incident wait {incidentWaits[incidentWaits.Count / 2]} releases");
        output.WriteLine($"incident waits in releases: median {incidentWaits[incidentWaits.Count / 2]}, 95th {incidentWaits[incidentWaits.Count * 95 / 100]}, max {incidentWaits[^1]}");

        // Nobody is overtaken beyond its aging bound: one served before a waiter of a lower class who joined earlier joined
        // less than (the classes' difference x age step) after it.
        var ordered = grants.Values.OrderBy(g => g.Seq).Select(g => g.Subject).ToList();
        var worst = TimeSpan.Zero;
        for (var i = 0; i < ordered.Count; i++)
        {
            for (var j = i + 1; j < ordered.Count; j++)
            {
                var (first, later) = (ordered[i], ordered[j]);
                if (joins[later].Seq < joins[first].Seq && classOf[first] < classOf[later])
                {
                    var after = joins[first].At - joins[later].At;
                    Assert.True(after < (classOf[later] - classOf[first]) * AgeStep, $"{first} overtook {later}, joined {after} after it");
                    worst = after > worst ? after : worst;
                }
            }
        }

        output.WriteLine($"overtakes across classes: the latest joiner to go first joined {worst.TotalSeconds:F1} s after the one it overtook (bound: 2 min per class)");
    }

    private static async Task<QueueState> JoinAsync(BrokerTestHost replica, PoolId pool, string agent, CancellationToken cancellationToken)
    {
        // What SeatWaiter joins with (the catalog's policy: the agent's group and its class), without a stream.
        var policy = await replica.Services.GetRequiredService<ILicenseCatalog>().GetPoolPolicyAsync(pool, cancellationToken);
        var options = replica.Services.GetRequiredService<SeatOptions>();
        var join = new QueueJoin(
            pool, agent, "w-" + agent, SeatBroker.NewLeaseId(), Domain.Seats.SeatType.Concurrent, policy.ConcurrentLimit, new DeviceInfo("d", Domain.Seats.Platform.Windows),
            Domain.Seats.SessionKind.Pending, policy.IdleRules, policy.GroupSeatsOf(agent), policy.Recovery, policy.Overage, policy.QueuePriorityOf(agent), options.QueueTerms);
        return await replica.Services.GetRequiredService<IQueueStore>().JoinAsync(join, cancellationToken);
    }

    private async Task<List<AuditRow>> AuditAsync(string account, int expected)
    {
        List<AuditRow> rows = [];
        await Eventually.Until(
            async () =>
            {
                await using var connection = new NpgsqlConnection(A.Database.ConnectionString);
                rows = (await connection.QueryAsync<AuditRow>(
                    """
                    SELECT action AS Action, subject AS Subject, event_seq AS Seq, occurred_at AS At FROM audit_events
                    WHERE account_id = @account AND action IN ('queue.joined', 'seat.granted', 'seat.released') ORDER BY event_seq
                    """,
                    new { account })).ToList();
                return rows.Count >= expected ? "stored" : null;
            },
            TimeSpan.FromSeconds(60),
            $"{expected} seat events stored");
        return rows;
    }

    private sealed record AuditRow(string Action, string Subject, long Seq, DateTime At);
}
