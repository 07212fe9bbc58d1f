using System.Collections.Concurrent;
using Dapper;
using Grpc.Core;
using LicenseBroker.Domain.Seats;
using LicenseBroker.IntegrationTests.Infrastructure;
using LicenseBroker.Storage.Catalog;
using LicenseBroker.Storage.Redis;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using StackExchange.Redis;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// The first minute after a deploy (issue 17, cold start): the catalog is loaded in bulk before the
/// broker takes calls, and the first uses of pools that arrive together share their PostgreSQL
/// work, without giving up the data-loss safety (a pool is registered as used before its first
/// grant answers).
/// </summary>
public sealed class ColdStartTests : IAsyncLifetime
{
    private const string Product = "remote-support";
    private TestDatabase? _database;

    public async Task InitializeAsync() => _database = await TestDatabase.CreateAsync();

    public async Task DisposeAsync() => await _database!.DisposeAsync();

    [Fact]
    public async Task A_broker_started_after_pools_were_subscribed_serves_their_first_acquires_without_a_catalog_query()
    {
        // A first broker migrates the database and stops; the pools are subscribed; the broker is deployed again.
        await (await BrokerTestHost.StartAsync(_database!)).DisposeAsync();
        var seeder = new CatalogSeeder(_database!);
        var accounts = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var account = await seeder.AccountAsync(concurrentSeats: 2);
            await seeder.AgentsAsync(account, 1, "CONCURRENT");
            accounts.Add(account);
        }

        await using var host = await BrokerTestHost.StartAsync(_database!);
        Assert.True(host.Services.GetRequiredService<CachedLicenseCatalog>().Count >= 3, "the subscribed pools were not loaded at start");

        // The entitlement feed reads (and on a new database creates) the signing keys once its listener is
        // connected, in the background after start; that is not the acquires' work, so it is let finish first.
        var keys = host.Services.GetRequiredService<LicenseBroker.Server.Entitlements.EntitlementKeyRing>();
        await Eventually.Until(() => Task.FromResult(keys.SigningKid), TimeSpan.FromSeconds(30), "the entitlement signing keys to be loaded");

        using var postgres = new PostgresCommandCounter(_database!.Name);
        foreach (var account in accounts)
        {
            await host.Agent(account, "agent-001").AcquireAsync(Product);
        }

