using Dapper;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;
using Npgsql;

namespace LicenseBroker.IntegrationTests;

/// <summary>PostgreSQL stopped and started under load: the hot path runs from caches, nothing durable is lost.</summary>
public sealed class PostgresFaultTests
{
    private const string Product = "remote-support";

    [Fact]
    public async Task Postgres_outage_leaves_the_hot_path_working_refuses_admin_writes_and_loses_no_audit_row()
    {
        await using var postgres = new PostgresServerProcess();
        await postgres.InitializeAsync();
        var database = TestDatabase.Existing(postgres.ConnectionString);
        await using var host = await BrokerTestHost.StartAsync(database, new Dictionary<string, string?>
        {
            ["Resilience:Postgres:AttemptTimeout"] = "00:00:01",
            ["Resilience:PostgresWrites:AttemptTimeout"] = "00:00:01",
        });
        var seeder = new CatalogSeeder(database);
        var account = await seeder.AccountAsync(concurrentSeats: 20, namedSeats: 5);
        var named = await seeder.AgentsAsync(account, 3, "NAMED", prefix: "named");
        var shared = await seeder.AgentsAsync(account, 10, "CONCURRENT", prefix: "shared");
        var check = new CheckEntitlementRequest { AccountId = account, AgentId = shared[0], Product = Product };

        // Warm the caches, and let the audit rows of the warm-up reach the table.
        foreach (var id in named.Concat(shared))
        {
            await host.Agent(account, id).ReleaseAsync((await host.Agent(account, id).AcquireAsync(Product)).Lease);
        }

        await host.EntitlementClient.CheckEntitlementAsync(check, host.ServiceHeaders());
        await Eventually.Until(async () => await CountAuditAsync(postgres, account) == 26 ? "written" : null, TimeSpan.FromSeconds(10), "warm-up audit rows");

        await postgres.StopAsync();

        // Hot path from caches: acquire, heartbeat, release, entitlement checks.
        var grantsDuringOutage = 0;
        foreach (var id in named.Concat(shared))
        {
            var agent = host.Agent(account, id);
            var lease = (await agent.AcquireAsync(Product)).Lease;
            lease = await agent.HeartbeatAsync(lease);
            Assert.True(await agent.ReleaseAsync(lease));
            grantsDuringOutage++;
        }

        Assert.Equal(EntitlementStatus.Entitled, (await host.EntitlementClient.CheckEntitlementAsync(check, host.ServiceHeaders())).Status);

        // Admin writes are refused as UNAVAILABLE, quickly.
        var started = DateTime.UtcNow;
        var write = await Assert.ThrowsAsync<RpcException>(async () => await host.AdminClient.AssignSeatAsync(
            new AssignSeatRequest { AgentId = shared[1], Product = Product, SeatType = SeatType.Named }, host.AdminHeaders(account)));
        Assert.True(write.StatusCode == StatusCode.Unavailable, write.Status.ToString());
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(8));

        await postgres.StartAsync();

        // Every audit event of the outage arrives (granted and released for each agent), and the named seats are intact.
        await Eventually.Until(
            async () => await CountAuditAsync(postgres, account) == 26 + (2 * grantsDuringOutage) ? "written" : null,
            TimeSpan.FromSeconds(40),
            "the audit rows of the outage");
        await using var connection = new NpgsqlConnection(postgres.ConnectionString);
        Assert.Equal(3, await connection.ExecuteScalarAsync<long>(
            "SELECT count(*) FROM seat_assignments WHERE account_id = @account AND seat_type = 'NAMED'", new { account }));
    }

    private static async Task<long> CountAuditAsync(PostgresServerProcess postgres, string account)
    {
        try
        {
            await using var connection = new NpgsqlConnection(postgres.ConnectionString);
            return await connection.ExecuteScalarAsync<long>(
                "SELECT count(*) FROM audit_events WHERE account_id = @account AND action IN ('seat.granted', 'seat.released')", new { account });
        }
        catch (NpgsqlException)
        {
            return -1;
        }
    }
}
