namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>
/// A real OpenID Connect provider, a broker that validates its tokens through Auth:Authority, and the
/// Admin Center signing in through it: the whole chain the console runs on in production.
/// </summary>
public sealed class AdminCenterFixture : IAsyncLifetime
{
    private TestDatabase? _database;
    private BrokerTestHost? _host;
    private TestOidcProvider? _provider;
    private AdminCenterProcess? _console;

    internal BrokerTestHost Host => _host ?? throw new InvalidOperationException("not started");

    internal TestOidcProvider Provider => _provider ?? throw new InvalidOperationException("not started");

    internal AdminCenterProcess Console => _console ?? throw new InvalidOperationException("not started");

    internal CatalogSeeder Seeder => new(Host.Database);

    public async Task InitializeAsync()
    {
        var port = Processes.FreePort();

        // Access tokens live 61 s: the console renews them (refresh token) on every request, so every test exercises it.
        _provider = await TestOidcProvider.StartAsync(new Uri($"http://127.0.0.1:{port}/"), TimeSpan.FromSeconds(61));
        _database = await TestDatabase.CreateAsync();
        _host = await BrokerTestHost.StartAsync(_database, new Dictionary<string, string?>
        {
            ["Auth:Authority"] = _provider.Issuer.ToString(),
            ["Auth:RequireHttpsMetadata"] = "false",
        });
        _console = await AdminCenterProcess.StartAsync(port, new Dictionary<string, string>
        {
            ["AdminCenter__BrokerUrl"] = _host.Address.ToString(),
            ["AdminCenter__Oidc__Authority"] = _provider.Issuer.ToString(),
            ["AdminCenter__Oidc__ClientId"] = TestOidcProvider.ClientId,
            ["AdminCenter__Oidc__ClientSecret"] = TestOidcProvider.ClientSecret,
            ["AdminCenter__Oidc__RequireHttpsMetadata"] = "false",
        });
    }

    public async Task DisposeAsync()
    {
        if (_console is not null)
        {
            await _console.DisposeAsync();
        }

        if (_host is not null)
        {
            await _host.DisposeAsync();
        }

        if (_database is not null)
        {
            await _database.DisposeAsync();
        }

        if (_provider is not null)
        {
            await _provider.DisposeAsync();
        }
    }
}
