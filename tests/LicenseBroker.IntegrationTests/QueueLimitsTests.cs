using Dapper;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.Domain.Seats;
using LicenseBroker.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit.Abstractions;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Issue 33: the queue's limits and its record, over two replicas: the max wait ends a wait within a second of its
/// deadline, a full queue refuses with the numbers and changes nothing, aging lets nobody starve, and every way a wait
/// ends without a seat is in the audit log and the history.
/// </summary>
public sealed class QueueLimitsTests(ITestOutputHelper output) : ReplicaPair
{
    private const string Product = "remote-support";
    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(5);

    protected override Dictionary<string, string?> Settings => new()
    {
        ["Seats:WaiterRefresh"] = "00:00:00.500",
        ["Seats:WaiterTimeout"] = "00:00:02",
        ["Seats:QueueMaxWait"] = "00:00:05",
        ["Seats:QueueAgeStep"] = "00:00:01",
    };

    [Fact]
    public async Task The_max_wait_ends_a_wait_within_a_second_of_its_deadline_with_QUEUE_TIMEOUT_in_the_agents_language_and_audited()
    {
        var account = await A.Seeder().AccountAsync(concurrentSeats: 1);
        var ids = await A.Seeder().AgentsAsync(account, 2, "CONCURRENT");
        await A.Agent(account, ids[0]).AcquireAsync(Product);
        var client = B.Agent(account, ids[1]);
        var french = new Metadata { { "authorization", client.Headers.GetValue("authorization")! }, { "accept-language", "fr-FR" } };
        using var wait = await QueueStream.JoinAsync(client, ids[1], headers: french);
        var first = wait.Last!;
        Assert.Equal(1, first.Position);
        Assert.Equal(Contracts.V1.QueuePriority.Standard, first.Priority);
        var deadline = first.WaitDeadline.ToDateTimeOffset();
        Assert.InRange(deadline - DateTimeOffset.UtcNow, MaxWait - TimeSpan.FromSeconds(2), MaxWait);

        var (error, at) = await wait.Ended.Task.WaitAsync(MaxWait + TimeSpan.FromSeconds(10));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Equal("QUEUE_TIMEOUT", Errors.Info(error).Reason);
        Assert.Contains("attente maximal", error.GetRpcStatus()!.GetDetail<Google.Rpc.LocalizedMessage>()!.Message, StringComparison.Ordinal);
        Assert.InRange(at - deadline, TimeSpan.FromMilliseconds(-50), TimeSpan.FromSeconds(1));
        output.WriteLine($"QUEUE_TIMEOUT reached the app {(at - deadline).TotalMilliseconds:F0} ms after the deadline");

        // The audit log says it timed out, at its deadline; the queue is empty.
        var timedOut = await AuditedAsync(account, "queue.timed_out", 1);
        Assert.InRange(new DateTimeOffset(timedOut[0], TimeSpan.Zero) - deadline, TimeSpan.FromMilliseconds(-50), TimeSpan.FromMilliseconds(50));
        var sessions = await A.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, A.AdminHeaders(account));
        Assert.Equal(0, sessions.AgentsWaiting);
    }

    [Fact]
    public async Task A_full_queue_refuses_with_QUEUE_FULL_and_its_numbers_and_changes_nothing()
    {
        // One seat: at most max(2 x 1, 20) = 20 waiters.
        var account = await A.Seeder().AccountAsync(concurrentSeats: 1);
        var ids = await A.Seeder().AgentsAsync(account, 22, "CONCURRENT");
        await A.Agent(account, ids[0]).AcquireAsync(Product);
        var streams = new List<QueueStream>();
        for (var i = 1; i <= 20; i++)
        {
            streams.Add(await QueueStream.JoinAsync((i % 2 == 0 ? A : B).Agent(account, ids[i]), ids[i]));
        }

        using var refused = await QueueStream.JoinAsync(B.Agent(account, ids[21]), ids[21]);
        var (error, _) = await refused.Ended.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        var info = Errors.Info(error);
        Assert.Equal("QUEUE_FULL", info.Reason);
        Assert.Equal("20", info.Metadata["waiting"]);
        Assert.Equal("20", info.Metadata["max_waiting"]);
        Assert.Equal("1", info.Metadata["seats_in_use"]);

        var sessions = await A.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, A.AdminHeaders(account));
        Assert.Equal(20, sessions.AgentsWaiting);
        Assert.DoesNotContain(sessions.Queue, q => q.AgentId == ids[21]);
        Assert.Equal(ids.Skip(1).Take(20), sessions.Queue.Select(q => q.AgentId));
        Assert.Equal(0, await CountAsync(account, "queue.joined", ids[21]));
        foreach (var stream in streams)
        {
            stream.Dispose();
        }
    }

    [Fact]
    public async Task Aging_serves_a_background_waiter_before_any_incident_who_joined_three_age_steps_after_it()
    {
        var account = await A.Seeder().AccountAsync(concurrentSeats: 1);
        var holder = (await A.Seeder().AgentsAsync(account, 1, "CONCURRENT", prefix: "holder"))[0];
        var slow = (await A.Seeder().AgentsAsync(account, 1, "CONCURRENT", prefix: "report"))[0];
        var urgent = await A.Seeder().AgentsAsync(account, 16, "CONCURRENT", prefix: "oncall");
        await A.SetGroupAsync(account, "reports", [slow]);
        await A.SetGroupRuleAsync(account, "reports", 0, null, priority: Contracts.V1.QueuePriority.Background);
        await A.SetGroupAsync(account, "on-call", urgent);
        await A.SetGroupRuleAsync(account, "on-call", 0, null, priority: Contracts.V1.QueuePriority.Incident);
        var seat = (await A.Agent(account, holder).AcquireAsync(Product)).Lease;
        var seatHolder = holder;

        using var background = await QueueStream.JoinAsync(B.Agent(account, slow), slow);
        Assert.Equal(Contracts.V1.QueuePriority.Background, background.Last!.Priority);

        // Incidents keep coming, one every 300 ms, and a seat frees every 300 ms: without aging the background waiter
        // would wait for ever.
        var streams = new List<QueueStream>();
        var grantedTo = new List<string>();
        foreach (var agent in urgent)
        {
            streams.Add(await QueueStream.JoinAsync(A.Agent(account, agent), agent));
            await Task.Delay(TimeSpan.FromMilliseconds(300));
            Assert.True(await A.Agent(account, seatHolder).ReleaseAsync(seat));
            var next = await Task.WhenAny(streams.Append(background).Where(s => !grantedTo.Contains(s.Agent)).Select(async s => (s, await s.Granted.Task)));
            var (stream, (lease, _)) = await next.WaitAsync(TimeSpan.FromSeconds(10));
            grantedTo.Add(stream.Agent);
            (seat, seatHolder) = (lease, stream.Agent);
        }

        Assert.Contains(slow, grantedTo);
        var overtook = grantedTo.TakeWhile(a => a != slow).ToList();
        Assert.NotEmpty(overtook);

        // Everyone who went first joined less than three age steps (1 s each) after it: the aging bound.
        await using var connection = new NpgsqlConnection(A.Database.ConnectionString);
        var joins = await Eventually.Until(
            async () =>
            {
                var rows = (await connection.QueryAsync<(string Subject, DateTime At)>(
                    "SELECT subject, occurred_at FROM audit_events WHERE account_id = @account AND action = 'queue.joined'", new { account })).ToDictionary(r => r.Subject, r => r.At);
                return rows.Count == 17 ? rows : null;
            },
            TimeSpan.FromSeconds(30),
            "17 joins stored");
        Assert.All(overtook, a => Assert.True(joins[a] - joins[slow] < TimeSpan.FromSeconds(3), $"{a} joined {joins[a] - joins[slow]} after the background waiter"));
        Assert.Contains(urgent, a => joins[a] - joins[slow] >= TimeSpan.FromSeconds(3) && grantedTo.IndexOf(a) > grantedTo.IndexOf(slow));
        foreach (var stream in streams)
        {
            stream.Dispose();
        }
    }

    [Fact]
    public async Task A_cancelled_wait_and_an_abandoned_one_are_audited_and_counted_in_the_history()
    {
        var account = await A.Seeder().AccountAsync(concurrentSeats: 1);
        var ids = await A.Seeder().AgentsAsync(account, 4, "CONCURRENT");
        await A.Agent(account, ids[0]).AcquireAsync(Product);
        var cancelled = await QueueStream.JoinAsync(A.Agent(account, ids[1]), ids[1]);
        using var watching = await QueueStream.JoinAsync(B.Agent(account, ids[2]), ids[2]);

        // A waiter whose replica died: joined in the store, never refreshed (its app went away without a word).
        var pool = new PoolId(account, Product);
        var ghost = await B.Services.GetRequiredService<IQueueStore>().JoinAsync(
            new QueueJoin(pool, ids[3], "ghost", SeatBroker.NewLeaseId(), Domain.Seats.SeatType.Concurrent, 1, new DeviceInfo("d", Domain.Seats.Platform.Linux),
                Domain.Seats.SessionKind.Pending, Queue: B.Services.GetRequiredService<SeatOptions>().QueueTerms),
            CancellationToken.None);
        Assert.Equal(3, Assert.IsType<QueueState.Queued>(ghost).Position);

        cancelled.Dispose();
        await watching.PositionAsync(1);
        Assert.Single(await AuditedAsync(account, "queue.cancelled", 1));
        Assert.Single(await AuditedAsync(account, "queue.abandoned", 1));
        Assert.Equal(1, await CountAsync(account, "queue.cancelled", ids[1]));
        Assert.Equal(1, await CountAsync(account, "queue.abandoned", ids[3]));

        // The last waiter reaches its max wait: three waits begun, three ended without a seat, in the day's history.
        await watching.Ended.Task.WaitAsync(MaxWait + TimeSpan.FromSeconds(10));
        var today = DateTime.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        await Eventually.Until(
            async () =>
            {
                var day = Assert.Single((await A.AdminClient.GetUsageHistoryAsync(new GetUsageHistoryRequest { Product = Product, From = today, To = today }, A.AdminHeaders(account))).Days);
                return day.QueueJoins == 3 && day.QueueAbandoned == 3 ? "counted" : null;
            },
            TimeSpan.FromSeconds(30),
            "3 waits begun and 3 ended without a seat in today's history");
    }

    [Fact]
    public async Task After_a_loss_of_data_a_ticket_gives_back_only_its_own_agents_place_and_a_malformed_one_is_refused()
    {
        var account = await A.Seeder().AccountAsync(concurrentSeats: 1);
        var ids = await A.Seeder().AgentsAsync(account, 4, "CONCURRENT");
        await A.Agent(account, ids[0]).AcquireAsync(Product);
        string first, second;
        using (var one = await QueueStream.JoinAsync(A.Agent(account, ids[1]), ids[1]))
        using (var two = await QueueStream.JoinAsync(B.Agent(account, ids[2]), ids[2]))
        {
            (first, second) = (one.Ticket, two.Ticket);
            Assert.StartsWith("qt1.", first, StringComparison.Ordinal);
        }

        using var malformed = await QueueStream.JoinAsync(A.Agent(account, ids[3]), ids[3], ticket: first + "!");
        var (refused, _) = await malformed.Ended.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Equal("queue_ticket", Assert.Single(Errors.BadRequest(refused).FieldViolations).Field);

        // Redis loses the pool: while it recovers, a ticket gives back a place to the agent it was given to, and to nobody else.
        await RedisDataLoss.LosePoolAsync(A.Services, new PoolId(account, Product));
        var parts = second.Split('.');
        parts[2] = "1"; // the earliest place there is
        foreach (var (agent, ticket) in new[] { (ids[3], first), (ids[2], string.Join('.', parts)) })
        {
            using var denied = await QueueStream.JoinAsync(B.Agent(account, agent), agent, ticket: ticket);
            var (error, _) = await denied.Ended.Task.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(StatusCode.Unavailable, error.StatusCode);
            Assert.Equal("POOL_RECOVERING", Errors.Info(error).Reason);
        }

        using var restored = await QueueStream.JoinAsync(B.Agent(account, ids[2]), ids[2], ticket: second);
        Assert.Equal(1, restored.Last!.Position);
        Assert.Equal(second.Split('.')[2], restored.Ticket.Split('.')[2]);
    }

    [Fact]
    public async Task A_subscription_sets_its_pools_queue_terms_and_a_bad_one_is_refused_naming_the_field()
    {
        var account = await A.Seeder().AccountAsync(concurrentSeats: 1);
        var ids = await A.Seeder().AgentsAsync(account, 4, "CONCURRENT");
        var subscription = (await A.SubscriptionClient.GetSubscriptionAsync(new GetSubscriptionRequest { AccountId = account, Product = Product }, A.ServiceHeaders())).Subscription;
        Assert.Equal(0, subscription.QueueMaxWaiters);
        foreach (var (field, set) in new (string, Action<Subscription>)[]
        {
            ("subscription.queue_max_waiters", s => s.QueueMaxWaiters = -1),
            ("subscription.queue_max_wait_seconds", s => s.QueueMaxWaitSeconds = 86_401),
            ("subscription.queue_age_step_seconds", s => s.QueueAgeStepSeconds = int.MinValue),
        })
        {
            var bad = subscription.Clone();
            set(bad);
            var refused = await Assert.ThrowsAsync<RpcException>(() => A.SubscriptionClient.UpsertSubscriptionAsync(new UpsertSubscriptionRequest { Subscription = bad }, A.ServiceHeaders()).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
            Assert.Equal(field, Assert.Single(Errors.BadRequest(refused).FieldViolations).Field);
        }

        subscription.QueueMaxWaiters = 2;
        subscription.QueueMaxWaitSeconds = 2;
        var saved = (await A.SubscriptionClient.UpsertSubscriptionAsync(new UpsertSubscriptionRequest { Subscription = subscription }, A.ServiceHeaders())).Subscription;
        Assert.Equal((2, 2, 0), (saved.QueueMaxWaiters, saved.QueueMaxWaitSeconds, saved.QueueAgeStepSeconds));

        // Unset on write keeps what is stored.
        subscription.ClearQueueMaxWaiters();
        subscription.ClearQueueMaxWaitSeconds();
        saved = (await A.SubscriptionClient.UpsertSubscriptionAsync(new UpsertSubscriptionRequest { Subscription = subscription }, A.ServiceHeaders())).Subscription;
        Assert.Equal((2, 2), (saved.QueueMaxWaiters, saved.QueueMaxWaitSeconds));

        await B.Agent(account, ids[0]).AcquireAsync(Product);
        using var first = await QueueStream.JoinAsync(A.Agent(account, ids[1]), ids[1]);
        using var second = await QueueStream.JoinAsync(B.Agent(account, ids[2]), ids[2]);
        Assert.InRange(first.Last!.WaitDeadline.ToDateTimeOffset() - DateTimeOffset.UtcNow, TimeSpan.Zero, TimeSpan.FromSeconds(2));
        using var third = await QueueStream.JoinAsync(A.Agent(account, ids[3]), ids[3]);
        var (full, _) = await third.Ended.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("QUEUE_FULL", Errors.Info(full).Reason);
        Assert.Equal("2", Errors.Info(full).Metadata["max_waiting"]);
        Assert.Equal("QUEUE_TIMEOUT", Errors.Info((await first.Ended.Task.WaitAsync(TimeSpan.FromSeconds(10))).Error).Reason);
    }

    [Fact]
    public async Task A_teams_new_queue_class_moves_its_waiters_at_once_with_nobody_else_calling()
    {
        var account = await A.Seeder().AccountAsync(concurrentSeats: 1);
        var ids = await A.Seeder().AgentsAsync(account, 3, "CONCURRENT");
        await A.Agent(account, ids[0]).AcquireAsync(Product);
        await A.SetGroupAsync(account, "on-call", [ids[2]]);
        using var first = await QueueStream.JoinAsync(A.Agent(account, ids[1]), ids[1]);
        using var second = await QueueStream.JoinAsync(B.Agent(account, ids[2]), ids[2]);
        Assert.Equal(2, second.Last!.Position);

        // The admin makes the team an incident class: its waiter is first in the same call, before any stream refreshes.
        await A.SetGroupRuleAsync(account, "on-call", 0, null, priority: Contracts.V1.QueuePriority.Incident);
        var queue = await A.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, A.AdminHeaders(account));
        Assert.Equal([ids[2], ids[1]], queue.Queue.Select(q => q.AgentId));
        Assert.Equal(Contracts.V1.QueuePriority.Incident, queue.Queue[0].Priority);
    }

    private async Task<List<DateTime>> AuditedAsync(string account, string action, int count) => await Eventually.Until(
        async () =>
        {
            await using var connection = new NpgsqlConnection(A.Database.ConnectionString);
            var rows = (await connection.QueryAsync<DateTime>(
                "SELECT occurred_at FROM audit_events WHERE account_id = @account AND action = @action ORDER BY event_seq", new { account, action })).ToList();
            return rows.Count >= count ? rows : null;
        },
        TimeSpan.FromSeconds(30),
        $"{count} {action} stored");

    private async Task<long> CountAsync(string account, string action, string subject)
    {
        await using var connection = new NpgsqlConnection(A.Database.ConnectionString);
        return await connection.ExecuteScalarAsync<long>(
            "SELECT count(*) FROM audit_events WHERE account_id = @account AND action = @action AND subject = @subject", new { account, action, subject });
    }
}
