namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>One database and one broker for a test class; tests isolate themselves with accounts of their own.</summary>
public class BrokerFixture : IAsyncLifetime
{
    private TestDatabase? _database;
    private BrokerTestHost? _host;

    internal BrokerTestHost Host => _host ?? throw new InvalidOperationException("not started");

    internal CatalogSeeder Seeder => new(Host.Database);

    /// <summary>Settings of this fixture's broker.</summary>
    protected virtual IDictionary<string, string?> Settings => new Dictionary<string, string?>();

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync();
        _host = await BrokerTestHost.StartAsync(_database, Settings);
    }

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }

        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }
}

/// <summary>A broker whose leases live one second, to watch expiry happen.</summary>
public sealed class ShortLeaseBrokerFixture : BrokerFixture
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Seats:LeaseTtl"] = "00:00:01",
        ["Seats:HeartbeatInterval"] = "00:00:00.300",
    };
}

/// <summary>A broker over the three-master Redis Cluster that ./scripts/test starts.</summary>
public sealed class ClusterBrokerFixture : BrokerFixture
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Redis:Configuration"] = TestEnvironment.RedisCluster + ",abortConnect=false,connectTimeout=2000,asyncTimeout=2000",
    };
}
