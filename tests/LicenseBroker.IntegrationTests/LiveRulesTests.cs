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
/// Issue 25, items 1–3: what an admin changes is what the pool does, at once. Each change is made on
/// one replica while the pool is full and agents wait on the others; the waiters the new rule admits
/// get their seats within a second with nobody else calling, and waiters the change withdraws stop
/// waiting with the reason. Three replicas, two with skewed clocks, as in GroupSeatTests.
/// </summary>
public sealed class LiveRulesTests : IAsyncLifetime
{
    private const string Product = "remote-support";
    private static readonly TimeSpan AtOnce = TimeSpan.FromSeconds(1);
    private SkewedReplicas? _cluster;

    private IReadOnlyList<BrokerTestHost> Replicas => _cluster!.Replicas;

    private TestDatabase Database => _cluster!.Database;

    public async Task InitializeAsync()
    {
        // A long refresh: a waiter learns of its seat from the change itself, not from its own keep-alive.
        _cluster = await SkewedReplicas.StartAsync(new Dictionary<string, string?> { ["Seats:WaiterRefresh"] = "00:00:20", ["Seats:WaiterTimeout"] = "00:01:00" });
    }

    public async Task DisposeAsync() => await _cluster!.DisposeAsync();

    private BrokerTestHost A => Replicas[0];

    [Fact]
    public async Task A_raised_reservation_is_used_for_the_next_freed_seat()
    {
        // Pool of 4, res reserves 1: o1, o2, o3 and r1 hold; o4 waits, then r2 waits.
        var (account, members, others) = await AccountAsync(4, "res", 2, 4, (1, null));
        var leases = await HoldAsync(account, others[0], others[1], others[2], members[0]);
        using var o4 = await WaitStream.JoinAsync(Replicas[1].Agent(account, others[3]), others[3]);
        using var r2 = await WaitStream.JoinAsync(Replicas[2].Agent(account, members[1]), members[1]);

        await RuleAsync(account, "res", 2, null);
        Assert.True(await Replicas[1].Agent(account, others[0]).ReleaseAsync(leases[others[0]]));

        await r2.Granted.Task.WaitAsync(AtOnce);
        Assert.False(o4.Granted.Task.IsCompleted, "the outsider took the seat the raised reservation keeps for members");
    }

    [Fact]
    public async Task A_raised_limit_admits_the_waiters_at_once_with_nobody_else_calling()
    {
        var (account, _, others) = await AccountAsync(2, "g", 0, 4, (0, null));
        await HoldAsync(account, others[0], others[1]);
        using var w1 = await WaitStream.JoinAsync(Replicas[1].Agent(account, others[2]), others[2]);
        using var w2 = await WaitStream.JoinAsync(Replicas[2].Agent(account, others[3]), others[3]);

        await SetLimitAsync(account, 4);

        await Task.WhenAll(w1.Granted.Task, w2.Granted.Task).WaitAsync(AtOnce);
    }

    [Fact]
    public async Task A_removed_or_lowered_reservation_gives_its_free_seats_to_the_waiters_at_once()
    {
        // Pool of 3, night-shift reserves 2 (its members are away): o1 holds the one unreserved seat, o2 and o3 wait.
        var (account, _, others) = await AccountAsync(3, "night-shift", 2, 3, (2, 4));
        await HoldAsync(account, others[0]);
        using var o2 = await WaitStream.JoinAsync(Replicas[1].Agent(account, others[1]), others[1]);
        using var o3 = await WaitStream.JoinAsync(Replicas[2].Agent(account, others[2]), others[2]);

        await RuleAsync(account, "night-shift", 1, 4);
        await o2.Granted.Task.WaitAsync(AtOnce);
        Assert.False(o3.Granted.Task.IsCompleted, "one reserved seat is still kept");

        Assert.True((await A.AdminClient.RemoveGroupSeatRuleAsync(new RemoveGroupSeatRuleRequest { Product = Product, GroupId = "night-shift" }, A.AdminHeaders(account))).Removed);
        await o3.Granted.Task.WaitAsync(AtOnce);
    }

