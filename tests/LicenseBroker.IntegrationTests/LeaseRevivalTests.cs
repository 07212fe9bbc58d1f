using Dapper;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;
using Npgsql;
using PoolId = LicenseBroker.Domain.Seats.PoolId;

namespace LicenseBroker.IntegrationTests;

/// <summary>Brokers whose leases live two seconds: expiries come within a test.</summary>
public sealed class ShortLeaseFixture : BrokerFixture
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Seats:LeaseTtl"] = "00:00:02",
        ["Seats:HeartbeatInterval"] = "00:00:00.500",
    };
}

/// <summary>
/// Issue 31, revival: a lease whose heartbeats paused past its ttl (a laptop that slept, a phone between networks) is
/// given back to its app within the pool's revive window, with the same id and fencing token, when the seat was not
/// needed meanwhile; otherwise the app is told LEASE_EXPIRED with the true reason and its place in the queue. Only the
/// lease's own proof revives it: another agent's, device's or pool's, one past its grace, or one of a retired key
/// changes nothing.
/// </summary>
public sealed class LeaseRevivalTests : IClassFixture<ShortLeaseFixture>
{
    private const string Product = "remote-support";
    private readonly ShortLeaseFixture _fixture;

    public LeaseRevivalTests(ShortLeaseFixture fixture)
    {
        _fixture = fixture;
    }

    private BrokerTestHost Host => _fixture.Host;

