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
/// Three broker replicas over one Redis and one PostgreSQL, one of them with a clock 30 s ahead
/// and one 30 s behind: admission and expiry follow Redis's clock only.
/// </summary>
public sealed class ReplicaRaceTests : IAsyncLifetime
{
    private const string Product = "remote-support";
    private readonly List<BrokerTestHost> _replicas = [];
    private TestDatabase? _database;

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync();
        var first = await BrokerTestHost.StartAsync(_database, Settings(null));
        _replicas.Add(first);
        var prefix = first.Services.GetRequiredRedisPrefix();
        _replicas.Add(await BrokerTestHost.StartAsync(_database, Settings(prefix), signingKey: first.SigningKey, time: new SkewedTimeProvider(TimeSpan.FromSeconds(30))));
        _replicas.Add(await BrokerTestHost.StartAsync(_database, Settings(prefix), signingKey: first.SigningKey, time: new SkewedTimeProvider(TimeSpan.FromSeconds(-30))));
    }

    public async Task DisposeAsync()
    {
        foreach (var replica in _replicas)
        {
            await replica.DisposeAsync();
        }

        await _database!.DisposeAsync();
    }

    [Fact]
    public async Task Three_hundred_agents_over_three_replicas_with_skewed_clocks_never_exceed_ten_holders()
    {
        const int seats = 10;
        const int agentCount = 300;
        const int rounds = 30;
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: seats);
        var ids = await seeder.AgentsAsync(account, agentCount, "CONCURRENT");
        var agents = ids.Select((id, i) => _replicas[i % _replicas.Count].Agent(account, id)).ToArray();
        var poolKeys = _replicas[0].Services.GetRequiredService<RedisKeys>().Pool(new PoolId(account, Product));
        var redis = _replicas[0].Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        var held = new ConcurrentDictionary<int, Lease>();
        var believed = 0;
        var random = new Random(7);

        for (var round = 0; round < rounds; round++)
        {
            var maxInRedis = 0L;
            using var sampling = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                while (!sampling.IsCancellationRequested)
                {
                    var inRedis = await SharedSeatsInUse.ReadAsync(redis, poolKeys);
                    if (inRedis > Interlocked.Read(ref maxInRedis))
                    {
                        Interlocked.Exchange(ref maxInRedis, inRedis);
                    }
                }
            });

            var leaving = held.Keys.Where(_ => random.Next(3) == 0).ToList();
            var contenders = Enumerable.Range(0, agentCount).Where(i => !held.ContainsKey(i)).OrderBy(_ => random.Next()).Take(100).ToList();
            var stayers = held.Keys.Except(leaving).ToList();
            var work = leaving.Select(i => Task.Run(async () =>
                {
                    held.TryRemove(i, out var lease);
                    Interlocked.Decrement(ref believed);
                    Assert.True(await agents[i].ReleaseAsync(lease!));
                }))
                .Concat(stayers.Select(i => Task.Run(async () => held[i] = await agents[i].HeartbeatAsync(held[i]))))
                .Concat(contenders.Select(i => Task.Run(() => TryAcquire(i))))
                .ToList();
            await Task.WhenAll(work);
            await Task.WhenAll(Enumerable.Range(0, agentCount).Where(i => !held.ContainsKey(i)).Take(60).Select(TryAcquire));

            await sampling.CancelAsync();
            await sampler;
            Assert.True(Interlocked.Read(ref maxInRedis) <= seats, $"round {round}: Redis counted {maxInRedis} holders");
            Assert.Equal(seats, held.Count);
            Assert.Equal(seats, await SharedSeatsInUse.ReadAsync(redis, poolKeys));
        }

        async Task TryAcquire(int i)
        {
            try
            {
                var lease = (await agents[i].AcquireAsync(Product)).Lease;
                Assert.True(held.TryAdd(i, lease));
                Assert.True(Interlocked.Increment(ref believed) <= seats, "more holders than seats");
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
            {
            }
        }
    }

    [Fact]
    public async Task A_replica_whose_clock_runs_ahead_never_reaps_a_lease_early()
    {
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: 1);
        var ids = await seeder.AgentsAsync(account, 2, "CONCURRENT");

        // Taken through the replica 30 s behind, renewed through the one 30 s ahead, checked on the third.
        var lease = (await _replicas[2].Agent(account, ids[0]).AcquireAsync(Product)).Lease;
        lease = await _replicas[1].Agent(account, ids[0]).HeartbeatAsync(lease);
        var remaining = lease.ExpiresAt.ToDateTimeOffset() - DateTimeOffset.UtcNow;
        Assert.InRange(remaining.TotalSeconds, 80, 95);
        var refused = await Assert.ThrowsAsync<RpcException>(() => _replicas[0].Agent(account, ids[1]).AcquireAsync(Product));
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Equal(lease.LeaseId, (await _replicas[0].Agent(account, ids[0]).HeartbeatAsync(lease)).LeaseId);
    }

    private static Dictionary<string, string?> Settings(string? prefix)
    {
        var settings = new Dictionary<string, string?>();
        if (prefix is not null)
        {
            settings["Redis:KeyPrefix"] = prefix;
        }

        return settings;
    }
}
