using Grpc.Core;
using Grpc.Health.V1;
using LicenseBroker.IntegrationTests.Infrastructure;

namespace LicenseBroker.IntegrationTests;

/// <summary>A backend that cannot be reached answers UNAVAILABLE quickly and health says NOT_SERVING.</summary>
public sealed class BackendOutageTests
{
    [Fact]
    public async Task Unreachable_redis_gives_unavailable_and_not_serving()
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var host = await BrokerTestHost.StartAsync(database, new Dictionary<string, string?>
        {
            // Nothing listens on port 1.
            ["Redis:Configuration"] = "127.0.0.1:1,abortConnect=false,connectTimeout=500,asyncTimeout=500",
        });
        var seeder = new CatalogSeeder(database);
        var account = await seeder.AccountAsync();
        var agentId = (await seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];

        var started = DateTime.UtcNow;
        var failure = await Assert.ThrowsAsync<RpcException>(() => host.Agent(account, agentId).AcquireAsync("remote-support"));
        Assert.Equal(StatusCode.Unavailable, failure.StatusCode);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(8), "the outage must be reported within the call's deadline");
        Assert.DoesNotContain("   at ", failure.Status.Detail, StringComparison.Ordinal);

        var health = await new Health.HealthClient(host.Channel).CheckAsync(new HealthCheckRequest());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, health.Status);
        var seats = await new Health.HealthClient(host.Channel).CheckAsync(new HealthCheckRequest { Service = "licensebroker.v1.SeatService" });
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, seats.Status);
        var billing = await new Health.HealthClient(host.Channel).CheckAsync(new HealthCheckRequest { Service = "licensebroker.v1.SubscriptionService" });
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, billing.Status);
    }

    [Fact]
    public async Task Unreachable_postgres_with_a_cold_cache_gives_unavailable_and_not_serving()
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var host = await BrokerTestHost.StartAsync(database, new Dictionary<string, string?>
        {
            ["Postgres:ConnectionString"] = "Host=127.0.0.1;Port=1;Database=none;Username=none;Timeout=1",
            ["Postgres:MigrateOnStart"] = "false",
        });

        var failure = await Assert.ThrowsAsync<RpcException>(() => host.Agent("acct", "agent").AcquireAsync("remote-support"));
        Assert.Equal(StatusCode.Unavailable, failure.StatusCode);

        var health = await new Health.HealthClient(host.Channel).CheckAsync(new HealthCheckRequest());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, health.Status);
    }
}
