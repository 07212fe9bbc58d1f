using System.Collections.Concurrent;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;
using LicenseBroker.Storage.Redis;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using PoolId = LicenseBroker.Domain.Seats.PoolId;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Issue 16, part 2: shared seats reserved for an agent group, and groups capped, across three
/// replicas (clocks +30 s and -30 s): checked atomically with the limit, in the queue as at the door.
/// </summary>
public sealed class GroupSeatTests : IAsyncLifetime
{
    private const string Product = "remote-support";
    private SkewedReplicas? _cluster;

    private IReadOnlyList<BrokerTestHost> Replicas => _cluster!.Replicas;

    private TestDatabase Database => _cluster!.Database;

    public async Task InitializeAsync()
    {
        _cluster = await SkewedReplicas.StartAsync(new Dictionary<string, string?> { ["Seats:WaiterRefresh"] = "00:00:00.500", ["Seats:WaiterTimeout"] = "00:00:05", ["Seats:QueueMaxWaiters"] = "1000" });
    }

    public async Task DisposeAsync() => await _cluster!.DisposeAsync();

    private BrokerTestHost A => Replicas[0];

    [Fact]
    public async Task Three_hundred_agents_in_thirty_rounds_never_pass_the_limit_a_reservation_or_a_cap()
    {
        const int seats = 10;
        const int perClass = 100;
        const int rounds = 30;
        // team-a: 3 seats of its own; team-b: 2 of its own and never more than 4 in all; 5 seats for anyone.
        var (account, teamA, teamB, others) = await TeamsAsync(seats, perClass, "", (3, null), (2, 4));

        var ids = teamA.Concat(teamB).Concat(others).ToArray();
        string ClassOf(int i) => i < perClass ? "team-a" : i < 2 * perClass ? "team-b" : string.Empty;
        var agents = ids.Select((id, i) => Replicas[i % Replicas.Count].Agent(account, id)).ToArray();
        var keys = A.Services.GetRequiredService<RedisKeys>().Pool(new PoolId(account, Product));
        var redis = A.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        var held = new ConcurrentDictionary<int, Lease>();
        var random = new Random(16);

        for (var round = 0; round < rounds; round++)
        {
            // Redis's own counts, read atomically while the round runs: total, team-a, team-b.
            var violations = new ConcurrentQueue<string>();
            using var sampling = new CancellationTokenSource();
            var samples = 0;
            var sampler = Task.Run(async () =>
            {
                while (!sampling.IsCancellationRequested)
                {
                    var counts = (RedisResult[])(await redis.ScriptEvaluateAsync(
                        "return {redis.call('HLEN', KEYS[1]) + tonumber(redis.call('HGET', KEYS[3], 'entry_seats') or '0'), redis.call('HGET', KEYS[2], 'held:team-a') or '0', redis.call('HGET', KEYS[2], 'held:team-b') or '0'}",
                        [keys[3], keys[16], keys[10]]))!;
                    var (total, a, b) = ((int)counts[0], (int)counts[1], (int)counts[2]);
                    if (total > seats || b > 4 || total - a - b > seats - 5)
                    {
                        violations.Enqueue($"total {total}, team-a {a}, team-b {b}");
                    }

                    samples++;
                }
            });

            var leaving = held.Keys.Where(_ => random.Next(3) == 0).ToList();
            var contenders = Enumerable.Range(0, ids.Length).Where(i => !held.ContainsKey(i)).OrderBy(_ => random.Next()).Take(100).ToList();
            var stayers = held.Keys.Except(leaving).ToList();
            await Task.WhenAll(leaving.Select(i => Task.Run(async () =>
                {
                    held.TryRemove(i, out var lease);
                    Assert.True(await agents[i].ReleaseAsync(lease!));
                }))
                .Concat(stayers.Select(i => Task.Run(async () => held[i] = await agents[i].HeartbeatAsync(held[i]))))
                .Concat(contenders.Select(i => Task.Run(() => TryAcquire(i)))));

            // Then twenty more of each class, so every reserved seat has members asking for it.
            await Task.WhenAll(Enumerable.Range(0, 3)
                .SelectMany(c => Enumerable.Range(c * perClass, perClass).Where(i => !held.ContainsKey(i)).OrderBy(_ => random.Next()).Take(20))
                .Select(TryAcquire));

            await sampling.CancelAsync();
            await sampler;
            Assert.True(violations.IsEmpty, $"round {round}: {string.Join("; ", violations.Take(5))} ({samples} samples)");

            // What the apps hold: the pool full, each reservation taken by its own, the cap and the others' share kept.
            var byClass = held.Keys.GroupBy(ClassOf).ToDictionary(g => g.Key, g => g.Count());
            Assert.Equal(seats, held.Count);
            Assert.InRange(byClass.GetValueOrDefault("team-a"), 3, seats);
            Assert.InRange(byClass.GetValueOrDefault("team-b"), 2, 4);
            Assert.InRange(byClass.GetValueOrDefault(string.Empty), 0, seats - 5);

            // And what the admins see agrees with the apps, seat by seat.
            var sessions = (await Replicas[round % 3].AdminClient.ListSharedSessionsAsync(
                new ListSharedSessionsRequest { Product = Product }, Replicas[round % 3].AdminHeaders(account))).Sessions;
            Assert.Equal(
                held.Select(h => (h.Value.LeaseId, ClassOf(h.Key))).OrderBy(x => x.LeaseId),
                sessions.Select(s => (s.LeaseId, s.GroupId)).OrderBy(x => x.LeaseId));
            Assert.Equal(3, sessions.Count(s => s.GroupId == "team-a" && s.OnReservedSeat));
            Assert.Equal(2, sessions.Count(s => s.GroupId == "team-b" && s.OnReservedSeat));
        }

        var usage = Assert.Single((await A.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, A.AdminHeaders(account))).Products);
        var a = usage.Groups.Single(g => g.GroupId == "team-a");
        Assert.Equal((3, false, 3), (a.ReservedSeats, a.HasMaxSeats, a.OnReservedSeats));
        Assert.Equal(held.Keys.Count(i => ClassOf(i) == "team-a"), a.Holding);
        Assert.Equal("Team team-a", a.DisplayName);

