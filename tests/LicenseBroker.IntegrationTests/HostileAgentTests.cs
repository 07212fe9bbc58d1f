using Grpc.Core;
using LicenseBroker.Contracts.V1;
using FencingTokens = LicenseBroker.Domain.Seats.FencingTokens;
using PoolId = LicenseBroker.Domain.Seats.PoolId;
using SeatBroker = LicenseBroker.Domain.Seats.SeatBroker;
using LicenseBroker.IntegrationTests.Infrastructure;
using LicenseBroker.Storage.Redis;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Agents with valid tokens who attack the seat protocol: other agents' lease ids (same and other
/// account), fencing tokens from negative to int64-extreme, forged, replayed and foreign lease proofs.
/// Every attack gets the right status and leaves the pool's Redis keys and the audit log as they were;
/// after Redis lost data, only the holder's own proof gets its lease back.
/// </summary>
public sealed class HostileAgentTests : IClassFixture<BrokerFixture>
{
    private const string Product = "remote-support";
    private const long MaxFence = FencingTokens.MaxValue;
    private readonly BrokerFixture _fixture;

    public HostileAgentTests(BrokerFixture fixture)
    {
        _fixture = fixture;
    }

    /// <summary>Finding 1: X heartbeats Y's lease id with a larger token and its own session.</summary>
    [Fact]
    public async Task Heartbeat_on_another_agents_lease_is_not_found_and_takes_nothing_over()
    {
        var (host, a, b) = await TwoAccountsAsync();
        var victim = await a.Victim.AcquireAsync(Product);
        var foreign = await b.Victim.AcquireAsync(Product);
        await host.AuditWrittenAsync();
        var before = await SnapshotAsync(host, a, b);

        foreach (var lease in new[] { victim.Lease, foreign.Lease })
        {
            await AssertStatus(StatusCode.NotFound, a.Thief.Raw.HeartbeatAsync(
                new HeartbeatRequest { Product = Product, LeaseId = lease.LeaseId, FencingToken = lease.FencingToken + 1000, SessionId = "x-sess", Device = Device(), SessionKind = SessionKind.Pending },
                a.Thief.Headers).ResponseAsync);
            await AssertStatus(StatusCode.NotFound, a.Thief.Raw.HeartbeatAsync(
                new HeartbeatRequest { Product = Product, LeaseId = lease.LeaseId, FencingToken = lease.FencingToken, SessionId = lease.SessionId, LeaseProof = lease.LeaseProof, Device = Device(), SessionKind = SessionKind.Pending },
                a.Thief.Headers).ResponseAsync);
        }

        await host.AuditWrittenAsync();
        Assert.Equal(before, await SnapshotAsync(host, a, b));
        var renewed = await a.Victim.HeartbeatAsync(victim.Lease);
        Assert.Equal(victim.Lease.FencingToken, renewed.FencingToken);
        Assert.Equal(1, (await host.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, host.AdminHeaders(a.Account))).TotalSessions);
    }

    /// <summary>Finding 2: a member without a seat sends a huge token on an unknown lease id.</summary>
    [Fact]
    public async Task A_member_without_a_seat_cannot_lock_newcomers_out_with_a_large_fencing_token()
    {
        var (host, a, b) = await TwoAccountsAsync();
        await a.Victim.AcquireAsync(Product);
        await host.AuditWrittenAsync();
        var before = await SnapshotAsync(host, a, b);

        foreach (var token in new[] { 1_000_000_000_000_000L, MaxFence })
        {
            await AssertStatus(StatusCode.NotFound, a.Seatless.Raw.HeartbeatAsync(
                new HeartbeatRequest { Product = Product, LeaseId = SeatBroker.NewLeaseId(), FencingToken = token, SessionId = "s", Device = Device(), SessionKind = SessionKind.Pending },
                a.Seatless.Headers).ResponseAsync);
            await AssertStatus(StatusCode.NotFound, a.Thief.Raw.HeartbeatAsync(
                new HeartbeatRequest { Product = Product, LeaseId = SeatBroker.NewLeaseId(), FencingToken = token, SessionId = "s", Device = Device(), SessionKind = SessionKind.Pending },
                a.Thief.Headers).ResponseAsync);
        }

        await host.AuditWrittenAsync();
        Assert.Equal(before, await SnapshotAsync(host, a, b));

        // A newcomer is admitted at once, with the next token of the pool.
        var newcomer = await a.Thief.AcquireAsync(Product);
        Assert.Equal(2, newcomer.Lease.FencingToken);
    }

    /// <summary>Finding 3: int64-extreme tokens would turn the fence into a float and break INCR forever.</summary>
    [Fact]
    public async Task Fencing_tokens_out_of_range_are_invalid_and_cannot_brick_the_pool()
    {
        var (host, a, b) = await TwoAccountsAsync();
        var victim = await a.Victim.AcquireAsync(Product);
        await host.AuditWrittenAsync();
        var before = await SnapshotAsync(host, a, b);

        foreach (var token in new[] { -1L, long.MinValue, MaxFence + 1, 100_000_000_000_000_000L, long.MaxValue })
        {
            var error = await AssertStatus(StatusCode.InvalidArgument, a.Thief.Raw.HeartbeatAsync(
                new HeartbeatRequest { Product = Product, LeaseId = victim.Lease.LeaseId, FencingToken = token, SessionId = "s", LeaseProof = victim.Lease.LeaseProof, Device = Device(), SessionKind = SessionKind.Pending },
                a.Thief.Headers).ResponseAsync);
            Assert.Contains(Errors.BadRequest(error).FieldViolations, v => v.Field == "fencing_token");
        }

        await host.AuditWrittenAsync();
        Assert.Equal(before, await SnapshotAsync(host, a, b));
        Assert.Equal(2, (await a.Thief.AcquireAsync(Product)).Lease.FencingToken);
    }

    /// <summary>Every SeatService RPC with another agent's lease id, every bad token and every bad proof: nothing changes.</summary>
    [Fact]
    public async Task Every_seat_rpc_refuses_foreign_leases_bad_tokens_and_bad_proofs_and_changes_nothing()
    {
        var (host, a, b) = await TwoAccountsAsync();
        var victim = (await a.Victim.AcquireAsync(Product)).Lease;
        var own = (await a.Thief.AcquireAsync(Product)).Lease;
        var foreign = (await b.Victim.AcquireAsync(Product)).Lease;
        await host.AuditWrittenAsync();
        var before = await SnapshotAsync(host, a, b);

        var proofs = new[]
        {
            string.Empty,
            victim.LeaseProof,
            own.LeaseProof,
            foreign.LeaseProof,
            Forged(victim.LeaseProof),
            "lp2.nokey." + string.Join('.', victim.LeaseProof.Split('.')[2..]),
            "lp3." + victim.LeaseProof[4..],
            "lp1." + victim.LeaseProof[4..],
            "lp2.auth0.1.A",
            "lp2.auth0." + victim.LeaseProof.Split('.')[2] + "." + victim.LeaseProof.Split('.')[3][..42],
            StretchedGrace(victim.LeaseProof),
            "...",
        };
        var tokens = new[] { 0L, 1L, victim.FencingToken, victim.FencingToken + 1000, 1_000_000_000_000_000L, MaxFence };
        var calls = 0;
        foreach (var lease in new[] { victim, foreign })
        {
            foreach (var token in tokens)
            {
                foreach (var proof in proofs)
                {
                    foreach (var session in new[] { lease.SessionId, own.SessionId, "x-sess" })
                    {
                        calls++;
                        await AssertStatus(StatusCode.NotFound, a.Thief.Raw.HeartbeatAsync(
                            new HeartbeatRequest { Product = Product, LeaseId = lease.LeaseId, FencingToken = token, SessionId = session, LeaseProof = proof, Device = Device(), SessionKind = SessionKind.Attended },
                            a.Thief.Headers).ResponseAsync);
                    }
                }
            }

            await AssertStatus(StatusCode.NotFound, a.Thief.Raw.ReleaseSeatAsync(new ReleaseSeatRequest { Product = Product, LeaseId = lease.LeaseId }, a.Thief.Headers).ResponseAsync);
            using var watch = a.Thief.Raw.WatchLease(new WatchLeaseRequest { Product = Product, LeaseId = lease.LeaseId }, a.Thief.Headers, deadline: DateTime.UtcNow.AddSeconds(10));
            Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal(LeaseStatus.Ended, watch.ResponseStream.Current.Status);
        }

        foreach (var token in new[] { -1L, long.MinValue, MaxFence + 1, long.MaxValue })
        {
            var error = await AssertStatus(StatusCode.InvalidArgument, a.Thief.Raw.HeartbeatAsync(
                new HeartbeatRequest { Product = Product, LeaseId = own.LeaseId, FencingToken = token, SessionId = own.SessionId, LeaseProof = own.LeaseProof }, a.Thief.Headers).ResponseAsync);
            Assert.Contains(Errors.BadRequest(error).FieldViolations, v => v.Field == "fencing_token");
        }

        foreach (var proof in new[] { new string('a', 200), own.LeaseProof + "\0", own.LeaseProof.Replace('.', '/'), "lp2.auth0.1.é" })
        {
            var error = await AssertStatus(StatusCode.InvalidArgument, a.Thief.Raw.HeartbeatAsync(
                new HeartbeatRequest { Product = Product, LeaseId = own.LeaseId, FencingToken = own.FencingToken, SessionId = own.SessionId, LeaseProof = proof }, a.Thief.Headers).ResponseAsync);
            Assert.Contains(Errors.BadRequest(error).FieldViolations, v => v.Field == "lease_proof");
        }

        await host.AuditWrittenAsync();
        Assert.Equal(before, await SnapshotAsync(host, a, b));
        Assert.True(calls > 200);

        // AcquireSeat and WaitForSeat with the victim's session id give the thief its own lease, never the victim's.
        var acquired = await a.Thief.AcquireAsync(Product, sessionId: victim.SessionId);
        Assert.NotEqual(victim.LeaseId, acquired.Lease.LeaseId);
        using (var wait = a.Thief.Raw.WaitForSeat(
            new WaitForSeatRequest { Product = Product, SessionId = victim.SessionId, Device = Device(), SessionKind = SessionKind.Pending }, a.Thief.Headers, deadline: DateTime.UtcNow.AddSeconds(10)))
        {
            Assert.True(await wait.ResponseStream.MoveNext(CancellationToken.None));
            Assert.NotEqual(victim.LeaseId, wait.ResponseStream.Current.Granted.LeaseId);
        }

        Assert.Equal(victim.FencingToken, (await a.Victim.HeartbeatAsync(victim)).FencingToken);
    }

    /// <summary>After Redis lost the pool's data, a lease comes back only on its holder's own proof, and only once.</summary>
    [Fact]
    public async Task After_data_loss_only_the_holders_own_proof_re_establishes_its_lease()
    {
        var (host, a, b) = await TwoAccountsAsync();
        var victim = (await a.Victim.AcquireAsync(Product)).Lease;
        var own = (await a.Thief.AcquireAsync(Product)).Lease;
        var foreign = (await b.Victim.AcquireAsync(Product)).Lease;
        await LoseRedisDataAsync(host, new PoolId(a.Account, Product));

        // The thief with the victim's lease id: whatever proof, never the victim's lease.
        foreach (var proof in new[] { victim.LeaseProof, own.LeaseProof, foreign.LeaseProof, Forged(victim.LeaseProof) })
        {
            await AssertStatus(StatusCode.NotFound, a.Thief.Raw.HeartbeatAsync(
                new HeartbeatRequest { Product = Product, LeaseId = victim.LeaseId, FencingToken = victim.FencingToken, SessionId = victim.SessionId, LeaseProof = proof, Device = Device(), SessionKind = SessionKind.Pending },
                a.Thief.Headers).ResponseAsync);
        }

        // The victim with a proof of another pool (same agent id in account B): not a proof for this pool.
        await AssertStatus(StatusCode.NotFound, a.Victim.Raw.HeartbeatAsync(
            new HeartbeatRequest { Product = Product, LeaseId = foreign.LeaseId, FencingToken = foreign.FencingToken, SessionId = foreign.SessionId, LeaseProof = foreign.LeaseProof, Device = Device(), SessionKind = SessionKind.Pending },
            a.Victim.Headers).ResponseAsync);

        // The victim's own heartbeat without its proof re-establishes nothing; with it, the lease is back with its token.
        await AssertStatus(StatusCode.NotFound, a.Victim.Raw.HeartbeatAsync(
            new HeartbeatRequest { Product = Product, LeaseId = victim.LeaseId, FencingToken = victim.FencingToken, SessionId = victim.SessionId, Device = Device(), SessionKind = SessionKind.Pending },
            a.Victim.Headers).ResponseAsync);
        var back = await a.Victim.HeartbeatAsync(victim);
        Assert.Equal(victim.FencingToken, back.FencingToken);
        Assert.NotEmpty(back.LeaseProof);

        // Now live: the thief still cannot take it, and the pool counts one holder for it.
        await AssertStatus(StatusCode.NotFound, a.Thief.Raw.HeartbeatAsync(
            new HeartbeatRequest { Product = Product, LeaseId = victim.LeaseId, FencingToken = victim.FencingToken, SessionId = victim.SessionId, LeaseProof = own.LeaseProof, Device = Device(), SessionKind = SessionKind.Pending },
            a.Thief.Headers).ResponseAsync);
        var sessions = await host.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, host.AdminHeaders(a.Account));
        Assert.Equal([(victim.LeaseId, "agent-001")], sessions.Sessions.Select(s => (s.LeaseId, s.AgentId)));

        // Re-established leases are audited as such.
        await host.AuditWrittenAsync();
        await using var connection = new Npgsql.NpgsqlConnection(host.Database.ConnectionString);
        Assert.Equal(1, await Dapper.SqlMapper.ExecuteScalarAsync<int>(connection,
            "SELECT count(*) FROM audit_events WHERE account_id = @account AND action = 'seat.reestablished'", new { account = a.Account }));
    }

    private static Device Device() => new() { Id = "desktop-1", Platform = Platform.Windows };

    /// <summary>The proof with one character of its MAC changed.</summary>
    private static string Forged(string proof) => proof[..^2] + (proof[^2] == 'A' ? 'B' : 'A') + proof[^1];

    // The grace a proof carries, an hour later: what an app that wants to outlive its grace would send.
    private static string StretchedGrace(string proof)
    {
        var parts = proof.Split('.');
        parts[2] = (long.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture) + 3_600_000).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return string.Join('.', parts);
    }

    private static async Task<RpcException> AssertStatus(StatusCode expected, Task call)
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => call);
        Assert.True(expected == error.StatusCode, $"expected {expected}, got {error.StatusCode}: {error.Status.Detail}");
        return error;
    }

    private static async Task LoseRedisDataAsync(BrokerTestHost host, PoolId pool)
    {
        await RedisDataLoss.LosePoolAsync(host.Services, pool);
    }

    private async Task<(BrokerTestHost Host, Side A, Side B)> TwoAccountsAsync()
    {
        var host = _fixture.Host;
        var seeder = _fixture.Seeder;
        async Task<Side> SideAsync()
        {
            var account = await seeder.AccountAsync(concurrentSeats: 3);
            var agents = await seeder.AgentsAsync(account, 2, "CONCURRENT");
            var seatless = await seeder.AgentsAsync(account, 1, null, prefix: "seatless");
            return new Side(account, host.Agent(account, agents[0]), host.Agent(account, agents[1]), host.Agent(account, seatless[0]));
        }

        return (host, await SideAsync(), await SideAsync());
    }

    private static async Task<string> SnapshotAsync(BrokerTestHost host, Side a, Side b) =>
        await StateSnapshot.TakeAsync(host, a.Account) + await StateSnapshot.TakeAsync(host, b.Account);

    private sealed record Side(string Account, AgentClient Victim, AgentClient Thief, AgentClient Seatless);
}
