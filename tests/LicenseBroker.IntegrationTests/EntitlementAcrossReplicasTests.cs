using System.Diagnostics;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;

namespace LicenseBroker.IntegrationTests;

/// <summary>Two broker instances over the same Redis and PostgreSQL, as two replicas behind a load balancer.</summary>
public sealed class EntitlementAcrossReplicasTests : IAsyncLifetime
{
    private const string Product = "remote-support";
    private TestDatabase? _database;
    private BrokerTestHost? _a;
    private BrokerTestHost? _b;

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync();
        _a = await BrokerTestHost.StartAsync(_database);
        var shared = new Dictionary<string, string?> { ["Redis:KeyPrefix"] = _a.Services.GetRequiredRedisPrefix() };
        _b = await BrokerTestHost.StartAsync(_database, shared, signingKey: _a.SigningKey);
    }

    public async Task DisposeAsync()
    {
        await _b!.DisposeAsync();
        await _a!.DisposeAsync();
        await _database!.DisposeAsync();
    }

    [Fact]
    public async Task An_unassign_through_one_replica_is_refused_by_the_other_within_one_second()
    {
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: 5);
        var agent = (await seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];
        var check = new CheckEntitlementRequest { AccountId = account, AgentId = agent, Product = Product };

        // Warm B's cache: entitled, and a seat taken through B.
        Assert.Equal(EntitlementStatus.Entitled, (await _b!.EntitlementClient.CheckEntitlementAsync(check, _b.ServiceHeaders())).Status);
        var lease = (await _b.Agent(account, agent).AcquireAsync(Product)).Lease;
        Assert.True((await _b.EntitlementClient.CheckEntitlementAsync(check, _b.ServiceHeaders())).HasLiveLease);

        var clock = Stopwatch.StartNew();
        await _a!.AdminClient.UnassignSeatAsync(new UnassignSeatRequest { AgentId = agent, Product = Product }, _a.AdminHeaders(account));

        await Eventually.Until(
            async () => (await _b.EntitlementClient.CheckEntitlementAsync(check, _b.ServiceHeaders())).Status == EntitlementStatus.NoSeatAssigned ? "refused" : null,
            TimeSpan.FromSeconds(1),
            "replica B to see the unassignment");
        var acquire = await Assert.ThrowsAsync<RpcException>(() => _b.Agent(account, agent).AcquireAsync(Product));
        Assert.Equal(StatusCode.PermissionDenied, acquire.StatusCode);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"took {clock.Elapsed}");

        // The live lease taken through B was ended by A.
        Assert.Equal("LEASE_REVOKED", Errors.Info(await Assert.ThrowsAsync<RpcException>(() => _b.Agent(account, agent).HeartbeatAsync(lease))).Reason);
        Assert.False((await _b.EntitlementClient.CheckEntitlementAsync(check, _b.ServiceHeaders())).HasLiveLease);
    }

    [Fact]
    public async Task Warm_entitlement_checks_make_no_postgres_query_and_batches_answer_in_order()
    {
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync();
        var named = (await seeder.AgentsAsync(account, 1, "NAMED", prefix: "n"))[0];
        var none = (await seeder.AgentsAsync(account, 1, seatType: null, prefix: "x"))[0];
        var batch = new BatchCheckEntitlementsRequest();
        batch.Checks.Add(new CheckEntitlementRequest { AccountId = account, AgentId = named, Product = Product });
        batch.Checks.Add(new CheckEntitlementRequest { AccountId = account, AgentId = none, Product = Product });
        batch.Checks.Add(new CheckEntitlementRequest { AccountId = account, AgentId = "stranger", Product = Product });
        batch.Checks.Add(new CheckEntitlementRequest { AccountId = account, AgentId = named, Product = "service-desk" });

        await _a!.EntitlementClient.BatchCheckEntitlementsAsync(batch, _a.ServiceHeaders());
        using var postgres = new PostgresCommandCounter(_database!.Name);
        BatchCheckEntitlementsResponse? answer = null;
        for (var i = 0; i < 20; i++)
        {
            answer = await _a.EntitlementClient.BatchCheckEntitlementsAsync(batch, _a.ServiceHeaders());
        }

        Assert.Equal(0, postgres.Count);
        Assert.Equal(
            [EntitlementStatus.Entitled, EntitlementStatus.NoSeatAssigned, EntitlementStatus.UnknownAgent, EntitlementStatus.NoActiveSubscription],
            answer!.Results.Select(r => r.Status));
        Assert.Equal(SeatType.Named, answer.Results[0].SeatType);

        var tooMany = new BatchCheckEntitlementsRequest();
        tooMany.Checks.AddRange(Enumerable.Repeat(batch.Checks[0], 1001));
        var rejected = await Assert.ThrowsAsync<RpcException>(async () => await _a.EntitlementClient.BatchCheckEntitlementsAsync(tooMany, _a.ServiceHeaders()));
        Assert.Equal(StatusCode.InvalidArgument, rejected.StatusCode);
    }
}