        async Task TryAcquire(int i)
        {
            try
            {
                var lease = (await agents[i].AcquireAsync(Product)).Lease;
                Assert.True(held.TryAdd(i, lease));
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
            {
            }
        }
    }

    [Fact]
    public async Task The_queue_hands_each_seat_to_the_first_waiter_who_may_take_it_and_keeps_order_within_each_class()
    {
        // team-a: one seat of its own; team-b: never more than one; two seats for anyone.
        var (account, a, b, n) = await TeamsAsync(3, 3, "q", (1, null), (0, 1));

        // Held: team-a's reserved seat, one of anyone's, and team-b's one allowed seat.
        var holderA = (await A.Agent(account, a[0]).AcquireAsync(Product)).Lease;
        var holderN = (await Replicas[1].Agent(account, n[0]).AcquireAsync(Product)).Lease;
        var holderB = (await Replicas[2].Agent(account, b[0]).AcquireAsync(Product)).Lease;

        // Waiters join in this order, over the three replicas: b1 (capped), n1, n2, a1, a2.
        var order = new[] { b[1], n[1], n[2], a[1], a[2] };
        var waits = new List<WaitStream>();
        for (var i = 0; i < order.Length; i++)
        {
            var waiter = await WaitStream.JoinAsync(Replicas[i % 3].Agent(account, order[i]), order[i]);
            Assert.Equal(i + 1, waiter.FirstPosition);
            waits.Add(waiter);
        }

        var all = waits.ToList();

        // A newcomer of team-b is refused: its group is at its cap, whatever else is free.
        var capped = await Assert.ThrowsAsync<RpcException>(() => A.Agent(account, b[2]).AcquireAsync(Product));
        Assert.Equal(StatusCode.ResourceExhausted, capped.StatusCode);

        // Anyone's seat frees: the first waiter who may take it is n1 (b1, ahead of them, is capped).
        Assert.True(await Replicas[1].Agent(account, n[0]).ReleaseAsync(holderN));
        Assert.Equal(n[1], await NextGrantedAsync(waits));

        // Team-a's reserved seat frees: a1 takes it, though n2 joined before them.
        Assert.True(await A.Agent(account, a[0]).ReleaseAsync(holderA));
        Assert.Equal(a[1], await NextGrantedAsync(waits));

        // Team-b's holder leaves: b1, the earliest of those who may take it now, gets the seat.
        Assert.True(await Replicas[2].Agent(account, b[0]).ReleaseAsync(holderB));
        Assert.Equal(b[1], await NextGrantedAsync(waits));

        // The rest still wait, in order: n2, a2.
        Assert.Equal([n[2], a[2]], waits.Select(w => w.Agent));
        foreach (var waiter in all)
        {
            waiter.Dispose();
        }
    }

