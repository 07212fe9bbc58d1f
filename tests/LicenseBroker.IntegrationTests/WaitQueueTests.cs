using System.Diagnostics;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.Domain.Seats;
using LicenseBroker.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Lease = LicenseBroker.Contracts.V1.Lease;
using Platform = LicenseBroker.Contracts.V1.Platform;
using SeatType = LicenseBroker.Contracts.V1.SeatType;
using SessionKind = LicenseBroker.Contracts.V1.SessionKind;

namespace LicenseBroker.IntegrationTests;

/// <summary>The fair wait queue (WaitForSeat) and revocation push (WatchLease), over two replicas.</summary>
public sealed class WaitQueueTests : ReplicaPair
{
    private const string Product = "remote-support";
    protected override Dictionary<string, string?> Settings => new()
    {
        ["Seats:WaiterRefresh"] = "00:00:00.500",
        ["Seats:WaiterTimeout"] = "00:00:02",
    };

    [Fact]
    public async Task Twenty_waiters_are_granted_strictly_in_join_order_with_exact_positions_across_replicas()
    {
        var seeder = new CatalogSeeder(Database);
        var account = await seeder.AccountAsync(concurrentSeats: 10);
        var holders = await seeder.AgentsAsync(account, 10, "CONCURRENT", prefix: "holder");
        var waiters = await seeder.AgentsAsync(account, 20, "CONCURRENT", prefix: "waiter");
        var newcomer = (await seeder.AgentsAsync(account, 1, "CONCURRENT", prefix: "newcomer"))[0];
        var leases = new List<Lease>();
        foreach (var id in holders)
        {
            leases.Add((await A.Agent(account, id).AcquireAsync(Product)).Lease);
        }

        // Join one by one, alternating replicas; each stream's first message is its place.
        var streams = new List<Waiting>();
        for (var i = 0; i < waiters.Count; i++)
        {
            var waiting = await Waiting.JoinAsync(i % 2 == 0 ? A : B, account, waiters[i]);
            Assert.Equal(i + 1, waiting.LastPosition);
            streams.Add(waiting);
        }

        // The admin center shows who waits, in order, and since when.
        var sessions = await B.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, B.AdminHeaders(account));
        Assert.Equal(20, sessions.AgentsWaiting);
        Assert.Equal(waiters, sessions.Queue.Select(q => q.AgentId));
        Assert.Equal(Enumerable.Range(1, 20), sessions.Queue.Select(q => q.Position));
        Assert.All(sessions.Queue, q => Assert.True(q.WaitingSince.ToDateTimeOffset() <= DateTimeOffset.UtcNow.AddSeconds(1)));
        var usage = await A.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, A.AdminHeaders(account));
        Assert.Equal(20, Assert.Single(usage.Products).AgentsWaiting);

        // A newcomer does not jump the queue, and is told how many wait.
        var refused = await Assert.ThrowsAsync<RpcException>(() => B.Agent(account, newcomer).AcquireAsync(Product));
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Equal("20", Errors.Info(refused).Metadata["waiting"]);

        // Release the holders one by one, always through replica A: waiter k is granted k-th, and
        // every remaining waiter's position moves up by exactly one. Never more holders than seats.
        var poolKeys = A.Services.GetRequiredService<LicenseBroker.Storage.Redis.RedisKeys>().Pool(new PoolId(account, Product));
        var redis = A.Services.GetRequiredService<StackExchange.Redis.IConnectionMultiplexer>().GetDatabase();
        for (var k = 0; k < 10; k++)
        {
            Assert.True(await SharedSeatsInUse.ReadAsync(redis, poolKeys) <= 10);
            Assert.True(await A.Agent(account, holders[k]).ReleaseAsync(leases[k]));
            var lease = await streams[k].GrantedAsync();
            Assert.Equal(SeatType.Concurrent, lease.SeatType);
            for (var j = k + 1; j < streams.Count; j++)
            {
                await streams[j].PositionAsync(j - k);
            }

            Assert.Equal(10, await SharedSeatsInUse.ReadAsync(redis, poolKeys));
        }

        // Waiters 11-20 still wait at positions 1-10; the granted ones hold real leases.
        Assert.Equal(1, streams[10].LastPosition);
        var heartbeat = await B.Agent(account, waiters[0]).HeartbeatAsync(await streams[0].GrantedAsync());
        Assert.True(heartbeat.ExpiresAt.ToDateTimeOffset() > DateTimeOffset.UtcNow.AddSeconds(60));
        foreach (var stream in streams)
        {
            stream.Dispose();
        }
    }

    [Fact]
    public async Task Cancelling_leaves_the_queue_and_a_dead_replicas_waiters_are_dropped()
    {
        var seeder = new CatalogSeeder(Database);
        var account = await seeder.AccountAsync(concurrentSeats: 1);
        var ids = await seeder.AgentsAsync(account, 4, "CONCURRENT");
        var lease = (await A.Agent(account, ids[0]).AcquireAsync(Product)).Lease;

        var first = await Waiting.JoinAsync(A, account, ids[1]);
        var second = await Waiting.JoinAsync(B, account, ids[2]);
        Assert.Equal(2, second.LastPosition);

        // Cancel the first waiter: the second moves to position 1 at once.
        first.Dispose();
        await second.PositionAsync(1);

        // A waiter whose replica died: joined directly in the store, never refreshed.
        var store = B.Services.GetRequiredService<IQueueStore>();
        var pool = new PoolId(account, Product);
        var ghost = await store.JoinAsync(
            new QueueJoin(pool, ids[3], "ghost", SeatBroker.NewLeaseId(), Domain.Seats.SeatType.Concurrent, 1, new DeviceInfo("d", Domain.Seats.Platform.Linux), Domain.Seats.SessionKind.Pending),
            CancellationToken.None);
        Assert.Equal(2, Assert.IsType<QueueState.Queued>(ghost).Position);
        await second.WaitingAsync(2);
        await second.WaitingAsync(1);
        Assert.IsType<QueueState.Gone>(await store.QueueStatusAsync(pool, ids[3], CancellationToken.None));

        // The live waiter still gets the seat when it frees.
        await A.Agent(account, ids[0]).ReleaseAsync(lease);
        Assert.Equal(SeatType.Concurrent, (await second.GrantedAsync()).SeatType);
        second.Dispose();
    }

    [Fact]
    public async Task Force_release_reaches_the_evicted_agents_watch_stream_at_once_not_at_its_next_heartbeat()
    {
        var seeder = new CatalogSeeder(Database);
        var account = await seeder.AccountAsync(concurrentSeats: 2);
        var agent = (await seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];
        var lease = (await B.Agent(account, agent).AcquireAsync(Product)).Lease;

        var client = B.Agent(account, agent);
        using var watch = client.Raw.WatchLease(new WatchLeaseRequest { Product = Product, LeaseId = lease.LeaseId }, client.Headers);
        Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(LeaseStatus.Active, watch.ResponseStream.Current.Status);

        var clock = Stopwatch.StartNew();
        await A.AdminClient.ForceReleaseAsync(new ForceReleaseRequest { Product = Product, LeaseIds = { lease.LeaseId } }, A.AdminHeaders(account, "boss"));
        Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None));
        var elapsed = clock.Elapsed;
        Assert.Equal(LeaseStatus.Revoked, watch.ResponseStream.Current.Status);
        Assert.Equal("boss", watch.ResponseStream.Current.RevokedBy);
        // Pushed, not found at the next heartbeat (30 s apart): 5 s tells the two apart without timing a loaded machine.
        Assert.True(elapsed < TimeSpan.FromSeconds(5), $"took {elapsed}");
        Assert.False(await watch.ResponseStream.MoveNext(CancellationToken.None));
    }

    [Fact]
    public async Task Named_seat_holders_never_queue()
    {
        var seeder = new CatalogSeeder(Database);
        var account = await seeder.AccountAsync(concurrentSeats: 1, namedSeats: 1);
        var shared = (await seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];
        var named = (await seeder.AgentsAsync(account, 1, "NAMED", prefix: "named"))[0];
        await A.Agent(account, shared).AcquireAsync(Product);

        using var waiting = await Waiting.JoinAsync(A, account, named);
        Assert.Equal(SeatType.Named, (await waiting.GrantedAsync()).SeatType);
    }

    /// <summary>One WaitForSeat stream, read in the background.</summary>
    private sealed class Waiting : IDisposable
    {
        private readonly AsyncServerStreamingCall<WaitForSeatResponse> _call;
        private readonly CancellationTokenSource _cancel = new();
        private readonly List<WaitForSeatResponse> _updates = [];
        private readonly TaskCompletionSource<Lease> _granted = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly SemaphoreSlim _changed = new(0);

        private Waiting(AsyncServerStreamingCall<WaitForSeatResponse> call)
        {
            _call = call;
            _ = Task.Run(ReadAsync);
        }

        public int LastPosition
        {
            get
            {
                lock (_updates)
                {
                    return _updates.LastOrDefault(u => u.UpdateCase == WaitForSeatResponse.UpdateOneofCase.Position)?.Position.Position ?? -1;
                }
            }
        }

        public int LastWaiting
        {
            get
            {
                lock (_updates)
                {
                    return _updates.LastOrDefault(u => u.UpdateCase == WaitForSeatResponse.UpdateOneofCase.Position)?.Position.Waiting ?? -1;
                }
            }
        }

        public async Task WaitingAsync(int expected) => await Eventually.Until(
            async () =>
            {
                await Task.Yield();
                return LastWaiting == expected ? "there" : null;
            },
            TimeSpan.FromSeconds(10),
            $"{expected} waiting (last {LastWaiting})");

        public static async Task<Waiting> JoinAsync(BrokerTestHost host, string account, string agentId)
        {
            var client = host.Agent(account, agentId);
            var waiting = new Waiting(client.Raw.WaitForSeat(
                new WaitForSeatRequest { Product = Product, SessionId = "w-" + agentId, Device = new Device { Id = "d", Platform = Platform.Windows }, SessionKind = SessionKind.Pending },
                client.Headers));
            await Eventually.Until(
                async () =>
                {
                    await Task.Yield();
                    lock (waiting._updates)
                    {
                        return waiting._updates.Count > 0 ? "joined" : null;
                    }
                },
                TimeSpan.FromSeconds(10),
                "the first update of the wait");
            return waiting;
        }

        public async Task<Lease> GrantedAsync() => await _granted.Task.WaitAsync(TimeSpan.FromSeconds(10));

        public async Task PositionAsync(int expected) => await Eventually.Until(
            async () =>
            {
                await Task.Yield();
                return LastPosition == expected ? "there" : null;
            },
            TimeSpan.FromSeconds(10),
            $"position {expected} (last {LastPosition})");

        public void Dispose()
        {
            _cancel.Cancel();
            _call.Dispose();
        }

        private async Task ReadAsync()
        {
            try
            {
                while (await _call.ResponseStream.MoveNext(_cancel.Token))
                {
                    var update = _call.ResponseStream.Current;
                    lock (_updates)
                    {
                        _updates.Add(update);
                    }

                    if (update.UpdateCase == WaitForSeatResponse.UpdateOneofCase.Granted)
                    {
                        _granted.TrySetResult(update.Granted);
                    }
                }
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled)
            {
            }
            catch (Exception ex)
            {
                _granted.TrySetException(ex);
            }
        }
    }
}
