using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;

namespace LicenseBroker.IntegrationTests;

/// <summary>Two broker instances over the same Redis and PostgreSQL, as two replicas behind a load balancer.</summary>
public sealed class EntitlementAcrossReplicasTests : ReplicaPair
{
    private const string Product = "remote-support";
    [Fact]
    public async Task An_unassign_through_one_replica_is_refused_by_the_other_within_one_second()
    {
        var seeder = new CatalogSeeder(Database);
        var account = await seeder.AccountAsync(concurrentSeats: 5);
        var agent = (await seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];
        var check = new CheckEntitlementRequest { AccountId = account, AgentId = agent, Product = Product };

        // Warm B's cache: entitled, and a seat taken through B.
        Assert.Equal(EntitlementStatus.Entitled, (await B.EntitlementClient.CheckEntitlementAsync(check, B.ServiceHeaders())).Status);
        var lease = (await B.Agent(account, agent).AcquireAsync(Product)).Lease;
        Assert.True((await B.EntitlementClient.CheckEntitlementAsync(check, B.ServiceHeaders())).HasLiveLease);

        await A.AdminClient.UnassignSeatAsync(new UnassignSeatRequest { AgentId = agent, Product = Product }, A.AdminHeaders(account));

        await Eventually.Until(
            async () => (await B.EntitlementClient.CheckEntitlementAsync(check, B.ServiceHeaders())).Status == EntitlementStatus.NoSeatAssigned ? "refused" : null,
            TimeSpan.FromSeconds(5),
            "replica B to see the unassignment (pushed: its cache would otherwise refresh a minute later)");
        var acquire = await Assert.ThrowsAsync<RpcException>(() => B.Agent(account, agent).AcquireAsync(Product));
        Assert.Equal(StatusCode.PermissionDenied, acquire.StatusCode);

        // The live lease taken through B was ended by A.
        Assert.Equal("LEASE_REVOKED", Errors.Info(await Assert.ThrowsAsync<RpcException>(() => B.Agent(account, agent).HeartbeatAsync(lease))).Reason);
        Assert.False((await B.EntitlementClient.CheckEntitlementAsync(check, B.ServiceHeaders())).HasLiveLease);
    }

    [Fact]
    public async Task Warm_entitlement_checks_make_no_postgres_query_and_batches_answer_in_order()
    {
        var seeder = new CatalogSeeder(Database);
        var account = await seeder.AccountAsync();
        var named = (await seeder.AgentsAsync(account, 1, "NAMED", prefix: "n"))[0];
        var none = (await seeder.AgentsAsync(account, 1, seatType: null, prefix: "x"))[0];
        var batch = new BatchCheckEntitlementsRequest();
        batch.Checks.Add(new CheckEntitlementRequest { AccountId = account, AgentId = named, Product = Product });
        batch.Checks.Add(new CheckEntitlementRequest { AccountId = account, AgentId = none, Product = Product });
        batch.Checks.Add(new CheckEntitlementRequest { AccountId = account, AgentId = "stranger", Product = Product });
        batch.Checks.Add(new CheckEntitlementRequest { AccountId = account, AgentId = named, Product = "service-desk" });

        await A.EntitlementClient.BatchCheckEntitlementsAsync(batch, A.ServiceHeaders());
        using var postgres = new PostgresCommandCounter(Database.Name);
        BatchCheckEntitlementsResponse? answer = null;
        for (var i = 0; i < 20; i++)
        {
            answer = await A.EntitlementClient.BatchCheckEntitlementsAsync(batch, A.ServiceHeaders());
        }

        Assert.Equal(0, postgres.Count);
        Assert.Equal(
            [EntitlementStatus.Entitled, EntitlementStatus.NoSeatAssigned, EntitlementStatus.UnknownAgent, EntitlementStatus.NoActiveSubscription],
            answer!.Results.Select(r => r.Status));
        Assert.Equal(SeatType.Named, answer.Results[0].SeatType);

        var tooMany = new BatchCheckEntitlementsRequest();
        tooMany.Checks.AddRange(Enumerable.Repeat(batch.Checks[0], 1001));
        var rejected = await Assert.ThrowsAsync<RpcException>(async () => await A.EntitlementClient.BatchCheckEntitlementsAsync(tooMany, A.ServiceHeaders()));
        Assert.Equal(StatusCode.InvalidArgument, rejected.StatusCode);
    }
}
