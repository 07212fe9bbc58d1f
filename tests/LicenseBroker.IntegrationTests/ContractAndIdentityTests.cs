using Grpc.Core;
using Grpc.Health.V1;
using LicenseBroker.Cli;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;

namespace LicenseBroker.IntegrationTests;

/// <summary>The served surface: health, services not built yet, token checks and input validation.</summary>
public sealed class ContractAndIdentityTests : IClassFixture<BrokerFixture>
{
    private const string Product = "remote-support";
    private readonly BrokerFixture _fixture;

    public ContractAndIdentityTests(BrokerFixture fixture)
    {
        _fixture = fixture;
    }

    [Fact]
    public async Task Health_reports_serving_when_redis_and_postgres_answer()
    {
        var health = new Health.HealthClient(_fixture.Host.Channel);
        var reply = await health.CheckAsync(new HealthCheckRequest());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, reply.Status);
    }

    [Fact]
    public async Task Health_answers_for_each_service_name_and_not_for_unknown_ones()
    {
        var health = new Health.HealthClient(_fixture.Host.Channel);
        foreach (var service in new[] { "licensebroker.v1.SeatService", "licensebroker.v1.SeatAdminService", "licensebroker.v1.SubscriptionService", "licensebroker.v1.EntitlementService" })
        {
            Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest { Service = service })).Status);
        }

        var unknown = await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () => await health.CheckAsync(new HealthCheckRequest { Service = "licensebroker.v1.NoSuchService" }));
        Assert.Equal(Grpc.Core.StatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task Calls_without_a_valid_token_are_unauthenticated()
    {
        var account = await _fixture.Seeder.AccountAsync();
        var agentId = (await _fixture.Seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];
        var otherKey = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

        string?[] tokens =
        [
            null,
            "not-a-jwt",
            DevTokens.Mint(otherKey, account, agentId, TimeSpan.FromMinutes(5)),
            DevTokens.Mint(_fixture.Host.SigningKey, account, agentId, TimeSpan.FromMinutes(1), notBefore: DateTime.UtcNow.AddHours(-2)),
            DevTokens.Mint(_fixture.Host.SigningKey, account, agentId, TimeSpan.FromMinutes(5), audience: "someone-else"),
            DevTokens.Mint(_fixture.Host.SigningKey, account, agentId, TimeSpan.FromMinutes(5), issuer: "someone-else"),
        ];
        foreach (var token in tokens)
        {
            var client = token is null
                ? new AgentClient(_fixture.Host.Channel, "x") { }
                : new AgentClient(_fixture.Host.Channel, token);
            var call = token is null
                ? Assert.ThrowsAsync<RpcException>(async () => await client.Raw.AcquireSeatAsync(ValidRequest()))
                : Assert.ThrowsAsync<RpcException>(async () => await client.Raw.AcquireSeatAsync(ValidRequest(), client.Headers));
            Assert.Equal(StatusCode.Unauthenticated, (await call).StatusCode);
        }
    }

    [Fact]
    public async Task Bad_fields_are_invalid_argument_naming_each_field_and_change_nothing()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 1);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        var agent = _fixture.Host.Agent(account, ids[0]);

        var bad = new AcquireSeatRequest
        {
            Product = "Remote Support!",
            SessionId = new string('x', 129),
            Device = new Device { Id = "", Platform = Platform.Unspecified },
            SessionKind = SessionKind.Unspecified,
        };
        var rejected = await Assert.ThrowsAsync<RpcException>(async () => await agent.Raw.AcquireSeatAsync(bad, agent.Headers));
        Assert.Equal(StatusCode.InvalidArgument, rejected.StatusCode);
        var fields = Errors.BadRequest(rejected).FieldViolations.Select(v => v.Field).ToHashSet();
        Assert.Equal(new HashSet<string> { "product", "session_id", "device.id", "device.platform", "session_kind" }, fields);

        var noDevice = ValidRequest();
        noDevice.Device = null;
        var missing = await Assert.ThrowsAsync<RpcException>(async () => await agent.Raw.AcquireSeatAsync(noDevice, agent.Headers));
        Assert.Contains(Errors.BadRequest(missing).FieldViolations, v => v.Field == "device");

        var badLease = await Assert.ThrowsAsync<RpcException>(async () =>
            await agent.Raw.HeartbeatAsync(new HeartbeatRequest { Product = Product, LeaseId = "guess" }, agent.Headers));
        Assert.Equal(StatusCode.InvalidArgument, badLease.StatusCode);
        Assert.Contains(Errors.BadRequest(badLease).FieldViolations, v => v.Field == "lease_id");

        // Nothing was taken by the rejected calls: both agents can still share... the single seat goes to the first asker.
        await _fixture.Host.Agent(account, ids[1]).AcquireAsync(Product);
    }

    private static AcquireSeatRequest ValidRequest() => new()
    {
        Product = Product,
        SessionId = "s-1",
        Device = new Device { Id = "desktop", Platform = Platform.Mac },
        SessionKind = SessionKind.Attended,
    };
}
