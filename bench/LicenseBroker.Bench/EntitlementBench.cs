using System.Diagnostics;
using Grpc.Core;
using Grpc.Net.Client;
using HdrHistogram;
using LicenseBroker.Cli;
using LicenseBroker.Client.Entitlements;
using LicenseBroker.Contracts.V1;

namespace LicenseBroker.Bench;

/// <summary>
/// What other backends pay to ask about entitlements: the network checks, the signed snapshot of a large
/// account, the SDK's local check on one core, and how fast a change reaches caches on three replicas.
/// </summary>
internal static class EntitlementBench
{
    /// <summary>The SDK's local check on one thread: checks per second, bytes allocated, and single-check latency.</summary>
    public static (double PerSecond, long Allocated, LongHistogram Latency) LocalCheck(EntitlementCache cache, int agents, long checks)
    {
        var ids = Enumerable.Range(0, agents).Select(a => $"a{a}").ToArray();
        var entitled = 0L;

        // Warm: tiered JIT reaches its optimised code.
        for (var i = 0; i < 2_000_000; i++)
        {
            entitled += cache.IsEntitled(ids[i % ids.Length], "remote-support") ? 1 : 0;
        }

        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        for (var i = 0L; i < checks; i++)
        {
            entitled += cache.IsEntitled(ids[i % ids.Length], "remote-support") ? 1 : 0;
        }

        clock.Stop();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;

        // One check at a time, timed (the timer's own ~20 ns included: an upper bound), in nanoseconds.
        var latency = new LongHistogram(1_000_000_000, 3);
        for (var i = 0; i < 2_000_000; i++)
        {
            var start = Stopwatch.GetTimestamp();
            entitled += cache.IsEntitled(ids[i % ids.Length], "remote-support") ? 1 : 0;
            latency.RecordValue((Stopwatch.GetTimestamp() - start) * 1_000_000_000 / Stopwatch.Frequency);
        }

        GC.KeepAlive(entitled);
        return (checks / clock.Elapsed.TotalSeconds, allocated, latency);
    }

    /// <summary>
    /// Seat changes made through one replica, each timed from the admin's answer until every cache (one per
    /// broker address) sees it. Returns the latencies in milliseconds.
    /// </summary>
    public static async Task<List<double>> PropagationAsync(
        IReadOnlyList<Uri> brokers, string key, string account, string agent, int changes)
    {
        var service = DevTokens.Mint(key, "backoffice", "bench", TimeSpan.FromHours(1), extraClaims: DevTokens.Claims(service: true));
        var admin = new Metadata { { "Authorization", "Bearer " + DevTokens.Mint(key, account, "bench-admin", TimeSpan.FromHours(1), extraClaims: DevTokens.Claims("ADMIN")) } };
        var caches = new List<EntitlementCache>();
        try
        {
            foreach (var broker in brokers)
            {
                var cache = new EntitlementCache(new EntitlementCacheOptions { Address = broker, AccountId = account, AccessTokenProvider = _ => ValueTask.FromResult(service) });
                await cache.StartAsync();
                caches.Add(cache);
            }

            using var channel = GrpcChannel.ForAddress(brokers[0]);
            var seatAdmin = new SeatAdminService.SeatAdminServiceClient(channel);
            var latencies = new List<double>();
            for (var i = 0; i < changes; i++)
            {
                var entitled = i % 2 == 1;
                var clock = Stopwatch.StartNew();
                if (entitled)
                {
                    await seatAdmin.AssignSeatAsync(new AssignSeatRequest { AgentId = agent, Product = "remote-support", SeatType = SeatType.Concurrent }, admin);
                }
                else
                {
                    await seatAdmin.UnassignSeatAsync(new UnassignSeatRequest { AgentId = agent, Product = "remote-support" }, admin);
                }

                var pending = caches.ToList();
                while (pending.Count > 0 && clock.Elapsed < TimeSpan.FromSeconds(10))
                {
                    foreach (var cache in pending.Where(c => c.IsEntitled(agent, "remote-support") == entitled).ToList())
                    {
                        latencies.Add(clock.Elapsed.TotalMilliseconds);
                        pending.Remove(cache);
                    }

                    await Task.Delay(1);
                }
            }

            return latencies;
        }
        finally
        {
            foreach (var cache in caches)
            {
                await cache.DisposeAsync();
            }
        }
    }
}
