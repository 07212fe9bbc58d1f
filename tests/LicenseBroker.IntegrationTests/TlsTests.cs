using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;

namespace LicenseBroker.IntegrationTests;

/// <summary>TLS with a configured certificate, mutual TLS required, and mutual TLS only for back-office callers.</summary>
public sealed class TlsTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "lbt-tls-" + Guid.NewGuid().ToString("N")[..8]);
    private X509Certificate2? _ca;
    private X509Certificate2? _client;
    private X509Certificate2? _strangerClient;
    private TestDatabase? _database;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_directory);
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=test CA", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        _ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(2));
        await File.WriteAllTextAsync(Path.Combine(_directory, "ca.crt"), _ca.ExportCertificatePem());

        var (server, serverKey) = Issue(_ca, "CN=localhost", serverAuth: true);
        await File.WriteAllTextAsync(Path.Combine(_directory, "server.crt"), server.ExportCertificatePem());
        await File.WriteAllTextAsync(Path.Combine(_directory, "server.key"), serverKey.ExportPkcs8PrivateKeyPem());
        _client = WithKey(Issue(_ca, "CN=billing", serverAuth: false));

        // A client certificate from another CA: must be refused.
        using var otherKey = RSA.Create(2048);
        var other = new CertificateRequest("CN=other CA", otherKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        other.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var otherCa = other.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(2));
        _strangerClient = WithKey(Issue(otherCa, "CN=intruder", serverAuth: false));
        _database = await TestDatabase.CreateAsync();
    }

    public async Task DisposeAsync()
    {
        await _database!.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task Tls_serves_clients_that_trust_the_server_certificate_only()
    {
        await using var host = await StartAsync(new Dictionary<string, string?>());
        Assert.Equal("https", host.Address.Scheme);

        using var trusting = Channel(host, clientCertificate: null, trustServer: true);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await new Health.HealthClient(trusting).CheckAsync(new HealthCheckRequest())).Status);

        using var distrusting = Channel(host, clientCertificate: null, trustServer: false);
        // The handshake fails on the client side (Grpc.Net.Client reports it as its own error).
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await new Health.HealthClient(distrusting).CheckAsync(new HealthCheckRequest()));
        Assert.Contains("SSL", refused.Status.DebugException?.ToString() ?? refused.Status.Detail, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Required_mutual_tls_refuses_clients_without_a_certificate_from_the_ca()
    {
        await using var host = await StartAsync(new Dictionary<string, string?>
        {
            ["Tls:ClientCertificateMode"] = "RequireCertificate",
            ["Tls:ClientCaPath"] = Path.Combine(_directory, "ca.crt"),
        });

        using var withCertificate = Channel(host, _client, trustServer: true);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await new Health.HealthClient(withCertificate).CheckAsync(new HealthCheckRequest())).Status);

        using var without = Channel(host, clientCertificate: null, trustServer: true);
        await Assert.ThrowsAsync<RpcException>(async () => await new Health.HealthClient(without).CheckAsync(new HealthCheckRequest()));

        using var stranger = Channel(host, _strangerClient, trustServer: true);
        await Assert.ThrowsAsync<RpcException>(async () => await new Health.HealthClient(stranger).CheckAsync(new HealthCheckRequest()));
    }

    [Fact]
    public async Task Optional_mutual_tls_lets_agents_in_and_requires_certificates_of_back_office_callers()
    {
        await using var host = await StartAsync(new Dictionary<string, string?>
        {
            ["Tls:ClientCertificateMode"] = "AllowCertificate",
            ["Tls:ClientCaPath"] = Path.Combine(_directory, "ca.crt"),
            ["Auth:RequireClientCertificateForServices"] = "true",
        });
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync();
        var agentId = (await seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];
        var check = new CheckEntitlementRequest { AccountId = account, AgentId = agentId, Product = "remote-support" };

        using var plain = Channel(host, clientCertificate: null, trustServer: true);
        var agent = new AgentClient(plain, Cli.DevTokens.Mint(host.SigningKey, account, agentId, TimeSpan.FromMinutes(5)));
        await agent.AcquireAsync("remote-support");
        var denied = await Assert.ThrowsAsync<RpcException>(async () => await new EntitlementService.EntitlementServiceClient(plain).CheckEntitlementAsync(check, host.ServiceHeaders()));
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);

        using var mutual = Channel(host, _client, trustServer: true);
        var answer = await new EntitlementService.EntitlementServiceClient(mutual).CheckEntitlementAsync(check, host.ServiceHeaders());
        Assert.Equal(EntitlementStatus.Entitled, answer.Status);
    }

    private Task<BrokerTestHost> StartAsync(Dictionary<string, string?> settings)
    {
        settings["Kestrel:Endpoints:Grpc:Url"] = "https://127.0.0.1:0";
        settings["Kestrel:Endpoints:Grpc:Certificate:Path"] = Path.Combine(_directory, "server.crt");
        settings["Kestrel:Endpoints:Grpc:Certificate:KeyPath"] = Path.Combine(_directory, "server.key");
        return BrokerTestHost.StartAsync(_database!, settings);
    }

    [Fact]
    public async Task The_agent_sdk_takes_and_gives_back_a_seat_over_tls()
    {
        await using var host = await StartAsync(new Dictionary<string, string?>());
        var account = await host.Seeder().AccountAsync();
        var agent = (await host.Seeder().AgentsAsync(account, 1, "CONCURRENT"))[0];
        using var sdk = new Client.LicenseBrokerClient(new Client.LicenseBrokerClientOptions
        {
            Address = host.Address,
            AccessTokenProvider = _ => ValueTask.FromResult(Cli.DevTokens.Mint(host.SigningKey, account, agent, TimeSpan.FromMinutes(5))),
            HttpHandler = Handler(clientCertificate: null, trustServer: true),
        });

        var seat = await sdk.AcquireSeatAsync("remote-support", new Device { Id = "laptop", Platform = Platform.Mac });
        Assert.Equal(SeatType.Concurrent, seat.SeatType);
        await seat.DisposeAsync();
        using var admin = Channel(host, clientCertificate: null, trustServer: true);
        Assert.Empty((await new SeatAdminService.SeatAdminServiceClient(admin).ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = "remote-support" }, host.AdminHeaders(account))).Sessions);
    }

    private GrpcChannel Channel(BrokerTestHost host, X509Certificate2? clientCertificate, bool trustServer) =>
        GrpcChannel.ForAddress(host.Address, new GrpcChannelOptions { HttpHandler = Handler(clientCertificate, trustServer) });

    private SocketsHttpHandler Handler(X509Certificate2? clientCertificate, bool trustServer)
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
        {
            if (!trustServer || certificate is null)
            {
                return false;
            }

            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(_ca!);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(new X509Certificate2(certificate));
        };
        if (clientCertificate is not null)
        {
            handler.SslOptions.ClientCertificates = [clientCertificate];
        }

        return handler;
    }

    private static (X509Certificate2 Certificate, RSA Key) Issue(X509Certificate2 ca, string subject, bool serverAuth)
    {
        var key = RSA.Create(2048);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(serverAuth ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        if (serverAuth)
        {
            var san = new SubjectAlternativeNameBuilder();
            san.AddIpAddress(System.Net.IPAddress.Loopback);
            san.AddDnsName("localhost");
            request.CertificateExtensions.Add(san.Build());
        }

        var certificate = request.Create(ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1), RandomNumberGenerator.GetBytes(12));
        return (certificate, key);
    }

    private static X509Certificate2 WithKey((X509Certificate2 Certificate, RSA Key) issued)
    {
        using var withKey = issued.Certificate.CopyWithPrivateKey(issued.Key);

        // A PFX round trip gives a certificate whose key SslStream can use on Linux.
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pfx), null);
    }
}
