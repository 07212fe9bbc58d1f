using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;

namespace LicenseBroker.IntegrationTests;

/// <summary>AcquireSeat, Heartbeat and ReleaseSeat end to end, over gRPC, on a real Redis and PostgreSQL.</summary>
public sealed class SeatLifecycleTests(BrokerFixture fixture) : SeatLifecycleScenarios(fixture), IClassFixture<BrokerFixture>;

/// <summary>The same lifecycle on a three-master Redis Cluster.</summary>
public sealed class ClusterSeatLifecycleTests(ClusterBrokerFixture fixture) : SeatLifecycleScenarios(fixture), IClassFixture<ClusterBrokerFixture>;

/// <summary>The lifecycle scenarios, run against each kind of Redis deployment.</summary>
public abstract class SeatLifecycleScenarios
{
    private const string Product = "remote-support";
    private readonly BrokerFixture _fixture;

    protected SeatLifecycleScenarios(BrokerFixture fixture)
    {
        _fixture = fixture;
    }

    [Fact]
    public async Task Acquire_heartbeat_release_round_trip()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 1);
        var (agent, other) = await TwoConcurrentAgents(account);

        var acquired = (await agent.AcquireAsync(Product)).Lease;
        Assert.Equal(SeatType.Concurrent, acquired.SeatType);
        Assert.True(acquired.FencingToken > 0);
        if (_fixture is ClusterBrokerFixture)
        {
            // Redis Cluster: classic leases only (LeaseLayoutGate), 22 random characters.
            Assert.Matches("^ls_[A-Za-z0-9_-]{22}$", acquired.LeaseId);
        }
        else
        {
            // A compact lease id (every replica reads them): class c (shared seat), the fence, 22 random characters.
            Assert.Matches("^lc_[1-9][0-9]*_[A-Za-z0-9_-]{22}$", acquired.LeaseId);
            Assert.StartsWith($"lc_{acquired.FencingToken}_", acquired.LeaseId, StringComparison.Ordinal);
        }
        Assert.Equal(90, acquired.LeaseTtlSeconds);
        Assert.Equal(30, acquired.HeartbeatIntervalSeconds);
        Assert.True(acquired.ExpiresAt.ToDateTimeOffset() > DateTimeOffset.UtcNow.AddSeconds(60));

        var renewed = await agent.HeartbeatAsync(acquired);
        Assert.Equal(acquired.LeaseId, renewed.LeaseId);
        Assert.Equal(acquired.FencingToken, renewed.FencingToken);
        Assert.True(renewed.ExpiresAt >= acquired.ExpiresAt);

        // The single seat is taken until the release.
        await AssertPoolFull(other);
        Assert.True(await agent.ReleaseAsync(acquired));
        var next = (await other.AcquireAsync(Product)).Lease;
        Assert.True(next.FencingToken > acquired.FencingToken, "fencing tokens grow with every grant");
    }

    [Fact]
    public async Task Eleventh_agent_is_refused_with_the_exact_message_and_details_then_admitted_after_a_release()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 10);
        var agents = await _fixture.Seeder.AgentsAsync(account, 11, "CONCURRENT");
        var leases = new List<Lease>();
        foreach (var id in agents.Take(10))
        {
            leases.Add((await _fixture.Host.Agent(account, id).AcquireAsync(Product)).Lease);
        }

        var eleventh = _fixture.Host.Agent(account, agents[10]);
        var refused = await Assert.ThrowsAsync<RpcException>(() => eleventh.AcquireAsync(Product));
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Equal("All shared seats are in use. To start a session, please wait for a seat to become available.", refused.Status.Detail);
        var info = Errors.Info(refused);
        Assert.Equal("ALL_SHARED_SEATS_IN_USE", info.Reason);
        Assert.Equal("10", info.Metadata["in_use"]);
        Assert.Equal("10", info.Metadata["limit"]);

        Assert.True(await _fixture.Host.Agent(account, agents[3]).ReleaseAsync(leases[3]));
        var admitted = (await eleventh.AcquireAsync(Product)).Lease;
        Assert.Equal(SeatType.Concurrent, admitted.SeatType);
    }

    [Fact]
    public async Task One_agent_on_desktop_and_phone_holds_one_seat()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 2);
        var agents = await _fixture.Seeder.AgentsAsync(account, 3, "CONCURRENT");
        var carol = _fixture.Host.Agent(account, agents[0]);

        var desktop = (await carol.AcquireAsync(Product, deviceId: "desktop", platform: Platform.Windows)).Lease;
        var phone = (await carol.AcquireAsync(Product, deviceId: "phone", platform: Platform.Android, kind: SessionKind.Attended)).Lease;
        Assert.NotEqual(desktop.LeaseId, phone.LeaseId);

        // Two leases, one seat: the second seat is still free for someone else, and then the pool is full.
        await _fixture.Host.Agent(account, agents[1]).AcquireAsync(Product);
        await AssertPoolFull(_fixture.Host.Agent(account, agents[2]));

        // The seat frees only with the agent's last lease.
        Assert.True(await carol.ReleaseAsync(desktop));
        await AssertPoolFull(_fixture.Host.Agent(account, agents[2]));
        Assert.True(await carol.ReleaseAsync(phone));
        await _fixture.Host.Agent(account, agents[2]).AcquireAsync(Product);
    }

    [Fact]
    public async Task Retried_acquire_with_the_same_session_returns_the_same_lease_and_takes_no_second_seat()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 1);
        var (agent, other) = await TwoConcurrentAgents(account);

        var first = await agent.AcquireAsync(Product, sessionId: "login-42");
        var retry = await agent.AcquireAsync(Product, sessionId: "login-42");
        Assert.False(first.Resumed);
        Assert.True(retry.Resumed);
        Assert.Equal(first.Lease.LeaseId, retry.Lease.LeaseId);
        Assert.Equal(first.Lease.FencingToken, retry.Lease.FencingToken);

        // A second, different session of the same agent shares the seat as well.
        await agent.AcquireAsync(Product, sessionId: "login-43");
        await AssertPoolFull(other);
    }

    [Fact]
    public async Task Named_seat_agent_gets_in_while_the_pool_is_full()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 1, namedSeats: 1);
        var (concurrent, other) = await TwoConcurrentAgents(account);
        var named = (await _fixture.Seeder.AgentsAsync(account, 1, "NAMED", prefix: "named"))[0];

        await concurrent.AcquireAsync(Product);
        await AssertPoolFull(other);

        var lease = (await _fixture.Host.Agent(account, named).AcquireAsync(Product)).Lease;
        Assert.Equal(SeatType.Named, lease.SeatType);

        // The named holder took nothing from the pool.
        await AssertPoolFull(other);
    }

    [Fact]
    public async Task Agent_without_a_seat_is_denied()
    {
        var account = await _fixture.Seeder.AccountAsync();
        var agent = (await _fixture.Seeder.AgentsAsync(account, 1, seatType: null))[0];

        var denied = await Assert.ThrowsAsync<RpcException>(() => _fixture.Host.Agent(account, agent).AcquireAsync(Product));
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        Assert.Equal("NO_SEAT_ASSIGNED", Errors.Info(denied).Reason);
    }

    [Fact]
    public async Task Expired_or_missing_subscription_is_a_failed_precondition()
    {
        var expired = await _fixture.Seeder.AccountAsync(validUntil: DateTimeOffset.UtcNow.AddDays(-1));
        var agent = (await _fixture.Seeder.AgentsAsync(expired, 1, "CONCURRENT"))[0];
        var refused = await Assert.ThrowsAsync<RpcException>(() => _fixture.Host.Agent(expired, agent).AcquireAsync(Product));
        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Equal("NO_ACTIVE_SUBSCRIPTION", Errors.Info(refused).Reason);

        var notSubscribed = await Assert.ThrowsAsync<RpcException>(() => _fixture.Host.Agent(expired, agent).AcquireAsync("service-desk"));
        Assert.Equal(StatusCode.FailedPrecondition, notSubscribed.StatusCode);
    }

    [Fact]
    public async Task Release_is_idempotent_and_unknown_leases_are_not_found()
    {
        var account = await _fixture.Seeder.AccountAsync();
        var (agent, _) = await TwoConcurrentAgents(account);
        var lease = (await agent.AcquireAsync(Product)).Lease;

        Assert.True(await agent.ReleaseAsync(lease));
        Assert.False(await agent.ReleaseAsync(lease));

        var heartbeat = await Assert.ThrowsAsync<RpcException>(() => agent.HeartbeatAsync(lease));
        Assert.Equal(StatusCode.NotFound, heartbeat.StatusCode);
        Assert.Equal("LEASE_EXPIRED", Errors.Info(heartbeat).Reason);

        var unknown = lease.Clone();
        unknown.LeaseId = "ls_AAAAAAAAAAAAAAAAAAAAAA";
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => agent.ReleaseAsync(unknown))).StatusCode);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => agent.HeartbeatAsync(unknown))).StatusCode);
    }

    [Fact]
    public async Task An_agent_cannot_heartbeat_or_release_another_agents_lease()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 1);
        var (owner, intruder) = await TwoConcurrentAgents(account);
        var lease = (await owner.AcquireAsync(Product)).Lease;

        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => intruder.HeartbeatAsync(lease))).StatusCode);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => intruder.ReleaseAsync(lease))).StatusCode);

        // The owner's lease is untouched.
        Assert.Equal(lease.LeaseId, (await owner.HeartbeatAsync(lease)).LeaseId);
    }

    [Fact]
    public async Task Accounts_do_not_share_pools()
    {
        var first = await _fixture.Seeder.AccountAsync(concurrentSeats: 1);
        var second = await _fixture.Seeder.AccountAsync(concurrentSeats: 1);
        var a = (await _fixture.Seeder.AgentsAsync(first, 1, "CONCURRENT"))[0];
        var b = (await _fixture.Seeder.AgentsAsync(second, 1, "CONCURRENT"))[0];

        await _fixture.Host.Agent(first, a).AcquireAsync(Product);
        var lease = (await _fixture.Host.Agent(second, b).AcquireAsync(Product)).Lease;
        Assert.Equal(SeatType.Concurrent, lease.SeatType);
    }

    [Fact]
    public async Task Monitoring_admits_every_agent_of_the_account_without_limit()
    {
        var account = await _fixture.Seeder.AccountAsync(product: "monitoring", concurrentSeats: 0, namedSeats: 0);
        var agents = await _fixture.Seeder.AgentsAsync(account, 3, seatType: null);
        foreach (var id in agents)
        {
            var lease = (await _fixture.Host.Agent(account, id).AcquireAsync("monitoring")).Lease;
            Assert.Equal(SeatType.Unlimited, lease.SeatType);
        }

        var stranger = await Assert.ThrowsAsync<RpcException>(() => _fixture.Host.Agent(account, "not-an-agent").AcquireAsync("monitoring"));
        Assert.Equal(StatusCode.PermissionDenied, stranger.StatusCode);
    }

    private async Task<(AgentClient First, AgentClient Second)> TwoConcurrentAgents(string account)
    {
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        return (_fixture.Host.Agent(account, ids[0]), _fixture.Host.Agent(account, ids[1]));
    }

    private static async Task AssertPoolFull(AgentClient agent)
    {
        var refused = await Assert.ThrowsAsync<RpcException>(() => agent.AcquireAsync(Product));
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
    }
}
