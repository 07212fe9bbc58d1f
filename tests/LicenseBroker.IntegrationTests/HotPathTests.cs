using System.Collections.Concurrent;
using System.Diagnostics;
using LicenseBroker.IntegrationTests.Infrastructure;
using LicenseBroker.Domain.Catalog;
using LicenseBroker.Storage.Catalog;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using StackExchange.Redis.Profiling;

namespace LicenseBroker.IntegrationTests;

/// <summary>Once caches are warm, each seat call is exactly one Redis command and no PostgreSQL query.</summary>
public sealed class HotPathTests : IAsyncLifetime
{
    private const string Product = "remote-support";
    private TestDatabase? _database;
    private BrokerTestHost? _host;

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync();
        _host = await BrokerTestHost.StartAsync(_database);
    }

    public async Task DisposeAsync()
    {
        await _host!.DisposeAsync();
        await _database!.DisposeAsync();
    }

    [Fact]
    public async Task Warm_acquire_heartbeat_release_make_one_redis_call_each_and_no_postgres_query()
    {
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: 5);
        var agentId = (await seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];
        var agent = _host!.Agent(account, agentId);

        // Warm the catalog cache.
        await agent.ReleaseAsync((await agent.AcquireAsync(Product)).Lease);

        using var postgres = new PostgresCommandCounter(_database!.Name);
        var redisSession = new ProfilingSession();
        var multiplexer = (ConnectionMultiplexer)_host.Services.GetRequiredService<IConnectionMultiplexer>();
        var presence = _host.Services.GetRequiredService<LicenseBroker.Storage.Redis.OutageWatch>();
        var beatsBefore = presence.Beats;
        multiplexer.RegisterProfiler(() => redisSession);

        const int cycles = 20;
        for (var i = 0; i < cycles; i++)
        {
            var lease = (await agent.AcquireAsync(Product)).Lease;
            lease = await agent.HeartbeatAsync(lease);
            Assert.True(await agent.ReleaseAsync(lease));
        }

        // Every replica's janitor polls its index (TIME, ZRANGEBYSCORE), and the seat event drain reads and trims the
        // pools' journals (XRANGE, XDEL, XLEN), in the background: not the requests' work. Nor is the presence beacon's
        // FCALL every second (counted by the replica: on a loaded machine the loop lasts more than a second).
        var beats = (int)(presence.Beats - beatsBefore);
        multiplexer.RegisterProfiler(() => null);
        var redisCommands = redisSession.FinishProfiling().Select(c => c.Command)
            .Where(c => c is not ("TIME" or "ZRANGEBYSCORE" or "XRANGE" or "XDEL" or "XLEN")).ToList();
        Assert.True(postgres.Count == 0, string.Join("\n", postgres.Texts));
        Assert.Equal(cycles * 3, redisCommands.Count - beats);
        Assert.All(redisCommands, command => Assert.Equal("FCALL", command));

        // The counter does see PostgreSQL: after an invalidation the next acquire reloads the policy once.
        await _host.Services.GetRequiredService<ICatalogInvalidator>().InvalidateAsync(account, Product);
        await agent.AcquireAsync(Product);
        Assert.True(postgres.Count >= 1, "the PostgreSQL command counter saw nothing; the test would prove nothing");
    }
}
