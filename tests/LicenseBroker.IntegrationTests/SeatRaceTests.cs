using System.Collections.Concurrent;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using PoolId = LicenseBroker.Domain.Seats.PoolId;
using LicenseBroker.IntegrationTests.Infrastructure;
using LicenseBroker.Storage.Redis;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace LicenseBroker.IntegrationTests;

/// <summary>Many agents race for few seats; invariants are checked at every step, not hoped for.</summary>
public sealed class SeatRaceTests(BrokerFixture fixture) : SeatRaceScenarios(fixture), IClassFixture<BrokerFixture>;

/// <summary>The same race on a three-master Redis Cluster.</summary>
public sealed class ClusterSeatRaceTests(ClusterBrokerFixture fixture) : SeatRaceScenarios(fixture), IClassFixture<ClusterBrokerFixture>;

/// <summary>The race scenario, run against each kind of Redis deployment.</summary>
public abstract class SeatRaceScenarios
{
    private const string Product = "remote-support";
    private const int Seats = 10;
    private const int AgentCount = 100;
    private const int Rounds = 25;
    private readonly BrokerFixture _fixture;

    protected SeatRaceScenarios(BrokerFixture fixture)
    {
        _fixture = fixture;
    }

    [Fact]
    public async Task Hundred_agents_racing_for_ten_seats_never_exceed_ten_holders_and_leak_no_seat()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: Seats);
        var ids = await _fixture.Seeder.AgentsAsync(account, AgentCount, "CONCURRENT");
        var agents = ids.Select(id => _fixture.Host.Agent(account, id)).ToArray();
        var poolKeys = _fixture.Host.Services.GetRequiredService<RedisKeys>().Pool(new PoolId(account, Product));
        var redis = _fixture.Host.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();

        // What the clients believe: counted up after a grant arrives, down before a release is sent,
        // so it can only under-count the server; more than ten here proves over-admission.
        var held = new ConcurrentDictionary<int, Lease>();
        var believed = 0;
        var maxBelieved = 0;
        var maxObservedInRedis = 0L;
        var random = new Random(20261123);

        for (var round = 0; round < Rounds; round++)
        {
            using var sampling = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                // Reads the server's own count of holders throughout the round.
                while (!sampling.IsCancellationRequested)
                {
                    var inRedis = await SharedSeatsInUse.ReadAsync(redis, poolKeys);
                    InterlockedMax(ref maxObservedInRedis, inRedis);
                }
            });

            // Interleave: a random part of the holders release while every other agent tries to acquire.
            var leaving = held.Keys.Where(_ => random.Next(2) == 0).ToList();
            var contenders = Enumerable.Range(0, AgentCount).Where(i => !held.ContainsKey(i)).OrderBy(_ => random.Next()).ToList();
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var work = leaving.Select(i => Task.Run(async () =>
                {
                    await start.Task;
                    held.TryRemove(i, out var lease);
                    Interlocked.Decrement(ref believed);
                    Assert.True(await agents[i].ReleaseAsync(lease!));
                }))
                .Concat(contenders.Select(i => Task.Run(async () =>
                {
                    await start.Task;
                    await TryAcquire(i);
                })))
                .ToList();
            start.SetResult();
            await Task.WhenAll(work);

            // Fill: with no release in flight, every free seat must be handed out (no leak).
            await Task.WhenAll(Enumerable.Range(0, AgentCount).Where(i => !held.ContainsKey(i)).Select(TryAcquire));

            await sampling.CancelAsync();
            await sampler;
            Assert.Equal(Seats, held.Count);
            Assert.Equal(Seats, await SharedSeatsInUse.ReadAsync(redis, poolKeys));
            Assert.True(maxBelieved <= Seats, $"round {round}: clients held {maxBelieved} seats at once");
            Assert.True(maxObservedInRedis <= Seats, $"round {round}: Redis counted {maxObservedInRedis} holders");
        }

        foreach (var (i, lease) in held)
        {
            Assert.True(await agents[i].ReleaseAsync(lease));
        }

        Assert.Equal(0, await SharedSeatsInUse.ReadAsync(redis, poolKeys));

        async Task TryAcquire(int i)
        {
            try
            {
                var lease = (await agents[i].AcquireAsync(Product)).Lease;
                Assert.True(held.TryAdd(i, lease), $"agent {i} was granted twice");
                var now = Interlocked.Increment(ref believed);
                InterlockedMax(ref maxBelieved, now);
                Assert.True(now <= Seats, $"{now} holders after a grant");
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
            {
                Assert.Equal("10", Errors.Info(ex).Metadata["limit"]);
            }
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while (value > (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }

    private static void InterlockedMax(ref long target, long value)
    {
        long current;
        while (value > (current = Interlocked.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