        // What remains of PostgreSQL on these first uses is the registration of pools Redis never saw.
        Assert.DoesNotContain(postgres.Texts, text => !text.Contains("pool_registry", StringComparison.Ordinal));
        Assert.NotEmpty(postgres.Texts);
    }

    [Fact]
    public async Task The_seat_path_is_warmed_before_the_broker_listens_and_leaves_nothing_in_redis_or_postgresql()
    {
        var logs = new ConcurrentQueue<string>();
        await using var host = await BrokerTestHost.StartAsync(
            _database!,
            new Dictionary<string, string?> { ["Warmup:Rounds"] = "20" },
            configure: builder => builder.Services.AddSingleton<Microsoft.Extensions.Logging.ILoggerProvider>(new CapturingLoggerProvider(logs)));

        // A token validated per round, and in each round three shared-seat acquires (the third refused: two seats), a
        // named seat, and a heartbeat and a release of each of the three leases.
        var lines = logs.ToList();
        var warmed = lines.FindIndex(line => line.StartsWith("Seat path warmed: 220 synthetic calls", StringComparison.Ordinal));
        var listening = lines.FindIndex(line => line.StartsWith("Now listening on", StringComparison.Ordinal));
        Assert.True(warmed >= 0, "no warm-up line among:\n" + string.Join("\n", lines));
        Assert.True(listening > warmed, "the broker listened before the warm-up ended");

        // Its keys are gone; the account's prefix holds nothing of it.
        var prefix = host.Services.GetRequiredRedisPrefix();
        var redis = host.Services.GetRequiredService<IConnectionMultiplexer>();
        var left = new List<string>();
        foreach (var server in redis.GetServers())
        {
            await foreach (var key in server.KeysAsync(pattern: prefix + "*"))
            {
                left.Add(key!);
            }
        }

        Assert.DoesNotContain(left, key => key.Contains("warmup", StringComparison.Ordinal));

        // Nothing of it reached PostgreSQL: no audit row, no registered pool, no usage.
        await using var connection = new NpgsqlConnection(_database!.ConnectionString);
        foreach (var table in new[] { "audit_events", "pool_registry", "usage_daily" })
        {
            Assert.Equal(0L, await connection.ExecuteScalarAsync<long>($"SELECT count(*) FROM {table} WHERE account_id = 'warmup'"));
        }

        // A real account's first lease is its pool's first: the warm-up shared no pool with it.
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: 1);
        await seeder.AgentsAsync(account, 1, "CONCURRENT");
        var granted = await host.Agent(account, "agent-001").AcquireAsync(Product);
        Assert.Equal(1, granted.Lease.FencingToken);
    }

    [Fact]
    public async Task First_uses_racing_over_two_replicas_are_registered_before_they_answer_and_a_redis_loss_is_detected_in_every_pool()
    {
        await using var first = await BrokerTestHost.StartAsync(_database!);
        var settings = new Dictionary<string, string?> { ["Redis:KeyPrefix"] = first.Services.GetRequiredRedisPrefix() };
        await using var second = await BrokerTestHost.StartAsync(_database!, settings, signingKey: first.SigningKey);

        // Subscribed after both replicas started: nothing is warm, every first use loads and registers.
        const int Pools = 40;
        var seeder = new CatalogSeeder(_database!);
        var accounts = new List<string>();
        for (var i = 0; i < Pools; i++)
        {
            var account = await seeder.AccountAsync(concurrentSeats: 1);
            await seeder.AgentsAsync(account, 2, "CONCURRENT");
            accounts.Add(account);
        }

        var notActiveWhenAnswered = new ConcurrentBag<string>();
        await Task.WhenAll(accounts.Select((account, i) => Task.Run(async () =>
        {
            var replica = i % 2 == 0 ? first : second;
            await replica.Agent(account, "agent-001").AcquireAsync(Product);

            // Read as soon as the grant arrived: the registration must already be durable.
            await using var connection = new NpgsqlConnection(_database!.ConnectionString);
            var state = await connection.ExecuteScalarAsync<string>(
                "SELECT state FROM pool_registry WHERE account_id = @account AND product_code = @Product", new { account, Product });
            if (state != "ACTIVE")
            {
                notActiveWhenAnswered.Add($"{account}: {state ?? "absent"}");
            }
        })));
        Assert.Empty(notActiveWhenAnswered);

        // Redis loses every pool; a replica that never met them must still hold newcomers back.
        foreach (var account in accounts)
        {
            await RedisDataLoss.LosePoolAsync(first.Services, new PoolId(account, Product));
        }

        await using var third = await BrokerTestHost.StartAsync(_database!, settings, signingKey: first.SigningKey);
        var admitted = new ConcurrentBag<string>();
        await Task.WhenAll(accounts.Select(account => Task.Run(async () =>
        {
            try
            {
                await third.Agent(account, "agent-002").AcquireAsync(Product);
                admitted.Add(account);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable && ex.Status.Detail.Contains("re-establishing", StringComparison.Ordinal))
            {
            }
        })));
        Assert.Empty(admitted);
    }

    [Fact]
    public async Task A_pool_whose_opener_stopped_before_registering_it_is_registered_by_the_next_replica_that_meets_it()
    {
        await using var first = await BrokerTestHost.StartAsync(_database!);
        var settings = new Dictionary<string, string?> { ["Redis:KeyPrefix"] = first.Services.GetRequiredRedisPrefix() };
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: 3);
        await seeder.AgentsAsync(account, 3, "CONCURRENT");
        await first.Agent(account, "agent-001").AcquireAsync(Product);

        // As if the first opening had stopped between its script and the write of ACTIVE.
        await using (var connection = new NpgsqlConnection(_database!.ConnectionString))
        {
            Assert.Equal(1, await connection.ExecuteAsync("DELETE FROM pool_registry WHERE account_id = @account", new { account }));
        }

        await using var second = await BrokerTestHost.StartAsync(_database!, settings, signingKey: first.SigningKey);
        await second.Agent(account, "agent-002").AcquireAsync(Product);
        await Eventually.Until(
            async () =>
            {
                await using var connection = new NpgsqlConnection(_database!.ConnectionString);
                return await connection.ExecuteScalarAsync<string>("SELECT state FROM pool_registry WHERE account_id = @account", new { account }) == "ACTIVE" ? "registered" : null;
            },
            TimeSpan.FromSeconds(10),
            "the second replica to register the pool it met");

        // So a loss of the pool's data is detected: a newcomer on a replica that never met it waits.
        await RedisDataLoss.LosePoolAsync(first.Services, new PoolId(account, Product));
        await using var third = await BrokerTestHost.StartAsync(_database!, settings, signingKey: first.SigningKey);
        var refused = await Assert.ThrowsAsync<RpcException>(() => third.Agent(account, "agent-003").AcquireAsync(Product));
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains("re-establishing", refused.Status.Detail, StringComparison.Ordinal);
    }
}