    [Fact]
    public async Task Sixty_waiters_racing_in_over_three_replicas_are_served_in_join_order_within_each_class()
    {
        const int perClass = 20;
        // team-a: one seat of its own; team-b: never more than one; three seats for anyone.
        var (account, a, b, n) = await TeamsAsync(4, perClass, "r", (1, null), (0, 1));
        // Held: the three seats for anyone, and team-a's by the last of its members.
        var holders = (await new CatalogSeeder(Database).AgentsAsync(account, 3, "CONCURRENT", prefix: "rh")).Append(a[^1]).ToList();
        var held = new List<(string Agent, Lease Lease, BrokerTestHost Replica)>();
        foreach (var (id, i) in holders.Select((id, i) => (id, i)))
        {
            held.Add((id, (await Replicas[i % 3].Agent(account, id).AcquireAsync(Product)).Lease, Replicas[i % 3]));
        }

        // Everyone joins at once, over the three replicas: the queue (Redis) decides the join order.
        var everyone = a.SkipLast(1).Concat(b).Concat(n).ToList();
        var waits = (await Task.WhenAll(everyone.Select((id, i) => WaitStream.JoinAsync(Replicas[i % 3].Agent(account, id), id)))).ToList();
        var queue = (await A.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, A.AdminHeaders(account))).Queue;
        Assert.Equal(everyone.Count, queue.Count);
        string ClassOf(string agent) => agent.StartsWith("ra", StringComparison.Ordinal) ? "a" : agent.StartsWith("rb", StringComparison.Ordinal) ? "b" : "n";
        var joinOrder = queue.OrderBy(q => q.Position).Select(q => q.AgentId).ToList();

        // Seats free one at a time (the longest held first); each goes to a waiter who may take it.
        // While every class still waits, some waiter may take any freed seat.
        var byAgent = waits.ToDictionary(w => w.Agent);
        var granted = new List<string>();
        while (new[] { "a", "b", "n" }.All(c => waits.Any(w => ClassOf(w.Agent) == c)))
        {
            var (agent, lease, replica) = held[0];
            held.RemoveAt(0);
            Assert.True(await replica.Agent(account, agent).ReleaseAsync(lease));
            var next = await NextGrantedAsync(waits);
            granted.Add(next);
            held.Add((next, await byAgent[next].Granted.Task, Replicas[granted.Count % 3]));
        }

        // The loop ends when a class has nobody left: at the least all 19 waiting members of team-a were served.
        Assert.True(granted.Count >= perClass - 1, $"only {granted.Count} grants");
        foreach (var c in new[] { "a", "b", "n" })
        {
            // Within a class, in join order: the first k of the class's join order, k as many as were served.
            var served = granted.Where(x => ClassOf(x) == c).ToList();
            Assert.Equal(joinOrder.Where(x => ClassOf(x) == c).Take(served.Count), served);
        }