    [Fact]
    public async Task A_lease_whose_heartbeats_paused_past_its_ttl_is_revived_with_its_id_when_nobody_needed_the_seat()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 2);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        var holder = Host.Agent(account, ids[0]);
        var lease = (await holder.AcquireAsync(Product, sessionId: "s-sleep")).Lease;
        Assert.Equal(lease.ExpiresAt.ToDateTimeOffset().AddMinutes(5), lease.GraceUntil.ToDateTimeOffset());

        // The laptop sleeps past the ttl; someone else's call drops the lease as expired meanwhile.
        await ExpiredAsync(account, lease, Host.Agent(account, ids[1]));

        var response = await holder.Raw.HeartbeatAsync(Beat(lease), holder.Headers);
        Assert.True(response.Revived);
        Assert.Equal((lease.LeaseId, lease.FencingToken, lease.SessionId), (response.Lease.LeaseId, response.Lease.FencingToken, response.Lease.SessionId));
        Assert.True(response.Lease.ExpiresAt.ToDateTimeOffset() > lease.ExpiresAt.ToDateTimeOffset());

        // It renews as any lease, holds a seat again, and the audit log tells the story. (Not a count of seats in use: the
        // bystander's 2-second lease may expire meanwhile on a loaded machine.)
        var renewed = await holder.Raw.HeartbeatAsync(Beat(response.Lease), holder.Headers);
        Assert.False(renewed.Revived);
        var sessions = await Host.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, Host.AdminHeaders(account));
        Assert.Contains(lease.LeaseId, sessions.Sessions.Select(s => s.LeaseId));
        await Eventually.Until(
            async () => await ActionsAsync(account, lease.LeaseId) is ["seat.granted", "seat.expired", "seat.revived"] ? "audited" : null,
            TimeSpan.FromSeconds(10),
            () => "seat.granted, seat.expired, seat.revived in the audit log");
        Assert.True(await holder.ReleaseAsync(renewed.Lease));
    }

    [Fact]
    public async Task With_a_waiter_the_waiter_gets_the_seat_and_the_reviver_is_told_lease_expired_with_its_place_in_its_language()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 1);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        var holder = Host.Agent(account, ids[0]);
        var lease = (await holder.AcquireAsync(Product, sessionId: "s-sleep")).Lease;
        using var waiter = await WaitStream.JoinAsync(Host.Agent(account, ids[1]), ids[1]);

        // The holder's app stops beating: the waiter's stream (which keeps the pool's clock moving) gets the seat.
        var granted = await waiter.Granted.Task.WaitAsync(TimeSpan.FromSeconds(20));

        var headers = new Metadata { holder.Headers[0], { "accept-language", "fr-FR" } };
        var refused = await Assert.ThrowsAsync<RpcException>(() => holder.Raw.HeartbeatAsync(Beat(lease), headers).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, refused.StatusCode);
        var info = Errors.Info(refused);
        Assert.Equal("LEASE_EXPIRED", info.Reason);
        Assert.Equal(("SEAT_TAKEN", "1", "1", "1"), (info.Metadata["why"], info.Metadata["queue_position"], info.Metadata["in_use"], info.Metadata["limit"]));
        var message = refused.GetRpcStatus()!.GetDetail<Google.Rpc.LocalizedMessage>();
        Assert.Equal("fr", message.Locale);
        Assert.Contains("numéro 1 dans la file d’attente", message.Message, StringComparison.Ordinal);

        // Nothing changed: the waiter's grant stands, the reviver has no seat. (Checked by lease, not by a count of seats
        // in use: the waiter's 2-second lease, which nobody renews here, may expire meanwhile on a loaded machine.)
        var sessions = await Host.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, Host.AdminHeaders(account));
        Assert.DoesNotContain(lease.LeaseId, sessions.Sessions.Select(s => s.LeaseId));
        Assert.NotEqual(lease.LeaseId, granted.LeaseId);
        await Host.Agent(account, ids[1]).ReleaseAsync(granted);
    }

    [Fact]
    public async Task A_newcomer_who_took_the_seat_keeps_it()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 1);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        var holder = Host.Agent(account, ids[0]);
        var lease = (await holder.AcquireAsync(Product)).Lease;
        var newcomer = Host.Agent(account, ids[1]);
        var taken = await Eventually.Until(
            async () =>
            {
                try
                {
                    return (await newcomer.AcquireAsync(Product, sessionId: "s-new")).Lease;
                }
                catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
                {
                    return null;
                }
            },
            TimeSpan.FromSeconds(20),
            "the newcomer to get the expired lease's seat");

        var refused = await Assert.ThrowsAsync<RpcException>(() => holder.Raw.HeartbeatAsync(Beat(lease), holder.Headers).ResponseAsync);
        Assert.Equal("SEAT_TAKEN", Errors.Info(refused).Metadata["why"]);
        Assert.Equal(taken.FencingToken, (await newcomer.HeartbeatAsync(taken)).FencingToken);
        Assert.True(await newcomer.ReleaseAsync(taken));
    }

    [Fact]
    public async Task Proofs_that_may_not_revive_a_lease_are_refused_and_change_nothing()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 3);
        var other = await _fixture.Seeder.AccountAsync(concurrentSeats: 3);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        var otherIds = await _fixture.Seeder.AgentsAsync(other, 1, "CONCURRENT", prefix: "agent");
        var holder = Host.Agent(account, ids[0]);
        var lease = (await holder.AcquireAsync(Product, sessionId: "s-victim")).Lease;
        await ExpiredAsync(account, lease, Host.Agent(account, ids[1]));

        // Another agent of the account, the holder on another device, an agent of another account (another pool) with
        // the same lease id, session and proof; the holder with the proof's grace stretched.
        var attempts = new (AgentClient Agent, HeartbeatRequest Request, string Why)[]
        {
            (Host.Agent(account, ids[1]), Beat(lease), "UNKNOWN"),
            (holder, Beat(lease, deviceId: "phone-9"), "UNPROVEN"),
            (Host.Agent(other, otherIds[0]), Beat(lease), "UNPROVEN"),
            (holder, Beat(lease, proof: Stretched(lease.LeaseProof)), "UNPROVEN"),
            (holder, Beat(lease, proof: string.Empty), "UNPROVEN"),
        };
        foreach (var (agent, request, why) in attempts)
        {
            var refused = await Assert.ThrowsAsync<RpcException>(() => agent.Raw.HeartbeatAsync(request, agent.Headers).ResponseAsync);
            Assert.Equal(StatusCode.NotFound, refused.StatusCode);
            Assert.Equal(why, Errors.Info(refused).Metadata["why"]);
        }

        // None of them brought the lease back. (Not a count of seats in use: the bystander's 2-second lease may expire
        // meanwhile on a loaded machine.)
        var sessions = await Host.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, Host.AdminHeaders(account));
        Assert.DoesNotContain(lease.LeaseId, sessions.Sessions.Select(s => s.LeaseId));
        // The audit log is written in the background: wait for the expiry to be in it, then nothing after it.
        await Eventually.Until(
            async () => (await ActionsAsync(account, lease.LeaseId)).Contains("seat.expired") ? "audited" : null,
            TimeSpan.FromSeconds(10),
            "seat.expired in the audit log");
        Assert.Equal(["seat.granted", "seat.expired"], await ActionsAsync(account, lease.LeaseId));

        // The lease's own proof still revives it: the refusals above changed nothing.
        Assert.True((await holder.Raw.HeartbeatAsync(Beat(lease), holder.Headers)).Revived);
    }

    [Fact]
    public async Task An_expired_lease_its_app_released_is_not_revived()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 2);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        var holder = Host.Agent(account, ids[0]);
        var lease = (await holder.AcquireAsync(Product)).Lease;
        await ExpiredAsync(account, lease, Host.Agent(account, ids[1]));

        var release = await Assert.ThrowsAsync<RpcException>(() => holder.ReleaseAsync(lease));
        Assert.Equal(StatusCode.NotFound, release.StatusCode);
        var refused = await Assert.ThrowsAsync<RpcException>(() => holder.Raw.HeartbeatAsync(Beat(lease), holder.Headers).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, refused.StatusCode);
    }

    [Fact]
    public async Task Past_the_revive_window_the_app_is_told_so()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 2);
        await SetRecoveryAsync(account, reviveSeconds: 0, graceSeconds: 0);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        var holder = Host.Agent(account, ids[0]);
        var lease = (await holder.AcquireAsync(Product)).Lease;
        Assert.Equal(lease.ExpiresAt, lease.GraceUntil);
        await ExpiredAsync(account, lease, Host.Agent(account, ids[1]));

        var refused = await Assert.ThrowsAsync<RpcException>(() => holder.Raw.HeartbeatAsync(Beat(lease), holder.Headers).ResponseAsync);
        Assert.Equal(("LEASE_EXPIRED", "WINDOW_PASSED", "0"), (Errors.Info(refused).Reason, Errors.Info(refused).Metadata["why"], Errors.Info(refused).Metadata["queue_position"]));
    }

    [Fact]
    public async Task After_a_loss_of_data_a_proof_whose_grace_has_passed_re_establishes_nothing()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 2);
        await SetRecoveryAsync(account, reviveSeconds: 0, graceSeconds: 0);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        var holder = Host.Agent(account, ids[0]);
        var lease = (await holder.AcquireAsync(Product)).Lease;
        var other = Host.Agent(account, ids[1]);
        var alive = (await other.AcquireAsync(Product)).Lease;

        // The other agent's app beats on while the holder's lease expires and its grace (none) passes.
        await Eventually.Until(
            async () =>
            {
                alive = await other.HeartbeatAsync(alive);
                return DateTimeOffset.UtcNow > lease.GraceUntil.ToDateTimeOffset().AddMilliseconds(300) ? "past" : null;
            },
            TimeSpan.FromSeconds(10),
            "the lease's grace to pass");

        // Redis loses the pool: the recovery window opens, and the holder whose lease is within its grace gets it back.
        await RedisDataLoss.LosePoolAsync(Host.Services, new PoolId(account, Product));
        var back = await other.HeartbeatAsync(alive);
        Assert.Equal(alive.FencingToken, back.FencingToken);
        var refused = await Assert.ThrowsAsync<RpcException>(() => holder.Raw.HeartbeatAsync(Beat(lease), holder.Headers).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, refused.StatusCode);

        // The holder past its grace is not among the sessions (by lease, not a count another 2-second lease could lower).
        var sessions = await Host.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, Host.AdminHeaders(account));
        Assert.DoesNotContain(lease.LeaseId, sessions.Sessions.Select(s => s.LeaseId));
    }

    [Fact]
    public async Task A_proof_signed_with_a_key_retired_after_its_overlap_revives_nothing()
    {
        static string Key(byte fill) => Convert.ToBase64String(Enumerable.Repeat(fill, 32).ToArray());
        var prefix = "rot" + Guid.NewGuid().ToString("N")[..8] + ":";
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 2);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        Lease lease;
        await using (var before = await BrokerTestHost.StartAsync(Host.Database, Settings(("k1", Key(1))), keyPrefix: prefix, signingKey: Host.SigningKey))
        {
            lease = (await before.Agent(account, ids[0]).AcquireAsync(Product)).Lease;
        }

        await using var after = await BrokerTestHost.StartAsync(Host.Database, Settings(("k2", Key(2))), keyPrefix: prefix, signingKey: Host.SigningKey);
        await ExpiredAsync(account, lease, after.Agent(account, ids[1]));
        var holder = after.Agent(account, ids[0]);
        var refused = await Assert.ThrowsAsync<RpcException>(() => holder.Raw.HeartbeatAsync(Beat(lease), holder.Headers).ResponseAsync);
        Assert.Equal("UNPROVEN", Errors.Info(refused).Metadata["why"]);

        static Dictionary<string, string?> Settings((string Id, string Secret) key) => new()
        {
            ["Seats:LeaseTtl"] = "00:00:02",
            ["Seats:HeartbeatInterval"] = "00:00:00.500",
            ["LeaseProofs:Keys:" + key.Id] = key.Secret,
            ["LeaseProofs:CurrentKey"] = key.Id,
        };
    }

    [Fact]
    public async Task Revive_window_and_outage_grace_are_subscription_settings_checked_at_the_edge()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 2);
        var stored = (await Host.SubscriptionClient.GetSubscriptionAsync(new GetSubscriptionRequest { AccountId = account, Product = Product }, Host.ServiceHeaders())).Subscription;
        Assert.Equal((300, 300), (stored.ReviveWindowSeconds, stored.OutageGraceSeconds));

        foreach (var (revive, grace, field) in new[] { (-1, 60, "revive_window_seconds"), (901, 60, "revive_window_seconds"), (60, -5, "outage_grace_seconds"), (60, int.MaxValue, "outage_grace_seconds") })
        {
            var subscription = stored.Clone();
            subscription.ReviveWindowSeconds = revive;
            subscription.OutageGraceSeconds = grace;
            var refused = await Assert.ThrowsAsync<RpcException>(() => Host.SubscriptionClient.UpsertSubscriptionAsync(new UpsertSubscriptionRequest { Subscription = subscription }, Host.ServiceHeaders()).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
            Assert.Contains(Errors.BadRequest(refused).FieldViolations, v => v.Field == "subscription." + field);
        }

        // Nothing changed; then a write that leaves them unset keeps them.
        await SetRecoveryAsync(account, reviveSeconds: 120, graceSeconds: 900);
        var unset = stored.Clone();
        unset.ClearReviveWindowSeconds();
        unset.ClearOutageGraceSeconds();
        unset.ConcurrentSeatLimit = 3;
        var saved = (await Host.SubscriptionClient.UpsertSubscriptionAsync(new UpsertSubscriptionRequest { Subscription = unset }, Host.ServiceHeaders())).Subscription;
        Assert.Equal((120, 900, 3), (saved.ReviveWindowSeconds, saved.OutageGraceSeconds, saved.ConcurrentSeatLimit));
    }

    private async Task SetRecoveryAsync(string account, int reviveSeconds, int graceSeconds)
    {
        var subscription = (await Host.SubscriptionClient.GetSubscriptionAsync(new GetSubscriptionRequest { AccountId = account, Product = Product }, Host.ServiceHeaders())).Subscription;
        subscription.ReviveWindowSeconds = reviveSeconds;
        subscription.OutageGraceSeconds = graceSeconds;
        await Host.SubscriptionClient.UpsertSubscriptionAsync(new UpsertSubscriptionRequest { Subscription = subscription }, Host.ServiceHeaders());
    }

    /// <summary>Waits until the lease's expiry has passed, then has another agent's call into the pool drop it as expired.</summary>
    private static async Task ExpiredAsync(string account, Lease lease, AgentClient bystander)
    {
        await Eventually.Until(
            () => Task.FromResult<string?>(DateTimeOffset.UtcNow > lease.ExpiresAt.ToDateTimeOffset().AddMilliseconds(300) ? "expired" : null),
            TimeSpan.FromSeconds(10),
            $"lease {lease.LeaseId} of {account} to expire");
        var own = (await bystander.AcquireAsync(Product, sessionId: "s-bystander")).Lease;
        Assert.NotEqual(lease.LeaseId, own.LeaseId);
    }

    private static HeartbeatRequest Beat(Lease lease, string deviceId = "desktop-1", string? proof = null) => new()
    {
        Product = Product, LeaseId = lease.LeaseId, SessionId = lease.SessionId, FencingToken = lease.FencingToken, LeaseProof = proof ?? lease.LeaseProof,
        Device = new Device { Id = deviceId, Platform = Platform.Windows }, SessionKind = SessionKind.Pending,
    };

    // The grace a proof carries, an hour later: what an app that wants to outlive its grace would send.
    private static string Stretched(string proof)
    {
        var parts = proof.Split('.');
        parts[2] = (long.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture) + 3_600_000).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return string.Join('.', parts);
    }

    private async Task<List<string>> ActionsAsync(string account, string leaseId)
    {
        await using var connection = new NpgsqlConnection(Host.Database.ConnectionString);
        return (await connection.QueryAsync<string>(
            "SELECT action FROM audit_events WHERE account_id = @account AND after->>'lease_id' = @leaseId ORDER BY event_seq", new { account, leaseId })).ToList();
    }
}
