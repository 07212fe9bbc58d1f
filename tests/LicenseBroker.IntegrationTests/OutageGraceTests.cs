using System.Collections.Concurrent;
using Dapper;
using Grpc.Core;
using LicenseBroker.Cli;
using LicenseBroker.Client;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;
using Npgsql;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Issue 31, outage grace, through the agent SDK: every broker replica stopped longer than a lease lifetime under 200
/// live sessions. Scaled down (a lease lives 3 s, the grace 60 s, a gap of 3 s counts as an outage) so it runs in
/// seconds; the rules are the same at 90 s and 10 minutes. The SDK keeps every session through its grace and ends none
/// before grace_until; on return every lease is given back by its own proof, and no newcomer is granted a seat beyond
/// the pool. With the broker gone past the grace, the SDK ends the session at grace_until and not before, whatever the
/// device's clock says. Run alone, after the parallel classes: 200 SDK sessions load both cores, and the apps' return
/// within the newcomers' wait is what it measures.
/// </summary>
[Collection(MeasuredAlone.Name)]
public sealed class OutageGraceTests
{
    private const string Product = "remote-support";
    private const int Sessions = 200;

    private static Dictionary<string, string?> Settings(int port) => new()
    {
        ["Seats:LeaseTtl"] = "00:00:03",
        ["Seats:HeartbeatInterval"] = "00:00:01",
        ["Redis:OutageAfter"] = "00:00:03",
        ["Kestrel:Endpoints:Grpc:Url"] = $"http://127.0.0.1:{port}",
        ["Shutdown:Timeout"] = "00:00:01",
    };

    private static LicenseBrokerClient Sdk(Uri address, string signingKey, string account, string agent, TimeProvider? time = null) => new(new LicenseBrokerClientOptions
    {
        Address = address,
        AccessTokenProvider = _ => ValueTask.FromResult(DevTokens.Mint(signingKey, account, agent, TimeSpan.FromMinutes(30))),
        FirstRetryDelay = TimeSpan.FromMilliseconds(50),
        MaxRetryDelay = TimeSpan.FromMilliseconds(500),
        TimeProvider = time ?? TimeProvider.System,
    });

    [Fact]
    public async Task Every_replica_stopped_past_the_ttl_under_200_sessions_ends_none_and_gives_every_lease_back_on_return()
    {
        await using var database = await TestDatabase.CreateAsync();
        var port = Processes.FreePort();
        var prefix = "t" + Guid.NewGuid().ToString("N")[..10] + ":";
        var key = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var first = await BrokerTestHost.StartAsync(database, Settings(port), keyPrefix: prefix, signingKey: key);
        var account = await first.Seeder().AccountAsync(concurrentSeats: Sessions);
        await SetGraceAsync(first, account, seconds: 60);
        var agents = await first.Seeder().AgentsAsync(account, Sessions + 20, "CONCURRENT");

        var clients = agents.Select(agent => Sdk(first.Address, key, account, agent)).ToList();
        var seats = new SeatLease[Sessions];
        await Parallel.ForEachAsync(Enumerable.Range(0, Sessions), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
            seats[i] = await clients[i].AcquireSeatAsync(Product, new Device { Id = "laptop-" + i, Platform = Platform.Windows }, SessionKind.Attended, ct));
        var leaseIds = seats.Select(s => s.LeaseId).ToHashSet();
        var inGrace = new ConcurrentDictionary<string, DateTimeOffset>();
        var revived = new ConcurrentDictionary<string, bool>();
        var lost = new ConcurrentDictionary<string, SeatLostEventArgs>();
        foreach (var seat in seats)
        {
            seat.EnteredGrace += (_, e) => inGrace[seat.LeaseId] = e.GraceEndsAt;
            seat.Revived += (_, _) => revived[seat.LeaseId] = true;
            seat.SeatLost += (_, e) => lost[seat.LeaseId] = e;
        }

        // Every replica goes. The apps' leases pass their expiry: each SDK enters its grace and keeps the session.
        await first.DisposeAsync();
        var stopped = DateTimeOffset.UtcNow;
        await Eventually.Until(
            () => Task.FromResult(inGrace.Count == Sessions && DateTimeOffset.UtcNow - stopped > TimeSpan.FromSeconds(4) ? "in grace" : null),
            TimeSpan.FromSeconds(30),
            () => $"all {Sessions} sessions in grace ({inGrace.Count}) and the gap longer than an outage");
        Assert.Empty(lost);
        Assert.All(seats, s => Assert.Equal(SeatLeaseState.InGrace, s.State));

        // A replica returns. Newcomers try for seats while the apps come back: none is granted one.
        await using var second = await BrokerTestHost.StartAsync(database, Settings(port), keyPrefix: prefix, signingKey: key);
        var newcomers = Enumerable.Range(Sessions, 20).Select(i => second.Agent(account, agents[i])).ToList();
        var newcomerGrants = 0;
        var refusals = new ConcurrentDictionary<string, int>();
        using var back = new CancellationTokenSource();
        var storm = Task.WhenAll(newcomers.Select(newcomer => Task.Run(async () =>
        {
            while (!back.IsCancellationRequested)
            {
                try
                {
                    await newcomer.AcquireAsync(Product);
                    Interlocked.Increment(ref newcomerGrants);
                }
                catch (RpcException ex)
                {
                    refusals.AddOrUpdate(Errors.Info(ex).Reason, 1, (_, n) => n + 1);
                }

                await Task.Delay(20);
            }
        })));
        await Eventually.Until(
            () => Task.FromResult(revived.Count + lost.Count == Sessions ? "reconciled" : null),
            TimeSpan.FromSeconds(30),
            () => $"every lease reconciled ({revived.Count} revived, {lost.Count} lost)");
        await back.CancelAsync();
        await storm;

        Assert.Empty(lost);
        Assert.Equal(Sessions, revived.Count);
        Assert.All(seats, s => Assert.Equal(SeatLeaseState.Online, s.State));
        Assert.Equal(leaseIds, seats.Select(s => s.LeaseId).ToHashSet());
        Assert.Equal(0, newcomerGrants);
        Assert.True(refusals.Keys.All(r => r is "POOL_RECOVERING" or "ALL_SHARED_SEATS_IN_USE"), string.Join(", ", refusals));
        var usage = await second.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, second.AdminHeaders(account));
        Assert.Equal(Sessions, usage.Products.Single().ConcurrentSeatsInUse);