        foreach (var waiter in byAgent.Values)
        {
            waiter.Dispose();
        }
    }

    [Fact]
    public async Task A_lower_reservation_keeps_its_holders_and_holds_for_the_next_seat()
    {
        var seeder = new CatalogSeeder(Database);
        var account = await seeder.AccountAsync(concurrentSeats: 3);
        var members = await seeder.AgentsAsync(account, 3, "CONCURRENT", prefix: "la");
        var outsider = (await seeder.AgentsAsync(account, 1, "CONCURRENT", prefix: "lo"))[0];
        await GroupAsync(account, "team-a", members);
        await RuleAsync(account, "team-a", reserved: 3, max: null);
        var leases = new List<Lease>();
        foreach (var (id, i) in members.Select((id, i) => (id, i)))
        {
            leases.Add((await Replicas[i % 3].Agent(account, id).AcquireAsync(Product)).Lease);
        }

        // Down to one reserved seat: the three holders keep theirs.
        await RuleAsync(account, "team-a", reserved: 1, max: null);
        foreach (var (id, i) in members.Select((id, i) => (id, i)))
        {
            Assert.Equal(leases[i].LeaseId, (await Replicas[(i + 1) % 3].Agent(account, id).HeartbeatAsync(leases[i])).LeaseId);
        }

        // One leaves: with one seat reserved now, the freed seat is anyone's (with three reserved it was not).
        Assert.True(await A.Agent(account, members[0]).ReleaseAsync(leases[0]));
        await Replicas[1].Agent(account, outsider).AcquireAsync(Product);
        var group = Assert.Single(Assert.Single((await A.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, A.AdminHeaders(account))).Products).Groups);
        Assert.Equal((1, 2), (group.ReservedSeats, group.Holding));
    }

    /// <summary>
    /// After Redis lost a pool, leases come back through the one admission rule of every grant: two proofs of a group
    /// capped at one seat bring back one lease, not two (re-establishment once checked the pool's limit alone).
    /// </summary>
    [Fact]
    public async Task Leases_re_established_after_data_loss_keep_a_groups_cap()
    {
        var seeder = new CatalogSeeder(Database);
        var account = await seeder.AccountAsync(concurrentSeats: 3);
        var members = await seeder.AgentsAsync(account, 2, "CONCURRENT", prefix: "rc");
        await GroupAsync(account, "team-c", members);
        await RuleAsync(account, "team-c", reserved: 0, max: 1);

        // The first member's seat goes to the second: both apps keep a signed proof of a lease of the group.
        var first = A.Agent(account, members[0]);
        var second = A.Agent(account, members[1]);
        var released = (await first.AcquireAsync(Product)).Lease;
        Assert.True(await first.ReleaseAsync(released));
        var live = (await second.AcquireAsync(Product)).Lease;

        // Redis loses the pool (and with it the release): both proofs come back within the recovery window.
        var keys = A.Services.GetRequiredService<RedisKeys>().Pool(new PoolId(account, Product));
        var redis = A.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        await RedisDataLoss.LosePoolAsync(A.Services, new PoolId(account, Product));
        var outcomes = new List<string>();
        foreach (var (agent, lease) in new[] { (first, released), (second, live) })
        {
            try
            {
                outcomes.Add((await agent.HeartbeatAsync(lease)).LeaseId == lease.LeaseId ? "back" : "other");
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
            {
                outcomes.Add("refused");
            }
        }

        Assert.Equal(["back", "refused"], outcomes);
        var counts = (RedisResult[])(await redis.ScriptEvaluateAsync(
            "return {redis.call('HLEN', KEYS[1]) + tonumber(redis.call('HGET', KEYS[3], 'entry_seats') or '0'), redis.call('HGET', KEYS[2], 'held:team-c') or '0'}",
            [keys[3], keys[16], keys[10]]))!;
        Assert.Equal((1, 1), ((int)counts[0], (int)counts[1]));
    }

    [Fact]
    public async Task Rules_are_validated_named_and_kept_within_the_limit()
    {
        var seeder = new CatalogSeeder(Database);
        var account = await seeder.AccountAsync(concurrentSeats: 5);
        var ids = await seeder.AgentsAsync(account, 2, "CONCURRENT");
        await GroupAsync(account, "team-a", ids);
        await GroupAsync(account, "team-b", []);
        await RuleAsync(account, "team-a", reserved: 4, max: null);

        async Task<RpcException> Refused(Func<Task> call) => await Assert.ThrowsAsync<RpcException>(call);
        var over = await Refused(() => RuleAsync(account, "team-b", reserved: 2, max: null));
        Assert.Equal((StatusCode.FailedPrecondition, "RESERVATIONS_OVER_LIMIT"), (over.StatusCode, Errors.Info(over).Reason));
        var unknown = await Refused(() => RuleAsync(account, "team-z", reserved: 0, max: 1));
        Assert.Equal((StatusCode.NotFound, "UNKNOWN_GROUP"), (unknown.StatusCode, Errors.Info(unknown).Reason));
        var below = await Refused(() => RuleAsync(account, "team-b", reserved: 1, max: 0));
        Assert.Equal("max_seats", Assert.Single(Errors.BadRequest(below).FieldViolations).Field);
        var bad = await Refused(async () => await A.AdminClient.UpsertAgentGroupAsync(
            new UpsertAgentGroupRequest { GroupId = "x|y", DisplayName = "\u0001", ReplaceMembers = true, MemberIds = { "ok", "no;pe" } }, A.AdminHeaders(account)));
        Assert.Equal(["group_id", "display_name", "member_ids[1]"], Errors.BadRequest(bad).FieldViolations.Select(v => v.Field));
        var stranger = await Refused(async () => await A.AdminClient.UpsertAgentGroupAsync(
            new UpsertAgentGroupRequest { GroupId = "team-c", DisplayName = "C", ReplaceMembers = true, MemberIds = { ids[0], "nobody-here" } }, A.AdminHeaders(account)));
        Assert.Equal("UNKNOWN_AGENT", Errors.Info(stranger).Reason);
        var taken = await Refused(async () => await A.AdminClient.UpsertAgentGroupAsync(
            new UpsertAgentGroupRequest { GroupId = "team-c", DisplayName = "TEAM TEAM-A" }, A.AdminHeaders(account)));
        Assert.Equal(StatusCode.AlreadyExists, taken.StatusCode);

        // The limit cannot go below the reservations; the refused changes left nothing behind.
        var subscription = (await A.SubscriptionClient.GetSubscriptionAsync(new GetSubscriptionRequest { AccountId = account, Product = Product }, A.ServiceHeaders())).Subscription;
        subscription.ConcurrentSeatLimit = 3;
        var lower = await Refused(async () => await A.SubscriptionClient.UpsertSubscriptionAsync(new UpsertSubscriptionRequest { Subscription = subscription }, A.ServiceHeaders()));
        Assert.Equal("LIMIT_BELOW_USAGE", Errors.Info(lower).Reason);
        var groups = (await A.AdminClient.ListAgentGroupsAsync(new ListAgentGroupsRequest(), A.AdminHeaders(account))).Groups;
        Assert.Equal(["team-a", "team-b"], groups.Select(g => g.GroupId));
        Assert.Equal(4, Assert.Single(groups[0].Rules).ReservedSeats);
        Assert.Empty(groups[1].Rules);
        var teamA = Assert.Single((await A.AdminClient.ListAgentGroupsAsync(new ListAgentGroupsRequest { GroupId = "team-a" }, A.AdminHeaders(account))).Groups);
        Assert.Equal(ids, teamA.MemberIds);

        // Deleting a group takes its rule with it.
        Assert.True((await A.AdminClient.DeleteAgentGroupAsync(new DeleteAgentGroupRequest { GroupId = "team-a" }, A.AdminHeaders(account))).Deleted);
        await RuleAsync(account, "team-b", reserved: 5, max: 5);
    }

    /// <summary>An account with team-a, team-b and others (perClass agents each, ids prefixed), and the two teams' rules.</summary>
    private async Task<(string Account, IReadOnlyList<string> TeamA, IReadOnlyList<string> TeamB, IReadOnlyList<string> Others)> TeamsAsync(
        int seats, int perClass, string prefix, (int Reserved, int? Max) ruleA, (int Reserved, int? Max) ruleB)
    {
        var seeder = new CatalogSeeder(Database);
        var account = await seeder.AccountAsync(concurrentSeats: seats);
        var teamA = await seeder.AgentsAsync(account, perClass, "CONCURRENT", prefix: prefix + "a");
        var teamB = await seeder.AgentsAsync(account, perClass, "CONCURRENT", prefix: prefix + "b");
        var others = await seeder.AgentsAsync(account, perClass, "CONCURRENT", prefix: prefix + "n");
        await GroupAsync(account, "team-a", teamA);
        await GroupAsync(account, "team-b", teamB);
        await RuleAsync(account, "team-a", ruleA.Reserved, ruleA.Max);
        await RuleAsync(account, "team-b", ruleB.Reserved, ruleB.Max);
        return (account, teamA, teamB, others);
    }

    private Task GroupAsync(string account, string groupId, IReadOnlyList<string> members) => A.SetGroupAsync(account, groupId, members);

    private Task RuleAsync(string account, string groupId, int reserved, int? max) => A.SetGroupRuleAsync(account, groupId, reserved, max);

    /// <summary>The one waiter granted a seat since the last call; the others must still be waiting.</summary>
    private static async Task<string> NextGrantedAsync(List<WaitStream> waits)
    {
        var first = await Task.WhenAny(waits.Select(w => w.Granted.Task)).WaitAsync(TimeSpan.FromSeconds(10));
        var granted = waits.Where(w => w.Granted.Task.IsCompleted).Select(w => w.Agent).ToList();
        Assert.True(granted.Count == 1, $"granted together: {string.Join(", ", granted)}");
        waits.RemoveAll(w => w.Agent == granted[0]);
        return granted[0];
    }
}
