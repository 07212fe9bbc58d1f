using System.Security.Cryptography;
using Grpc.Net.Client;
using LicenseBroker.Cli;
using LicenseBroker.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>
/// A real broker on a free loopback port, in this process, over the test Redis and a test database.
/// Every host has its own key prefix, so hosts never see each other's Redis keys unless told to share.
/// </summary>
internal sealed class BrokerTestHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly GrpcChannel _channel;

    private BrokerTestHost(WebApplication app, Uri address, string signingKey, TestDatabase database)
    {
        _app = app;
        Address = address;
        SigningKey = signingKey;
        Database = database;
        _channel = GrpcChannel.ForAddress(address);
    }

    public Uri Address { get; }

    public string SigningKey { get; }

    public TestDatabase Database { get; }

    public IServiceProvider Services => _app.Services;

    public GrpcChannel Channel => _channel;

    /// <param name="database">The database to use (migrated at start).</param>
    /// <param name="settings">Overrides of appsettings.json, e.g. ["Seats:LeaseTtl"] = "00:00:01".</param>
    /// <param name="keyPrefix">Redis key prefix; by default unique to this host.</param>
    /// <param name="signingKey">Token key; by default a fresh one.</param>
    public static async Task<BrokerTestHost> StartAsync(
        TestDatabase database,
        IDictionary<string, string?>? settings = null,
        string? keyPrefix = null,
        string? signingKey = null,
        TimeProvider? time = null,
        Action<WebApplicationBuilder>? configure = null)
    {
        signingKey ??= Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var values = new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:Grpc:Url"] = "http://127.0.0.1:0",
            ["Redis:Configuration"] = TestEnvironment.Redis + ",abortConnect=false,connectTimeout=2000,asyncTimeout=2000",
            ["Redis:KeyPrefix"] = keyPrefix ?? "t" + Guid.NewGuid().ToString("N")[..10] + ":",
            ["Redis:LayoutSettleTime"] = "00:00:00", // the layout gate's tests stop and start versions within seconds
            ["Postgres:ConnectionString"] = database.ConnectionString,
            ["Auth:SigningKeys:0"] = signingKey,

            // Races push thousands of attempts through one pool: abuse limits are off unless a test sets them.
            ["Seats:AcquiresPerPoolPerWindow"] = "0",
            ["Seats:AcquiresPerAgentPerWindow"] = "0",

            // Many hosts run at once: no metrics listener unless a test asks for one.
            ["Metrics:Port"] = "0",
            ["Rest:Port"] = "0",

            // Hundreds of hosts start in a run: the seat path's warm-up is left to the tests that are about it.
            ["Warmup:Rounds"] = "0",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            values[key] = value;
        }

        var app = BrokerApp.Build([], values, builder =>
        {
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            if (time is not null)
            {
                builder.Services.AddSingleton(time);
            }

            configure?.Invoke(builder);
        });
        await app.StartAsync();
        var metricsPort = ":" + values["Metrics:Port"];
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        var address = addresses.Where(a => !a.EndsWith(metricsPort, StringComparison.Ordinal) && !a.EndsWith(":" + values["Rest:Port"], StringComparison.Ordinal)).ToList() is [var single]
            ? single
            : throw new InvalidOperationException("Cannot tell the gRPC address among " + string.Join(", ", addresses));
        return new BrokerTestHost(app, new Uri(address), signingKey, database);
    }

    /// <summary>A client acting as one agent of one account.</summary>
    public AgentClient Agent(string accountId, string agentId) =>
        new(_channel, DevTokens.Mint(SigningKey, accountId, agentId, TimeSpan.FromHours(1)));

    /// <summary>Call headers of an account admin (role ADMIN).</summary>
    public Grpc.Core.Metadata AdminHeaders(string accountId, string adminId = "admin-1") =>
        Bearer(DevTokens.Mint(SigningKey, accountId, adminId, TimeSpan.FromHours(1), extraClaims: DevTokens.Claims(role: "ADMIN")));

    /// <summary>Call headers of an account admin whose token carries a name (the `name` claim of an identity provider).</summary>
    public Grpc.Core.Metadata NamedAdminHeaders(string accountId, string adminId, string name)
    {
        var claims = DevTokens.Claims(role: "ADMIN");
        claims["name"] = name;
        return Bearer(DevTokens.Mint(SigningKey, accountId, adminId, TimeSpan.FromHours(1), extraClaims: claims));
    }

    /// <summary>Call headers of a manager with both privileges (MANAGE_SEATS, MANAGE_USERS), not an admin.</summary>
    public Grpc.Core.Metadata ManagerHeaders(string accountId, string managerId = "manager-1") =>
        Bearer(DevTokens.Mint(SigningKey, accountId, managerId, TimeSpan.FromHours(1), extraClaims: DevTokens.Claims(role: "MANAGER", privileges: ["MANAGE_SEATS", "MANAGE_USERS"])));

    /// <summary>Call headers of a back-office service (scope licensebroker.service).</summary>
    public Grpc.Core.Metadata ServiceHeaders() =>
        Bearer(DevTokens.Mint(SigningKey, "backoffice", "billing", TimeSpan.FromHours(1), extraClaims: DevTokens.Claims(service: true)));

    public Contracts.V1.SeatAdminService.SeatAdminServiceClient AdminClient => new(_channel);

    public Contracts.V1.EntitlementService.EntitlementServiceClient EntitlementClient => new(_channel);

    public Contracts.V1.SubscriptionService.SubscriptionServiceClient SubscriptionClient => new(_channel);

    /// <summary>Waits until every seat event recorded so far is written to the audit log.</summary>
    public Task AuditWrittenAsync() => Eventually.Until(
        async () =>
        {
            await Task.Yield();
            return Services.GetRequiredService<LicenseBroker.Server.Hosting.SeatEventDrainService>().Unwritten == 0 ? "written" : null;
        },
        TimeSpan.FromSeconds(15),
        "the audit buffer to be written");

    public static Grpc.Core.Metadata Bearer(string token) => new() { { "Authorization", "Bearer " + token } };

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();

        // Bounded: a stream a test left open must not hold the host's graceful stop (and the test run) forever.
        using var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _app.StopAsync(stopping.Token);
        await _app.DisposeAsync();
    }
}

/// <summary>Reads a running host's settings.</summary>
internal static class HostSettings
{
    public static string GetRequiredRedisPrefix(this IServiceProvider services) =>
        services.GetRequiredService<LicenseBroker.Storage.Redis.RedisOptions>().KeyPrefix;
}
