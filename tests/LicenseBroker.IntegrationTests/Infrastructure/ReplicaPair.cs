namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>
/// Two broker replicas over one Redis (same key prefix) and one database, sharing a signing key:
/// what a load balancer in front of two pods looks like to a client.
/// </summary>
public class ReplicaPair : IAsyncLifetime
{
    private TestDatabase? _database;
    private BrokerTestHost? _a;
    private BrokerTestHost? _b;

    internal TestDatabase Database => _database ?? throw new InvalidOperationException("not started");

    internal BrokerTestHost A => _a ?? throw new InvalidOperationException("not started");

    internal BrokerTestHost B => _b ?? throw new InvalidOperationException("not started");

    /// <summary>Settings of both replicas.</summary>
    protected virtual Dictionary<string, string?> Settings => [];

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync();
        var settings = Settings;
        _a = await BrokerTestHost.StartAsync(_database, settings);
        settings["Redis:KeyPrefix"] = _a.Services.GetRequiredRedisPrefix();
        _b = await BrokerTestHost.StartAsync(_database, settings, signingKey: _a.SigningKey);
    }

    public async Task DisposeAsync()
    {
        if (_b is not null)
        {
            await _b.DisposeAsync();
        }

        if (_a is not null)
        {
            await _a.DisposeAsync();
        }

        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }
}
