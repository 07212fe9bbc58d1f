using Dapper;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;
using Npgsql;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// The Seats &amp; Devices history outlives Redis: a Redis of the test's own is killed (kill -9) and
/// restarted empty, and today's peak and refusals are still reported.
/// </summary>
public sealed class UsageHistoryRestartTests
{
    private const string Product = "remote-support";

    [Fact]
    public async Task Peak_and_refusals_survive_a_redis_restart_without_data()
    {
        await using var redis = new RedisServerProcess();
        await redis.StartAsync(persistence: false);
        await using var database = await TestDatabase.CreateAsync();
        await using var host = await BrokerTestHost.StartAsync(database, new Dictionary<string, string?>
        {
            ["Redis:Configuration"] = redis.Configuration,
            ["Resilience:Redis:AttemptTimeout"] = "00:00:00.500",
            ["Resilience:Redis:BreakDuration"] = "00:00:00.500",
        });
        var seeder = new CatalogSeeder(database);
        var account = await seeder.AccountAsync(concurrentSeats: 3);
        var ids = await seeder.AgentsAsync(account, 5, "CONCURRENT");
        foreach (var id in ids.Take(3))
        {
            await host.Agent(account, id).AcquireAsync(Product);
        }

        foreach (var id in ids.Skip(3))
        {
            var refused = await Assert.ThrowsAsync<RpcException>(() => host.Agent(account, id).AcquireAsync(Product));
            Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        }

        await Eventually.Until(
            async () =>
            {
                await using var connection = new NpgsqlConnection(database.ConnectionString);
                var rows = await connection.ExecuteScalarAsync<long>(
                    "SELECT count(*) FROM usage_daily WHERE account_id = @account AND peak_concurrent = 3 AND refused = 2", new { account });
                return rows == 1 ? "persisted" : null;
            },
            TimeSpan.FromSeconds(10),
            "today's counters to reach PostgreSQL");

        await redis.KillAsync();
        await redis.StartAsync(persistence: false);

        var usage = await Eventually.Until(
            async () =>
            {
                try
                {
                    return await host.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, host.AdminHeaders(account));
                }
                catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable)
                {
                    return null;
                }
            },
            TimeSpan.FromSeconds(15),
            "the broker to reach the restarted Redis");
        var product = Assert.Single(usage.Products);
        Assert.Equal(0, product.ConcurrentSeatsInUse);
        Assert.Equal(3, product.ConcurrentPeakToday);
        Assert.Equal(2, product.RefusalsToday);

        var today = DateTime.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        var history = await host.AdminClient.GetUsageHistoryAsync(new GetUsageHistoryRequest { Product = Product, From = today, To = today }, host.AdminHeaders(account));
        var day = Assert.Single(history.Days);
        Assert.Equal((today, 3, 2, 3), (day.Day, day.PeakConcurrent, day.Refused, day.DistinctAgents));
    }
}
