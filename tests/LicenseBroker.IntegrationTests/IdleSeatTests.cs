using System.Diagnostics;
using Dapper;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;
using Npgsql;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Issue 16, part 1: seats held by sessions left PENDING, or by users idle, are handed back by the
/// broker on Redis's clock, by whichever replica's janitor gets there first, within a second of
/// the deadline, even when nobody calls into the pool; the app learns it through WatchLease and its
/// next heartbeat, and the head of the queue gets the seat. Run alone: it asserts the hand-back's latency.
/// </summary>
[Collection(MeasuredAlone.Name)]
public sealed class IdleSeatTests : IAsyncLifetime
{
    private const string Product = "remote-support";

    // Nothing else touches the pools during a test: waiters and watches refresh rarely, so a seat
    // taken back on time was taken back by the janitor, not by a passing call.
    private static readonly Dictionary<string, string?> Settings = new()
    {
        ["Seats:MinIdleTimeout"] = "00:00:01",
        ["Seats:WaiterRefresh"] = "00:00:20",
        ["Seats:WaiterTimeout"] = "00:01:00",
    };

    private TestDatabase? _database;
    private BrokerTestHost? _a;
    private BrokerTestHost? _b;

    private BrokerTestHost A => _a!;

    /// <summary>A replica whose clock runs 45 seconds ahead: were its clock used, every 2-second timeout would fire at once.</summary>
    private BrokerTestHost B => _b!;

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync();
        _a = await BrokerTestHost.StartAsync(_database, new Dictionary<string, string?>(Settings));
        var settings = new Dictionary<string, string?>(Settings) { ["Redis:KeyPrefix"] = _a.Services.GetRequiredRedisPrefix() };
        _b = await BrokerTestHost.StartAsync(_database, settings, signingKey: _a.SigningKey, time: new SkewedTimeProvider(TimeSpan.FromSeconds(45)));
    }

    public async Task DisposeAsync()
    {
        if (_b is not null)
        {
            await _b.DisposeAsync();
        }

        if (_a is not null)
        {
            await _a.DisposeAsync();
        }

        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_pending_seat_is_taken_back_within_a_second_of_its_deadline_and_goes_to_the_head_of_the_queue()
    {
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: 2);
        await SetIdleRulesAsync(account, pendingSeconds: 2, idleSeconds: 0);
        var ids = await seeder.AgentsAsync(account, 3, "CONCURRENT");

        // The first agent connects at once (ATTENDED) and keeps working: never touched.
        var attended = B.Agent(account, ids[0]);
        var attendedLease = (await attended.AcquireAsync(Product, kind: SessionKind.Pending)).Lease;
        attendedLease = await attended.HeartbeatAsync(attendedLease, SessionKind.Attended);

        // The second generates a support key and nobody connects: PENDING, through the skewed replica.
        var pending = B.Agent(account, ids[1]);
        var pendingLease = (await pending.AcquireAsync(Product, kind: SessionKind.Pending)).Lease;
        var deadline = StartOf(pendingLease).AddSeconds(2);
        var watcher = A.Agent(account, ids[1]);
        using var watch = watcher.Raw.WatchLease(new WatchLeaseRequest { Product = Product, LeaseId = pendingLease.LeaseId }, watcher.Headers);
        Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(LeaseStatus.Active, watch.ResponseStream.Current.Status);

        // Its heartbeats go on, still PENDING: they keep the lease alive but do not move the deadline.
        await pending.HeartbeatAsync(pendingLease, SessionKind.Pending);

        // A third agent waits for a seat on the other replica, attended: its own seat is never taken back by the pending
        // rule while the test goes on (a PENDING waiter's seat would be, 2 s after its grant, on a slow machine).
        var waiter = A.Agent(account, ids[2]);
        using var wait = waiter.Raw.WaitForSeat(
            new WaitForSeatRequest { Product = Product, SessionId = "w-" + ids[2], Device = new Device { Id = "d", Platform = Platform.Windows }, SessionKind = SessionKind.Attended },
            waiter.Headers);
        Assert.True(await wait.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(1, wait.ResponseStream.Current.Position.Position);

        // WatchLease tells the app, on the other replica, within a second of the deadline, never before it.
        Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None));
        var told = DateTimeOffset.UtcNow;
        var ended = watch.ResponseStream.Current;
        Assert.Equal(LeaseStatus.IdleReleased, ended.Status);
        Assert.Equal("IDLE_RELEASED", ended.Reason);
        Assert.Equal("pending_timeout", ended.IdleRule);
        Assert.Equal(deadline, ended.EndedAt.ToDateTimeOffset());
        Assert.InRange((told - deadline).TotalMilliseconds, 0, 1000);
        Assert.False(await watch.ResponseStream.MoveNext(CancellationToken.None));

        // The head of the queue gets the seat.
        var granted = await NextGrantAsync(wait);
        Assert.Equal(Product, granted.Product);

        // The app's next heartbeat learns why, in its language-neutral reason and metadata.
        var refused = await Assert.ThrowsAsync<RpcException>(() => pending.HeartbeatAsync(pendingLease, SessionKind.Pending));
        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        var info = Errors.Info(refused);
        Assert.Equal("IDLE_RELEASED", info.Reason);
        Assert.Equal("pending_timeout", info.Metadata["rule"]);

        // The ATTENDED lease outlives the deadline it would have had as PENDING by more than a second.
        var attendedDeadline = StartOf(attendedLease).AddSeconds(2);
        await WaitUntilAsync(attendedDeadline.AddSeconds(1.5));
        Assert.Equal(attendedLease.LeaseId, (await attended.HeartbeatAsync(attendedLease, SessionKind.Attended)).LeaseId);

        // Audited once, with the rule as actor, and counted on Seats & Devices.
        await Eventually.Until(
            async () => await CountAsync("SELECT count(*) FROM audit_events WHERE account_id = @account AND action = 'seat.idle_released' AND actor = 'pending_timeout'", account) == 1 ? "audited" : null,
            TimeSpan.FromSeconds(10),
            "the idle release in the audit log");
        Assert.Equal(0, await CountAsync("SELECT count(*) FROM audit_events WHERE account_id = @account AND action = 'seat.idle_released' AND subject = @agent", account, ids[0]));
        var usage = await A.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, A.AdminHeaders(account));
        var product = Assert.Single(usage.Products);
        Assert.Equal(1, product.SeatsReclaimedToday);
        Assert.Equal(2, product.PendingTimeoutSeconds);
        Assert.Equal(2, product.ConcurrentSeatsInUse);
    }

    [Fact]
    public async Task An_app_reporting_its_user_idle_loses_the_seat_at_the_idle_timeout_and_one_back_at_work_keeps_it()
    {
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: 3);
        await SetIdleRulesAsync(account, pendingSeconds: 0, idleSeconds: 3);
        var ids = await seeder.AgentsAsync(account, 3, "CONCURRENT");

        // Idle for one second now: the seat goes back two seconds later (Redis time), with no more calls.
        var idle = A.Agent(account, ids[0]);
        var idleLease = (await idle.AcquireAsync(Product, kind: SessionKind.Attended)).Lease;
        using var watch = idle.Raw.WatchLease(new WatchLeaseRequest { Product = Product, LeaseId = idleLease.LeaseId }, idle.Headers);
        Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None));
        var reported = Stopwatch.StartNew();
        await idle.HeartbeatAsync(idleLease, SessionKind.Attended, idleFor: TimeSpan.FromSeconds(1));

        // Idle for one second, then back at work: the deadline is gone.
        var back = B.Agent(account, ids[1]);
        var backLease = (await back.AcquireAsync(Product, kind: SessionKind.Attended)).Lease;
        await back.HeartbeatAsync(backLease, SessionKind.Attended, idleFor: TimeSpan.FromSeconds(1));
        await back.HeartbeatAsync(backLease, SessionKind.Attended, idleFor: TimeSpan.Zero);

        Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None));
        var elapsed = reported.Elapsed;
        Assert.Equal(LeaseStatus.IdleReleased, watch.ResponseStream.Current.Status);
        Assert.Equal("idle_timeout", watch.ResponseStream.Current.IdleRule);
        Assert.InRange(elapsed.TotalSeconds, 1.5, 3.5);
        var refused = await Assert.ThrowsAsync<RpcException>(() => idle.HeartbeatAsync(idleLease, SessionKind.Attended));
        Assert.Equal("IDLE_RELEASED", Errors.Info(refused).Reason);
        Assert.Equal("idle_timeout", Errors.Info(refused).Metadata["rule"]);

        await WaitUntilAsync(StartOf(backLease).AddSeconds(4));
        Assert.Equal(backLease.LeaseId, (await back.HeartbeatAsync(backLease, SessionKind.Attended)).LeaseId);

        // An app that reports a longer idle time than allowed is answered on that very heartbeat.
        var away = A.Agent(account, ids[2]);
        var awayLease = (await away.AcquireAsync(Product, kind: SessionKind.Attended)).Lease;
        var gone = await Assert.ThrowsAsync<RpcException>(() => away.HeartbeatAsync(awayLease, SessionKind.Attended, idleFor: TimeSpan.FromMinutes(10)));
        Assert.Equal(StatusCode.FailedPrecondition, gone.StatusCode);
        Assert.Equal("IDLE_RELEASED", Errors.Info(gone).Reason);
        var usage = await A.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, A.AdminHeaders(account));
        Assert.Equal(2, Assert.Single(usage.Products).SeatsReclaimedToday);
        Assert.Equal(1, Assert.Single(usage.Products).ConcurrentSeatsInUse);
    }

    [Fact]
    public async Task Bad_idle_reports_and_timeouts_are_refused_naming_the_field_and_change_nothing()
    {
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: 1);
        await SetIdleRulesAsync(account, pendingSeconds: 0, idleSeconds: 2);
        var agent = (await seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];
        var client = A.Agent(account, agent);
        var lease = (await client.AcquireAsync(Product, kind: SessionKind.Attended)).Lease;

        foreach (var idleFor in new[]
        {
            new Google.Protobuf.WellKnownTypes.Duration { Seconds = -1 },
            new Google.Protobuf.WellKnownTypes.Duration { Seconds = 0, Nanos = -5 },
            new Google.Protobuf.WellKnownTypes.Duration { Seconds = 31L * 86400 },
            new Google.Protobuf.WellKnownTypes.Duration { Seconds = long.MaxValue },
            new Google.Protobuf.WellKnownTypes.Duration { Seconds = 30L * 86400, Nanos = 1 },
        })
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => client.Raw.HeartbeatAsync(
                new HeartbeatRequest { Product = Product, LeaseId = lease.LeaseId, IdleFor = idleFor }, client.Headers).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
            Assert.Equal("idle_for", Assert.Single(Errors.BadRequest(error).FieldViolations).Field);
        }

        // None of them moved the lease towards its end: still live well past a 2-second idle timeout's reach.
        Assert.Equal(lease.LeaseId, (await client.HeartbeatAsync(lease, SessionKind.Attended)).LeaseId);

        var current = (await A.SubscriptionClient.GetSubscriptionAsync(new GetSubscriptionRequest { AccountId = account, Product = Product }, A.ServiceHeaders())).Subscription;
        foreach (var (pendingSeconds, idleSeconds, field) in new[] { (-1, 0, "subscription.pending_timeout_seconds"), (86401, 0, "subscription.pending_timeout_seconds"), (0, -60, "subscription.idle_timeout_seconds"), (0, int.MaxValue, "subscription.idle_timeout_seconds") })
        {
            var changed = current.Clone();
            changed.PendingTimeoutSeconds = pendingSeconds;
            changed.IdleTimeoutSeconds = idleSeconds;
            var error = await Assert.ThrowsAsync<RpcException>(async () => await A.SubscriptionClient.UpsertSubscriptionAsync(new UpsertSubscriptionRequest { Subscription = changed }, A.ServiceHeaders()));
            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
            Assert.Equal(field, Assert.Single(Errors.BadRequest(error).FieldViolations).Field);
        }

        Assert.Equal(current, (await A.SubscriptionClient.GetSubscriptionAsync(new GetSubscriptionRequest { AccountId = account, Product = Product }, A.ServiceHeaders())).Subscription);
    }

    [Fact]
    public async Task The_minimum_timeout_holds_by_default()
    {
        await using var host = await BrokerTestHost.StartAsync(_database!);
        var account = await new CatalogSeeder(_database!).AccountAsync();
        var subscription = (await host.SubscriptionClient.GetSubscriptionAsync(new GetSubscriptionRequest { AccountId = account, Product = Product }, host.ServiceHeaders())).Subscription;
        subscription.PendingTimeoutSeconds = 59;
        var error = await Assert.ThrowsAsync<RpcException>(async () => await host.SubscriptionClient.UpsertSubscriptionAsync(new UpsertSubscriptionRequest { Subscription = subscription }, host.ServiceHeaders()));
        Assert.Contains("between 60 and 86400", Assert.Single(Errors.BadRequest(error).FieldViolations).Description, StringComparison.Ordinal);
        subscription.PendingTimeoutSeconds = 300;
        subscription.IdleTimeoutSeconds = 900;
        var saved = (await host.SubscriptionClient.UpsertSubscriptionAsync(new UpsertSubscriptionRequest { Subscription = subscription }, host.ServiceHeaders())).Subscription;
        Assert.Equal(300, saved.PendingTimeoutSeconds);
        Assert.Equal(900, saved.IdleTimeoutSeconds);
    }

    private async Task SetIdleRulesAsync(string account, int pendingSeconds, int idleSeconds)
    {
        var subscription = (await A.SubscriptionClient.GetSubscriptionAsync(new GetSubscriptionRequest { AccountId = account, Product = Product }, A.ServiceHeaders())).Subscription;
        subscription.PendingTimeoutSeconds = pendingSeconds;
        subscription.IdleTimeoutSeconds = idleSeconds;
        await A.SubscriptionClient.UpsertSubscriptionAsync(new UpsertSubscriptionRequest { Subscription = subscription }, A.ServiceHeaders());
    }

    /// <summary>When the lease began, on Redis's clock: its expiry is that moment plus the TTL.</summary>
    private static DateTimeOffset StartOf(Lease lease) => lease.ExpiresAt.ToDateTimeOffset().AddSeconds(-lease.LeaseTtlSeconds);

    private static async Task<Lease> NextGrantAsync(AsyncServerStreamingCall<WaitForSeatResponse> wait)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (await wait.ResponseStream.MoveNext(timeout.Token))
        {
            if (wait.ResponseStream.Current.UpdateCase == WaitForSeatResponse.UpdateOneofCase.Granted)
            {
                return wait.ResponseStream.Current.Granted;
            }
        }

        throw new InvalidOperationException("the wait ended without a seat");
    }

    /// <summary>Waits until the machine's clock (Redis runs on it) passes a moment.</summary>
    private static async Task WaitUntilAsync(DateTimeOffset moment)
    {
        var remaining = moment - DateTimeOffset.UtcNow;
        if (remaining > TimeSpan.Zero)
        {
            await Task.Delay(remaining);
        }
    }

    private async Task<int> CountAsync(string sql, string account, string? agent = null)
    {
        await using var connection = new NpgsqlConnection(_database!.ConnectionString);
        return (int)await connection.ExecuteScalarAsync<long>(sql, new { account, agent });
    }
}
