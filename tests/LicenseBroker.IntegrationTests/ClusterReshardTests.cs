using System.Collections.Concurrent;
using System.Net;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;
using LicenseBroker.Storage.Redis;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using PoolId = LicenseBroker.Domain.Seats.PoolId;

namespace LicenseBroker.IntegrationTests;

/// <summary>A live pool's hash slot moves to another master under load: no over-admission, no lost lease.</summary>
public sealed class ClusterReshardTests : IClassFixture<ClusterBrokerFixture>
{
    private const string Product = "remote-support";
    private const int Seats = 10;
    private readonly ClusterBrokerFixture _fixture;

    public ClusterReshardTests(ClusterBrokerFixture fixture)
    {
        _fixture = fixture;
    }

    [Fact]
    public async Task Moving_a_live_pools_slot_during_load_keeps_every_lease_and_the_limit()
    {
        var host = _fixture.Host;
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: Seats);
        var ids = await _fixture.Seeder.AgentsAsync(account, 40, "CONCURRENT");
        var agents = ids.Select(id => host.Agent(account, id)).ToArray();
        var held = new ConcurrentDictionary<int, Lease>();
        var believed = 0;
        var maxBelieved = 0;
        var failures = new ConcurrentBag<string>();
        var answered = 0;
        using var stop = new CancellationTokenSource();

        // Like a real app, an agent whose call answered UNAVAILABLE (its outcome unknown) retries it:
        // an acquire with the same session id (idempotent: it returns the lease if the first try
        // was applied), a release of the same lease (idempotent too).
        var unsureAcquire = new ConcurrentDictionary<int, string>();
        var unsureRelease = new ConcurrentDictionary<int, Lease>();
        var load = agents.Select((agent, i) => Task.Run(async () =>
        {
            var random = new Random(i);
            while (!stop.IsCancellationRequested)
            {
                string? session = null;
                Lease? releasing = null;
                try
                {
                    if (unsureRelease.TryGetValue(i, out releasing))
                    {
                        await agent.ReleaseAsync(releasing);
                        unsureRelease.TryRemove(i, out _);
                    }
                    else if (held.TryGetValue(i, out var lease))
                    {
                        if (random.Next(4) == 0)
                        {
                            held.TryRemove(i, out _);
                            Interlocked.Decrement(ref believed);
                            releasing = lease;
                            await agent.ReleaseAsync(lease);
                        }
                        else
                        {
                            held[i] = await agent.HeartbeatAsync(lease);
                        }
                    }
                    else
                    {
                        session = unsureAcquire.TryRemove(i, out var retry) ? retry : $"s-{i}-{Guid.NewGuid():N}";
                        var granted = (await agent.AcquireAsync(Product, session)).Lease;
                        held[i] = granted;
                        var now = Interlocked.Increment(ref believed);
                        if (now > Volatile.Read(ref maxBelieved))
                        {
                            Volatile.Write(ref maxBelieved, now);
                        }
                    }
                }
                catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
                {
                }
                catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable)
                {
                    if (session is not null)
                    {
                        unsureAcquire[i] = session;
                    }
                    else if (releasing is not null)
                    {
                        unsureRelease[i] = releasing;
                    }
                }
                catch (RpcException ex)
                {
                    // A holder whose lease was lost in the move would land here (NOT_FOUND).
                    failures.Add($"agent {i}: {ex.StatusCode} {ex.Status.Detail}");
                    if (held.TryRemove(i, out _))
                    {
                        Interlocked.Decrement(ref believed);
                    }
                }
                finally
                {
                    Interlocked.Increment(ref answered);
                }

                await Task.Delay(random.Next(5, 30));
            }
        })).ToArray();

        Task WhenAnsweredAsync(int count) => Eventually.Until(
            () => Task.FromResult(Volatile.Read(ref answered) >= count ? "answered" : null),
            TimeSpan.FromSeconds(60),
            $"{count} answered calls");

        // The move happens while calls are flowing, and calls keep flowing after it: both measured
        // in answered calls rather than in seconds, so a slow machine does not thin the test out.
        await WhenAnsweredAsync(1000);
        var moved = await MoveSlotAsync(host, new PoolId(account, Product));
        await WhenAnsweredAsync(Volatile.Read(ref answered) + 1500);
        await stop.CancelAsync();
        await Task.WhenAll(load);

        // Settle the calls whose outcome the load left unknown, as the apps would on their next try.
        foreach (var (i, lease) in unsureRelease)
        {
            await agents[i].ReleaseAsync(lease);
        }

        foreach (var (i, session) in unsureAcquire)
        {
            try
            {
                held[i] = (await agents[i].AcquireAsync(Product, session)).Lease;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
            {
            }
        }

        Assert.True(failures.IsEmpty, string.Join("\n", failures));
        Assert.True(maxBelieved <= Seats, $"{maxBelieved} holders at once");
        Assert.True(moved > 0, "the pool's keys should have been migrated");

        // Every lease the clients hold still renews, now on the new master.
        foreach (var (i, lease) in held)
        {
            Assert.Equal(lease.LeaseId, (await agents[i].HeartbeatAsync(lease)).LeaseId);
        }

        var poolKeys = host.Services.GetRequiredService<RedisKeys>().Pool(new PoolId(account, Product));
        Assert.Equal(held.Count, await SharedSeatsInUse.ReadAsync(host.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase(), poolKeys));
    }

    /// <summary>CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE every key, SETSLOT NODE: the manual reshard of one slot.</summary>
    private static async Task<int> MoveSlotAsync(BrokerTestHost host, PoolId pool)
    {
        await using var admin = await ConnectionMultiplexer.ConnectAsync(TestEnvironment.RedisCluster + ",allowAdmin=true");
        var key = host.Services.GetRequiredService<RedisKeys>().Pool(pool)[0];
        var slot = admin.HashSlot(key);
        var nodes = admin.GetServer(admin.GetEndPoints()[0]).ClusterNodes()!;
        var source = nodes.GetBySlot(slot)!;
        var target = nodes.Nodes.First(n => !n.IsReplica && n.NodeId != source.NodeId);
        var sourceServer = admin.GetServer(source.EndPoint!);
        var targetServer = admin.GetServer(target.EndPoint!);
        var targetEndPoint = (IPEndPoint)target.EndPoint!;

        await targetServer.ExecuteAsync("CLUSTER", "SETSLOT", slot, "IMPORTING", source.NodeId);
        await sourceServer.ExecuteAsync("CLUSTER", "SETSLOT", slot, "MIGRATING", target.NodeId);
        var moved = 0;
        while (true)
        {
            var keys = (RedisResult[])(await sourceServer.ExecuteAsync("CLUSTER", "GETKEYSINSLOT", slot, 10))!;
            if (keys.Length == 0)
            {
                break;
            }

            var args = new List<object> { targetEndPoint.Address.ToString(), targetEndPoint.Port, "", 0, 5000, "KEYS" };
            args.AddRange(keys.Select(k => (object)(string)k!));
            await sourceServer.ExecuteAsync("MIGRATE", args.ToArray());
            moved += keys.Length;
        }

        foreach (var node in nodes.Nodes.Where(n => !n.IsReplica))
        {
            await admin.GetServer(node.EndPoint!).ExecuteAsync("CLUSTER", "SETSLOT", slot, "NODE", target.NodeId);
        }

        return moved;
    }
}
