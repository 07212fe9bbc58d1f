using System.Collections.Concurrent;
using System.Diagnostics;
using Grpc.Core;
using Grpc.Health.V1;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Redis killed with kill -9 in the middle of a 200-agent race, then restarted without its data.
/// Every agent behaves like a correct app: it counts itself a holder from a grant until it sends a
/// release, a heartbeat is refused, or one lease lifetime has passed since its last successful
/// renewal was sent. The invariant, sampled throughout: never more holders than seats.
/// </summary>
public sealed class RedisFaultTests
{
    private const string Product = "remote-support";
    private const int Seats = 10;
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Redis_killed_mid_race_and_restarted_without_data_never_admits_more_agents_than_seats()
    {
        await using var redis = new RedisServerProcess();
        await redis.StartAsync(persistence: false);
        await using var database = await TestDatabase.CreateAsync();
        await using var host = await BrokerTestHost.StartAsync(database, new Dictionary<string, string?>
        {
            ["Redis:Configuration"] = redis.Configuration,
            ["Seats:LeaseTtl"] = "00:00:05",
            ["Seats:HeartbeatInterval"] = "00:00:00.500",
            ["Resilience:Redis:AttemptTimeout"] = "00:00:00.500",
            ["Resilience:Redis:BreakDuration"] = "00:00:00.500",
        });
        var seeder = new CatalogSeeder(database);
        var account = await seeder.AccountAsync(concurrentSeats: Seats);
        var ids = await seeder.AgentsAsync(account, 200, "CONCURRENT");
        var agents = ids.Select(id => host.Agent(account, id)).ToArray();

        var clock = Stopwatch.StartNew();
        var validUntil = new long[agents.Length];
        var unexpected = new ConcurrentBag<string>();
        var slowFailures = new ConcurrentBag<TimeSpan>();
        var recovering = 0;
        var maxHolders = 0;
        using var stop = new CancellationTokenSource();

        int Holders()
        {
            var now = clock.ElapsedTicks;
            return validUntil.Count(until => Volatile.Read(ref until) > now);
        }

        var sampler = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var holders = Holders();
                if (holders > Volatile.Read(ref maxHolders))
                {
                    Volatile.Write(ref maxHolders, holders);
                }

                await Task.Delay(5);
            }
        });

        var workers = agents.Select((agent, i) => Task.Run(async () =>
        {
            var random = new Random(i);
            Lease? lease = null;
            while (!stop.IsCancellationRequested)
            {
                var sent = clock.ElapsedTicks;
                var started = Stopwatch.StartNew();
                try
                {
                    if (lease is null)
                    {
                        lease = (await agent.AcquireAsync(Product, sessionId: $"s-{i}-{random.Next()}")).Lease;
                        Volatile.Write(ref validUntil[i], sent + Ttl.Ticks * Stopwatch.Frequency / TimeSpan.TicksPerSecond);
                    }
                    else if (random.Next(10) == 0)
                    {
                        Volatile.Write(ref validUntil[i], 0);
                        var released = lease;
                        lease = null;
                        await agent.ReleaseAsync(released);
                    }
                    else
                    {
                        lease = await agent.HeartbeatAsync(lease);
                        Volatile.Write(ref validUntil[i], sent + Ttl.Ticks * Stopwatch.Frequency / TimeSpan.TicksPerSecond);
                    }
                }
                catch (RpcException ex)
                {
                    if (started.Elapsed > TimeSpan.FromSeconds(3))
                    {
                        slowFailures.Add(started.Elapsed);
                    }

                    switch (ex.StatusCode)
                    {
                        case StatusCode.ResourceExhausted:
                            break;
                        case StatusCode.NotFound or StatusCode.FailedPrecondition:
                            // The lease is gone: a correct app stops counting itself a holder at once.
                            Volatile.Write(ref validUntil[i], 0);
                            lease = null;
                            break;
                        case StatusCode.Unavailable:
                            if (ex.Status.Detail.Contains("re-establishing", StringComparison.Ordinal))
                            {
                                Interlocked.Increment(ref recovering);
                            }

                            break;
                        default:
                            unexpected.Add($"{ex.StatusCode}: {ex.Status.Detail}");
                            break;
                    }
                }

                await Task.Delay(lease is null ? random.Next(20, 120) : 500);
            }
        })).ToArray();

        // Let the race settle, then kill Redis and bring it back empty well within one lease
        // lifetime: the holders still count themselves holders when the newcomers rush in.
        await Task.Delay(TimeSpan.FromSeconds(2));
        await Eventually.Until(async () =>
        {
            await Task.Yield();
            return Holders() == Seats ? "full" : null;
        }, TimeSpan.FromSeconds(10), "the pool to be full before the crash");
        await redis.KillAsync();
        var health = await new Health.HealthClient(host.Channel).CheckAsync(new HealthCheckRequest());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, health.Status);
        await Task.Delay(TimeSpan.FromSeconds(0.5));
        await redis.StartAsync(persistence: false);
        var restartedAt = clock.Elapsed;

        // The service recovers by itself: seats are held again, and the race keeps going a while.
        await Eventually.Until(async () =>
        {
            await Task.Yield();
            return Holders() == Seats ? "full again" : null;
        }, TimeSpan.FromSeconds(30), "the pool to be full again after the restart");
        await Task.Delay(TimeSpan.FromSeconds(6));

        await stop.CancelAsync();
        await Task.WhenAll(workers);
        await sampler;

        Console.WriteLine($"restart at {restartedAt}, max holders {maxHolders}, recovering refusals {recovering}");
        Assert.Empty(unexpected);
        Assert.Empty(slowFailures);
        Assert.True(maxHolders <= Seats, $"{maxHolders} agents held a seat at once (limit {Seats})");
        Assert.True(recovering > 0, "newcomers should have been held back after the data loss");
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await new Health.HealthClient(host.Channel).CheckAsync(new HealthCheckRequest())).Status);
    }
}
