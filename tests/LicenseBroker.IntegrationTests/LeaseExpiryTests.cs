using System.Diagnostics;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;

namespace LicenseBroker.IntegrationTests;

/// <summary>Leases that are not renewed expire on Redis's clock (TTL one second here) and free their seat.</summary>
public sealed class LeaseExpiryTests : IClassFixture<ShortLeaseBrokerFixture>
{
    private const string Product = "remote-support";
    private readonly ShortLeaseBrokerFixture _fixture;

    public LeaseExpiryTests(ShortLeaseBrokerFixture fixture)
    {
        _fixture = fixture;
    }

    [Fact]
    public async Task A_lease_not_renewed_frees_its_seat_after_its_ttl_and_then_heartbeats_are_not_found()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 1);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        var holder = _fixture.Host.Agent(account, ids[0]);
        var waiter = _fixture.Host.Agent(account, ids[1]);

        var clock = Stopwatch.StartNew();
        var lease = (await holder.AcquireAsync(Product)).Lease;
        var refused = await Assert.ThrowsAsync<RpcException>(() => waiter.AcquireAsync(Product));
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);

        // Wait on the condition: the waiter is admitted once the holder's lease has expired.
        var admitted = await Eventually.Until(
            async () =>
            {
                try
                {
                    return (await waiter.AcquireAsync(Product)).Lease;
                }
                catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
                {
                    return null;
                }
            },
            TimeSpan.FromSeconds(10),
            "the expired seat to be handed to the waiter");

        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(0.9), $"seat freed after {clock.Elapsed}, before the one-second TTL");
        Assert.True(admitted.FencingToken > lease.FencingToken);

        var late = await Assert.ThrowsAsync<RpcException>(() => holder.HeartbeatAsync(lease));
        Assert.Equal(StatusCode.NotFound, late.StatusCode);
        Assert.Equal("LEASE_EXPIRED", Errors.Info(late).Reason);

        // The admin list never shows the expired lease, and the audit log records the expiry.
        var sessions = await _fixture.Host.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, _fixture.Host.AdminHeaders(account));
        Assert.Equal(admitted.LeaseId, Assert.Single(sessions.Sessions).LeaseId);
        await Eventually.Until(
            async () =>
            {
                await using var connection = new Npgsql.NpgsqlConnection(_fixture.Host.Database.ConnectionString);
                var expired = await Dapper.SqlMapper.ExecuteScalarAsync<long>(
                    connection, "SELECT count(*) FROM audit_events WHERE account_id = @account AND action = 'seat.expired' AND after->>'lease_id' = @lease", new { account, lease = lease.LeaseId });
                return expired == 1 ? "audited" : null;
            },
            TimeSpan.FromSeconds(10),
            "the expiry in the audit log");
    }

    [Fact]
    public async Task Heartbeats_keep_a_lease_alive_past_its_ttl()
    {
        // A TTL of three seconds, beaten every 300 ms: a one-second TTL let a loaded CI machine stall a
        // single beat past the expiry (seen once in about forty runs with a CPU burner beside them).
        await using var host = await BrokerTestHost.StartAsync(_fixture.Host.Database, new Dictionary<string, string?>
        {
            ["Seats:LeaseTtl"] = "00:00:03",
            ["Seats:HeartbeatInterval"] = "00:00:00.300",
        });
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 1);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        var holder = host.Agent(account, ids[0]);
        var lease = (await holder.AcquireAsync(Product)).Lease;
        Assert.Equal(3, lease.LeaseTtlSeconds);

        // Beat at the advertised interval for well past one TTL; the lease must survive every beat.
        var until = DateTimeOffset.UtcNow.AddSeconds(5);
        while (DateTimeOffset.UtcNow < until)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(300));
            lease = await holder.HeartbeatAsync(lease);
        }

        var refused = await Assert.ThrowsAsync<RpcException>(() => host.Agent(account, ids[1]).AcquireAsync(Product));
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.True(await holder.ReleaseAsync(lease));
    }
}