    [Fact]
    public async Task A_cap_raised_admits_waiting_members_and_a_cap_lowered_admits_none_until_under_it()
    {
        var (account, members, _) = await AccountAsync(6, "cap", 4, 1, (0, 1));
        await HoldAsync(account, members[0]);
        using var m2 = await WaitStream.JoinAsync(Replicas[1].Agent(account, members[1]), members[1]);

        await RuleAsync(account, "cap", 0, 3);
        await m2.Granted.Task.WaitAsync(AtOnce);

        // Lowered to 1 with two holding: both keep their seats, a third member is refused with the true reason.
        await RuleAsync(account, "cap", 0, 1);
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await Replicas[2].Agent(account, members[2]).AcquireAsync(Product));
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Equal(2, (await GroupUsageAsync(account, "cap")).Holding);
    }

    [Fact]
    public async Task A_deleted_group_stops_counting_its_holders_and_a_new_group_of_that_name_counts_only_its_members()
    {
        var (account, members, _) = await AccountAsync(6, "del", 4, 0, (2, 2));
        var leases = await HoldAsync(account, members[0], members[1]);

        Assert.True((await A.AdminClient.DeleteAgentGroupAsync(new DeleteAgentGroupRequest { GroupId = "del" }, A.AdminHeaders(account))).Deleted);
        var sessions = (await A.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, A.AdminHeaders(account))).Sessions;
        Assert.All(sessions, s => Assert.Equal(string.Empty, s.GroupId));
        Assert.Equal(2, sessions.Count);

        // Re-created as del with d3, d4 and a cap of 2: both get seats; d1 and d2 (no longer members) keep theirs.
        await GroupAsync(account, "del", [members[2], members[3]]);
        await RuleAsync(account, "del", 0, 2);
        await Replicas[1].Agent(account, members[2]).AcquireAsync(Product);
        await Replicas[2].Agent(account, members[3]).AcquireAsync(Product);
        Assert.Equal(2, (await GroupUsageAsync(account, "del")).Holding);
        await Replicas[1].Agent(account, members[0]).HeartbeatAsync(leases[members[0]]);
    }

    [Fact]
    public async Task A_member_removed_from_a_capped_group_frees_its_place_for_a_waiting_member_at_once()
    {
        var (account, members, _) = await AccountAsync(6, "cap", 3, 0, (0, 1));
        await HoldAsync(account, members[0]);
        using var m2 = await WaitStream.JoinAsync(Replicas[1].Agent(account, members[1]), members[1]);

        await GroupAsync(account, "cap", [members[1], members[2]]);

        await m2.Granted.Task.WaitAsync(AtOnce);
        Assert.Equal(1, (await GroupUsageAsync(account, "cap")).Holding);
    }

    [Fact]
    public async Task A_member_switched_from_a_named_to_a_shared_seat_takes_a_reserved_seat()
    {
        // The README's night-shift: three shared seats, two reserved for the group; bob switches from named to shared.
        var (account, members, others) = await AccountAsync(3, "night-shift", 2, 1, (2, 4));
        await A.AdminClient.AssignSeatAsync(new AssignSeatRequest { AgentId = members[1], Product = Product, SeatType = SeatType.Named }, A.AdminHeaders(account));
        await HoldAsync(account, others[0]);
        await Replicas[1].Agent(account, members[1]).AcquireAsync(Product);

        await A.AdminClient.AssignSeatAsync(new AssignSeatRequest { AgentId = members[1], Product = Product, SeatType = SeatType.Concurrent }, A.AdminHeaders(account));
        var lease = (await Replicas[2].Agent(account, members[1]).AcquireAsync(Product)).Lease;
        Assert.Equal(SeatType.Concurrent, lease.SeatType);
        Assert.Equal(1, (await GroupUsageAsync(account, "night-shift")).OnReservedSeats);
    }

    [Fact]
    public async Task Waiters_removed_unassigned_or_switched_to_named_stop_waiting_at_once_and_the_others_move_up()
    {
        var (account, _, others) = await AccountAsync(1, "g", 0, 6, (0, null));
        var leases = await HoldAsync(account, others[0]);
        var waiters = new List<WaitStream>();
        for (var i = 1; i <= 4; i++)
        {
            waiters.Add(await WaitStream.JoinAsync(Replicas[i % 3].Agent(account, others[i]), others[i]));
        }

        var admin = A.AdminHeaders(account);
        await A.AdminClient.RemoveAgentAsync(new RemoveAgentRequest { AgentId = others[1] }, admin);
        await A.AdminClient.UnassignSeatAsync(new UnassignSeatRequest { AgentId = others[2], Product = Product }, admin);
        await A.AdminClient.AssignSeatAsync(new AssignSeatRequest { AgentId = others[3], Product = Product, SeatType = SeatType.Named }, admin);

        foreach (var ended in waiters.Take(3))
        {
            var error = await ended.Ended.Task.WaitAsync(AtOnce);
            Assert.Equal("SEAT_WITHDRAWN", Errors.Info(error).Reason);
        }

        Assert.Equal(1, (await A.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, admin)).Products.Single().AgentsWaiting);
        await Eventually.Until(async () => waiters[3].LastPosition == 1 ? "" : null, AtOnce, "w4 to move up to position 1");

        Assert.True(await Replicas[1].Agent(account, others[0]).ReleaseAsync(leases[others[0]]));
        await waiters[3].Granted.Task.WaitAsync(AtOnce);
        waiters.ForEach(w => w.Dispose());
    }

    [Fact]
    public async Task Under_a_storm_of_rule_changes_no_grant_ever_breaks_the_rules_in_force()
    {
        const int agentsPerClass = 50;
        var (account, members, others) = await AccountAsync(10, "storm", agentsPerClass, 3 * agentsPerClass, (2, 5));
        var everyone = members.Concat(others).ToArray();
        var clients = everyone.Select((id, i) => Replicas[i % 3].Agent(account, id)).ToArray();
        var keys = A.Services.GetRequiredService<RedisKeys>().Pool(new PoolId(account, Product));
        var redis = A.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        var held = new ConcurrentDictionary<int, Lease>();
        var violations = new ConcurrentQueue<string>();

        // The third replica never hears that a change was made (as if the announcement were lost): it
        // must still admit by the rules in force, which the pool itself tells it are newer than its copy.
        var deaf = Replicas[2].Services;
        await deaf.GetRequiredService<IConnectionMultiplexer>().GetSubscriber().UnsubscribeAsync(deaf.GetRequiredService<RedisKeys>().CatalogInvalidationChannel);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        // The rules in force, as the admin knows them: a change is in force once its call returns; while it runs,
        // the old and the new rule both are. Each sample checks against the loosest rule in force since the last.
        var gate = new object();
        (int Limit, int Cap) inForce = (10, 5), loosest = (10, 5), next = (10, 5);
        void Changing((int Limit, int Cap) rule)
        {
            lock (gate)
            {
                next = rule;
                inForce = (Math.Max(inForce.Limit, rule.Limit), Math.Max(inForce.Cap, rule.Cap));
                loosest = (Math.Max(loosest.Limit, inForce.Limit), Math.Max(loosest.Cap, inForce.Cap));
            }
        }

        (int Limit, int Cap) Changed()
        {
            lock (gate)
            {
                inForce = next;
                return inForce;
            }
        }

        // Redis's own state, read atomically: seats in use, the group's holders, and how many changes were
        // applied (a membership change moves holders into the group's count: that is not a grant).
        var samples = 0;
        var sampler = Task.Run(async () =>
        {
            (int Total, int Group, string Applied)? last = null;
            while (!stop.IsCancellationRequested)
            {
                (int Limit, int Cap) allowed;
                lock (gate)
                {
                    allowed = loosest;
                }

                var r = (RedisResult[])(await redis.ScriptEvaluateAsync(
                    "return {redis.call('HLEN', KEYS[1]) + tonumber(redis.call('HGET', KEYS[3], 'entry_seats') or '0'), redis.call('HGET', KEYS[2], 'held:storm') or '0', redis.call('HGET', KEYS[3], 'applied') or '0'}",
                    [keys[3], keys[16], keys[10]]))!;
                var now = ((int)r[0], (int)r[1], (string)r[2]!);
                lock (gate)
                {
                    allowed = (Math.Max(allowed.Limit, loosest.Limit), Math.Max(allowed.Cap, loosest.Cap));
                    loosest = inForce;
                }

                if (last is { } before)
                {
                    if (now.Item1 > before.Total && now.Item1 > allowed.Limit)
                    {
                        violations.Enqueue($"in use {before.Total} -> {now.Item1} with the limit at {allowed.Limit}");
                    }

                    if (now.Item3 == before.Applied && now.Item2 > before.Group && now.Item2 > allowed.Cap)
                    {
                        violations.Enqueue($"group {before.Group} -> {now.Item2} with its cap at {allowed.Cap}");
                    }
                }

                last = now;
                samples++;
            }
        });

        // Four callers, each with its own agents: acquire when not holding, release when holding.
        var agentLoops = Enumerable.Range(0, 4).Select(k => Task.Run(async () =>
        {
            var random = new Random(25 + k);
            var mine = Enumerable.Range(0, everyone.Length).Where(i => i % 4 == k).ToArray();
            while (!stop.IsCancellationRequested)
            {
                var i = mine[random.Next(mine.Length)];
                try
                {
                    if (held.TryRemove(i, out var lease))
                    {
                        await clients[i].ReleaseAsync(lease);
                    }
                    else
                    {
                        held[i] = (await clients[i].AcquireAsync(Product)).Lease;
                    }
                }
                catch (RpcException ex) when (ex.StatusCode is StatusCode.ResourceExhausted or StatusCode.NotFound)
                {
                }
            }
        })).ToList();

        // The admin: one rule, limit or membership change every 200 ms, each answered OK.
        var changes = 0;
        var adminRandom = new Random(7);
        while (!stop.IsCancellationRequested)
        {
            var current = Changed();
            switch (changes % 3)
            {
                case 0:
                    var cap = adminRandom.Next(3, 7);
                    Changing((current.Limit, cap));
                    await RuleAsync(account, "storm", adminRandom.Next(0, 3), cap);
                    break;
                case 1:
                    var limit = adminRandom.Next(6, 12);
                    Changing((limit, current.Cap));
                    await SetLimitAsync(account, limit);
                    break;
                default:
                    await GroupAsync(account, "storm", members.OrderBy(_ => adminRandom.Next()).Take(agentsPerClass - 5).ToList());
                    break;
            }

            Changed();

            changes++;
            await Task.Delay(200, CancellationToken.None);
        }

        await Task.WhenAll(agentLoops);
        await sampler;
        Assert.True(changes > 100, $"{changes} changes");
        Assert.True(samples > 1000, $"{samples} samples");
        Assert.True(violations.IsEmpty, $"{violations.Count} violations in {samples} samples: {string.Join("; ", violations.Take(5))}");
    }

    private async Task<(string Account, IReadOnlyList<string> Members, IReadOnlyList<string> Others)> AccountAsync(
        int seats, string group, int memberCount, int otherCount, (int Reserved, int? Max) rule)
    {
        var seeder = new CatalogSeeder(Database);
        var account = await seeder.AccountAsync(concurrentSeats: seats);
        var members = memberCount == 0 ? [] : await seeder.AgentsAsync(account, memberCount, "CONCURRENT", prefix: "m");
        var others = otherCount == 0 ? [] : await seeder.AgentsAsync(account, otherCount, "CONCURRENT", prefix: "o");
        await GroupAsync(account, group, members);
        if (rule.Reserved > 0 || rule.Max is not null)
        {
            await RuleAsync(account, group, rule.Reserved, rule.Max);
        }

        return (account, members, others);
    }

    private async Task<Dictionary<string, Lease>> HoldAsync(string account, params string[] agents)
    {
        var leases = new Dictionary<string, Lease>();
        for (var i = 0; i < agents.Length; i++)
        {
            leases[agents[i]] = (await Replicas[i % 3].Agent(account, agents[i]).AcquireAsync(Product)).Lease;
        }

        return leases;
    }

    private Task GroupAsync(string account, string groupId, IReadOnlyList<string> members) => A.SetGroupAsync(account, groupId, members);

    private Task RuleAsync(string account, string groupId, int reserved, int? max) => A.SetGroupRuleAsync(account, groupId, reserved, max);

    private async Task SetLimitAsync(string account, int limit)
    {
        var subscription = (await A.SubscriptionClient.GetSubscriptionAsync(new GetSubscriptionRequest { AccountId = account, Product = Product }, A.ServiceHeaders())).Subscription;
        subscription.ConcurrentSeatLimit = limit;
        await A.SubscriptionClient.UpsertSubscriptionAsync(new UpsertSubscriptionRequest { Subscription = subscription }, A.ServiceHeaders());
    }

    private async Task<(int Holding, int OnReservedSeats)> GroupUsageAsync(string account, string group)
    {
        var usage = (await A.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, A.AdminHeaders(account))).Products.Single();
        var sessions = (await A.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, A.AdminHeaders(account))).Sessions;
        _ = usage;
        return (sessions.Count(s => s.GroupId == group), sessions.Count(s => s.GroupId == group && s.OnReservedSeat));
    }
}
