using Grpc.Core;
using LicenseBroker.Cli;
using LicenseBroker.IntegrationTests.Infrastructure;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Every RPC called by every kind of wrong caller: each gets the right status, and afterwards the
/// database and Redis hold exactly what they held before.
/// </summary>
public sealed class AuthorizationMatrixTests : IClassFixture<BrokerFixture>
{
    private readonly BrokerFixture _fixture;

    public AuthorizationMatrixTests(BrokerFixture fixture)
    {
        _fixture = fixture;
    }

    [Fact]
    public void The_matrix_covers_every_rpc_of_the_contract()
    {
        Assert.Equal(RpcCatalog.Declared().Order(), RpcCatalog.All("a", "ls_x").Select(r => r.Name).Order());
    }

    [Fact]
    public async Task Wrong_callers_of_every_rpc_are_refused_and_change_nothing()
    {
        var host = _fixture.Host;
        var victim = "victim";
        await using (var connection = new Npgsql.NpgsqlConnection(host.Database.ConnectionString))
        {
            await Dapper.SqlMapper.ExecuteAsync(connection, "INSERT INTO accounts (id, name) VALUES ('victim', 'victim'), ('other', 'other') ON CONFLICT DO NOTHING");
            await Dapper.SqlMapper.ExecuteAsync(connection,
                "INSERT INTO subscriptions (account_id, product_code, plan, valid_until, named_seat_limit, concurrent_seat_limit, unattended_device_limit) VALUES ('victim', 'remote-support', 'PAID', now() + interval '1 day', 5, 5, 5) ON CONFLICT DO NOTHING");
        }

        var agentId = (await new CatalogSeeder(host.Database).AgentsAsync(victim, 1, "CONCURRENT", prefix: "victim-agent"))[0];
        var lease = (await host.Agent(victim, agentId).AcquireAsync("remote-support")).Lease;
        await host.AdminClient.RegisterUnattendedDeviceAsync(
            new Contracts.V1.RegisterUnattendedDeviceRequest { Product = "remote-support", DeviceId = "known-pc", DisplayName = "PC", Platform = Contracts.V1.Platform.Linux },
            host.AdminHeaders(victim));
        await Eventually.Until(async () => await AuditCount(host) >= 2 ? "flushed" : null, TimeSpan.FromSeconds(10), "setup audit rows");
        var before = await StateSnapshot.TakeAsync(host, victim);

        var key = host.SigningKey;
        var forgedKey = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        // Expected OK: the caller is let through; callers of the victim account that are allowed are
        // not called (their changes would be legitimate); the other account's admin is called, and
        // must reach nothing of the victim account.
        var callers = new (string Name, Metadata? Headers, Func<Audience, StatusCode> Expected)[]
        {
            ("no token", null, _ => StatusCode.Unauthenticated),
            ("expired", BrokerTestHost.Bearer(DevTokens.Mint(key, victim, "admin", TimeSpan.FromMinutes(1), extraClaims: DevTokens.Claims("ADMIN", service: true), notBefore: DateTime.UtcNow.AddHours(-1))), _ => StatusCode.Unauthenticated),
            ("forged", BrokerTestHost.Bearer(DevTokens.Mint(forgedKey, victim, "admin", TimeSpan.FromMinutes(5), extraClaims: DevTokens.Claims("ADMIN", service: true))), _ => StatusCode.Unauthenticated),
            ("wrong audience", BrokerTestHost.Bearer(DevTokens.Mint(key, victim, "admin", TimeSpan.FromMinutes(5), audience: "elsewhere", extraClaims: DevTokens.Claims("ADMIN", service: true))), _ => StatusCode.Unauthenticated),
            ("agent of the account", BrokerTestHost.Bearer(DevTokens.Mint(key, victim, "someone", TimeSpan.FromMinutes(5))), a => a == Audience.Agent ? StatusCode.OK : StatusCode.PermissionDenied),
            ("manager without MANAGE_SEATS", BrokerTestHost.Bearer(DevTokens.Mint(key, victim, "mgr", TimeSpan.FromMinutes(5), extraClaims: DevTokens.Claims("MANAGER", ["MANAGE_USERS"]))),
                a => a is Audience.ManageSeats or Audience.Admin or Audience.Service ? StatusCode.PermissionDenied : StatusCode.OK),
            ("manager without MANAGE_USERS", BrokerTestHost.Bearer(DevTokens.Mint(key, victim, "mgr", TimeSpan.FromMinutes(5), extraClaims: DevTokens.Claims("MANAGER", ["MANAGE_SEATS"]))),
                a => a is Audience.ManageUsers or Audience.Admin or Audience.Service ? StatusCode.PermissionDenied : StatusCode.OK),
            ("admin of another account", BrokerTestHost.Bearer(DevTokens.Mint(key, "other", "intruder", TimeSpan.FromMinutes(5), extraClaims: DevTokens.Claims("ADMIN"))),
                a => a == Audience.Service ? StatusCode.PermissionDenied : StatusCode.OK),
        };

        var failures = new List<string>();
        foreach (var (name, headers, expected) in callers)
        {
            foreach (var rpc in RpcCatalog.All(agentId, lease.LeaseId))
            {
                var want = rpc.Audience == Audience.Anyone ? StatusCode.OK : expected(rpc.Audience);
                if (want == StatusCode.OK && name != "admin of another account")
                {
                    continue;
                }

                var got = StatusCode.OK;
                var refusedByRule = false;
                try
                {
                    await rpc.Call(host.Channel, headers ?? []);
                }
                catch (RpcException ex)
                {
                    got = ex.StatusCode;

                    // A refusal by the seat rules carries an ErrorInfo; one by authorization does not.
                    refusedByRule = ex.GetRpcStatus()?.GetDetail<Google.Rpc.ErrorInfo>() is not null;
                }

                // Let through authorization: any answer of the rules is right (the snapshot below
                // proves the victim account was not touched), but never an auth refusal or a fault.
                var allowedThrough = want == StatusCode.OK
                    && (got is not (StatusCode.Unauthenticated or StatusCode.PermissionDenied or StatusCode.Internal or StatusCode.Unknown) || refusedByRule);
                if (!(got == want || allowedThrough))
                {
                    failures.Add($"{name} -> {rpc.Name}: expected {want}, got {got}");
                }
            }
        }

        Assert.Empty(failures);
        await host.AuditWrittenAsync();
        Assert.Equal(before, await StateSnapshot.TakeAsync(host, victim));
    }

    private static async Task<long> AuditCount(BrokerTestHost host)
    {
        await using var connection = new Npgsql.NpgsqlConnection(host.Database.ConnectionString);
        return await Dapper.SqlMapper.ExecuteScalarAsync<long>(connection, "SELECT count(*) FROM audit_events");
    }
}