        // The audit log: each lease granted once, expired once during the outage, revived once; no other grant.
        await Eventually.Until(
            async () => await CountAsync(database, account, "seat.revived") == Sessions ? "audited" : null,
            TimeSpan.FromSeconds(20),
            "200 seat.revived in the audit log");
        Assert.Equal(Sessions, await CountAsync(database, account, "seat.granted"));
        Assert.Equal(Sessions, await CountAsync(database, account, "seat.expired"));

        foreach (var seat in seats)
        {
            await seat.DisposeAsync();
        }

        clients.ForEach(c => c.Dispose());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3650)]
    public async Task With_the_broker_gone_past_the_grace_the_sdk_ends_the_session_at_grace_until_whatever_the_device_clock_says(int clockOffsetDays)
    {
        await using var database = await TestDatabase.CreateAsync();
        var port = Processes.FreePort();
        var first = await BrokerTestHost.StartAsync(database, Settings(port));
        var account = await first.Seeder().AccountAsync(concurrentSeats: 1);
        await SetGraceAsync(first, account, seconds: 3);
        var agent = (await first.Seeder().AgentsAsync(account, 1, "CONCURRENT"))[0];

        // The device's clock is ten years behind (the second case): the SDK measures on its monotonic clock.
        using var sdk = Sdk(first.Address, first.SigningKey, account, agent, new SkewedTimeProvider(TimeSpan.FromDays(clockOffsetDays)));
        var seat = await sdk.AcquireSeatAsync(Product, new Device { Id = "laptop-1", Platform = Platform.Windows }, SessionKind.Attended);
        var states = new ConcurrentQueue<string>();
        seat.EnteredGrace += (_, _) => states.Enqueue("grace");
        var lostAt = new TaskCompletionSource<(DateTimeOffset At, SeatLostEventArgs Loss)>(TaskCreationOptions.RunContinuationsAsynchronously);
        seat.SeatLost += (_, e) => lostAt.TrySetResult((DateTimeOffset.UtcNow, e));
        await Eventually.Until(() => Task.FromResult(seat.Heartbeats >= 1 ? "beaten" : null), TimeSpan.FromSeconds(10), "a heartbeat");

        await first.DisposeAsync();
        var graceUntil = seat.Lease.GraceUntil.ToDateTimeOffset();
        var (at, loss) = await lostAt.Task.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(SeatLossReason.Unreachable, loss.Reason);
        Assert.True(at >= graceUntil, $"lost at {at:O}, before grace_until {graceUntil:O}");
        Assert.True(at <= graceUntil + TimeSpan.FromSeconds(3), $"lost at {at:O}, long after grace_until {graceUntil:O}");
        Assert.Equal(["grace"], states);
        Assert.Equal(SeatLeaseState.Lost, seat.State);
        await seat.DisposeAsync();
    }

    private static async Task SetGraceAsync(BrokerTestHost host, string account, int seconds)
    {
        var subscription = (await host.SubscriptionClient.GetSubscriptionAsync(new GetSubscriptionRequest { AccountId = account, Product = Product }, host.ServiceHeaders())).Subscription;
        subscription.OutageGraceSeconds = seconds;
        await host.SubscriptionClient.UpsertSubscriptionAsync(new UpsertSubscriptionRequest { Subscription = subscription }, host.ServiceHeaders());
    }

    private static async Task<long> CountAsync(TestDatabase database, string account, string action)
    {
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        return await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM audit_events WHERE account_id = @account AND action = @action", new { account, action });
    }
}
