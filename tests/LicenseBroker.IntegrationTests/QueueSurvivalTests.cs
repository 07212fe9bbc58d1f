using Grpc.Core;
using LicenseBroker.Cli;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Issue 33: the queue outlives what fails around it. A replica killed mid-queue loses no waiter (its apps re-join
/// through another and find their places), and after Redis lost everything (FLUSHALL) the waiting apps come back in
/// their order on their signed tickets, while no newcomer gets a seat ahead of them.
/// </summary>
[Collection(MeasuredAlone.Name)]
public sealed class QueueSurvivalTests
{
    private const string Product = "remote-support";

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Killing_a_replica_mid_queue_loses_no_waiter_and_keeps_the_order(bool graceful)
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var survivor = await BrokerTestHost.StartAsync(database, new Dictionary<string, string?>
        {
            ["Seats:WaiterRefresh"] = "00:00:00.500", ["Seats:WaiterTimeout"] = "00:00:10",
        });
        await using var doomed = await BrokerProcess.StartAsync(database, new Dictionary<string, string>
        {
            ["Redis__KeyPrefix"] = survivor.Services.GetRequiredRedisPrefix(),
            ["Auth__SigningKeys__0"] = survivor.SigningKey,
            ["Seats__WaiterRefresh"] = "00:00:00.500",
            ["Seats__WaiterTimeout"] = "00:00:10",
        });
        var account = await survivor.Seeder().AccountAsync(concurrentSeats: 1);
        var holder = (await survivor.Seeder().AgentsAsync(account, 1, "CONCURRENT", prefix: "holder"))[0];
        var waiters = await survivor.Seeder().AgentsAsync(account, 20, "CONCURRENT", prefix: "waiter");
        var seat = (await survivor.Agent(account, holder).AcquireAsync(Product)).Lease;
        AgentClient OnDoomed(string agent) => new(doomed.Channel, DevTokens.Mint(survivor.SigningKey, account, agent, TimeSpan.FromHours(1)));

        // Twenty waiters, every other one through the replica about to die.
        var streams = new Dictionary<string, QueueStream>();
        for (var i = 0; i < waiters.Count; i++)
        {
            streams[waiters[i]] = await QueueStream.JoinAsync(i % 2 == 0 ? survivor.Agent(account, waiters[i]) : OnDoomed(waiters[i]), waiters[i]);
            Assert.Equal(i + 1, streams[waiters[i]].Last!.Position);
        }

        // The replica dies (no goodbye), or stops as in a rolling deploy (its waits end with UNAVAILABLE, REPLICA_STOPPING);
        // its apps' streams break and they re-join through the survivor with their tickets.
        if (graceful)
        {
            await doomed.TerminateAsync();
        }
        else
        {
            await doomed.KillAsync();
        }

        for (var i = 1; i < waiters.Count; i += 2)
        {
            var broken = streams[waiters[i]];
            var (error, _) = await broken.Ended.Task.WaitAsync(TimeSpan.FromSeconds(20));
            Assert.Equal(StatusCode.Unavailable, error.StatusCode);
            if (graceful)
            {
                Assert.Equal("REPLICA_STOPPING", Errors.Info(error).Reason);
            }

            streams[waiters[i]] = await QueueStream.JoinAsync(survivor.Agent(account, waiters[i]), waiters[i], ticket: broken.Ticket);
            Assert.Equal(i + 1, streams[waiters[i]].Last!.Position);
            broken.Dispose();
        }

        var queue = await survivor.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, survivor.AdminHeaders(account));
        Assert.Equal(waiters, queue.Queue.Select(q => q.AgentId));

        // Seats free one at a time: every waiter gets one, in the order they joined.
        var holderId = holder;
        foreach (var waiter in waiters)
        {
            Assert.True(await survivor.Agent(account, holderId).ReleaseAsync(seat));
            var (lease, _) = await streams[waiter].Granted.Task.WaitAsync(TimeSpan.FromSeconds(20));
            Assert.All(streams.Values.Where(s => !s.Granted.Task.IsCompleted), s => Assert.False(s.Ended.Task.IsCompleted, $"{s.Agent}'s wait ended"));
            (seat, holderId) = (lease, waiter);
        }

        foreach (var stream in streams.Values)
        {
            stream.Dispose();
        }
    }

    [Fact]
    public async Task After_a_FLUSHALL_fifty_waiters_come_back_in_their_order_and_no_newcomer_gets_a_seat_ahead_of_them()
    {
        await using var redis = new RedisServerProcess();
        await redis.StartAsync(persistence: false);
        await using var database = await TestDatabase.CreateAsync();
        var settings = new Dictionary<string, string?>
        {
            ["Redis:Configuration"] = redis.Configuration + ",allowAdmin=true",
            ["Seats:LeaseTtl"] = "00:00:03",
            ["Seats:HeartbeatInterval"] = "00:00:01",
            ["Seats:WaiterRefresh"] = "00:00:00.500",
            ["Seats:WaiterTimeout"] = "00:00:10",
            ["Seats:QueueMaxWaiters"] = "100",
        };
        await using var a = await BrokerTestHost.StartAsync(database, settings);
        settings["Redis:KeyPrefix"] = a.Services.GetRequiredRedisPrefix();
        await using var b = await BrokerTestHost.StartAsync(database, settings, signingKey: a.SigningKey);
        const int seats = 5;
        var account = await a.Seeder().AccountAsync(concurrentSeats: seats);
        var holders = await a.Seeder().AgentsAsync(account, seats, "CONCURRENT", prefix: "holder");
        var waiters = await a.Seeder().AgentsAsync(account, 50, "CONCURRENT", prefix: "waiter");
        var newcomer = (await a.Seeder().AgentsAsync(account, 1, "CONCURRENT", prefix: "newcomer"))[0];
        var held = new System.Collections.Concurrent.ConcurrentDictionary<string, Lease>();
        foreach (var holder in holders)
        {
            held[holder] = (await a.Agent(account, holder).AcquireAsync(Product)).Lease;
        }

        var streams = new Dictionary<string, QueueStream>();
        for (var i = 0; i < waiters.Count; i++)
        {
            streams[waiters[i]] = await QueueStream.JoinAsync((i % 2 == 0 ? a : b).Agent(account, waiters[i]), waiters[i]);
            Assert.Equal(i + 1, streams[waiters[i]].Last!.Position);
        }

        // The holders keep heartbeating (with their proofs: they re-establish their seats), and a newcomer keeps trying to
        // take a seat, from before the loss until the last waiter is served: it must never get one.
        using var stop = new CancellationTokenSource();
        var heartbeats = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                foreach (var holder in held.Keys.ToList())
                {
                    if (!held.TryGetValue(holder, out var lease))
                    {
                        continue;
                    }

                    try
                    {
                        held.TryUpdate(holder, await b.Agent(account, holder).HeartbeatAsync(lease), lease);
                    }
                    catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable || !held.ContainsKey(holder))
                    {
                        // The pool is catching up (the next beat re-establishes the seat), or the holder just left.
                    }
                }

                await Task.Delay(TimeSpan.FromMilliseconds(300), CancellationToken.None);
            }
        });
        var newcomerGrants = 0;
        var newcomerTries = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await a.Agent(account, newcomer).AcquireAsync(Product);
                    Interlocked.Increment(ref newcomerGrants);
                    return;
                }
                catch (RpcException ex) when (ex.StatusCode is StatusCode.ResourceExhausted or StatusCode.Unavailable)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(20), CancellationToken.None);
                }
            }
        });

        using (var admin = await ConnectionMultiplexer.ConnectAsync(redis.Configuration + ",allowAdmin=true"))
        {
            await admin.GetServers()[0].FlushAllDatabasesAsync();
        }

        // Within the recovery window every waiter is back, in its place.
        await Eventually.Until(
            async () =>
            {
                var sessions = await a.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, a.AdminHeaders(account));
                return sessions.Queue.Select(q => q.AgentId).SequenceEqual(waiters) && sessions.SeatsInUse == seats ? "back" : null;
            },
            TimeSpan.FromSeconds(20),
            "the fifty waiters back in their order and the holders' seats re-established");

        // Seats free one at a time (a holder leaves): the waiters are served in their order; each leaves at once.
        var leaving = holders[0];
        Assert.True(held.TryRemove(leaving, out var seat));
        foreach (var waiter in waiters)
        {
            Assert.True(await a.Agent(account, leaving).ReleaseAsync(seat));
            var (lease, _) = await streams[waiter].Granted.Task.WaitAsync(TimeSpan.FromSeconds(20));
            (seat, leaving) = (lease, waiter);
        }

        await stop.CancelAsync();
        await heartbeats;
        await newcomerTries;
        Assert.Equal(0, newcomerGrants);
        Assert.All(streams.Values, s => Assert.False(s.Ended.Task.IsCompleted, $"{s.Agent}'s wait ended"));
        foreach (var stream in streams.Values)
        {
            stream.Dispose();
        }
    }
}
