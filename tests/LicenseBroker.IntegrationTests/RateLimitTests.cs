using Grpc.Core;
using Google.Rpc;
using LicenseBroker.IntegrationTests.Infrastructure;

namespace LicenseBroker.IntegrationTests;

/// <summary>Abuse limits on AcquireSeat, counted in Redis so they hold across replicas.</summary>
public sealed class RateLimitTests : ReplicaPair
{
    private const string Product = "remote-support";
    protected override Dictionary<string, string?> Settings => new()
    {
        ["Seats:RateWindow"] = "00:00:30",
        ["Seats:AcquiresPerAgentPerWindow"] = "4",
        ["Seats:AcquiresPerPoolPerWindow"] = "10",

        // Every attempt counts, so a call cannot be retried here: a Redis reply slowed past the usual
        // 2 s by a loaded CI machine would be an UNAVAILABLE this test cannot absorb (seen once).
        ["Redis:Configuration"] = TestEnvironment.Redis + ",abortConnect=false,connectTimeout=5000,asyncTimeout=10000",
    };

    [Fact]
    public async Task An_agent_grabbing_seats_in_a_loop_is_limited_across_replicas_and_the_pool_too()
    {
        var seeder = new CatalogSeeder(Database);
        var account = await seeder.AccountAsync(concurrentSeats: 100);
        var ids = await seeder.AgentsAsync(account, 4, "CONCURRENT");

        // Four attempts of one agent, alternating replicas, are allowed; the fifth is refused.
        for (var i = 0; i < 4; i++)
        {
            await (i % 2 == 0 ? A : B).Agent(account, ids[0]).AcquireAsync(Product);
        }

        var limited = await Assert.ThrowsAsync<RpcException>(() => B.Agent(account, ids[0]).AcquireAsync(Product));
        Assert.Equal(StatusCode.ResourceExhausted, limited.StatusCode);
        Assert.Equal("RATE_LIMITED", Errors.Info(limited).Reason);
        var retry = limited.GetRpcStatus()!.GetDetail<RetryInfo>();
        Assert.NotNull(retry);
        Assert.InRange(retry!.RetryDelay.ToTimeSpan().TotalSeconds, 0.001, 30);

        // Other agents still get in, until the pool's own limit is passed: 10 attempts per window,
        // the refused fifth one above included.
        for (var i = 0; i < 4; i++)
        {
            await A.Agent(account, ids[1]).AcquireAsync(Product);
        }

        await A.Agent(account, ids[2]).AcquireAsync(Product);
        var pool = await Assert.ThrowsAsync<RpcException>(() => A.Agent(account, ids[3]).AcquireAsync(Product));
        Assert.Equal("RATE_LIMITED", Errors.Info(pool).Reason);
    }
}
