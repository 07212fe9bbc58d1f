using System.Net;
using System.Text.Json;
using Grpc.Core;
using LicenseBroker.Cli;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Every refusal a client can meet carries a reason it can act on, over gRPC and over REST alike:
/// the status, a message, and an ErrorInfo reason (or a BadRequest naming the field as the caller wrote it).
/// </summary>
public sealed class FailureReasonTests : IAsyncLifetime
{
    private TestDatabase? _database;
    private RestBroker? _broker;

    private RestBroker Broker => _broker!;

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync();
        _broker = await RestBroker.StartAsync(_database);
    }

    public async Task DisposeAsync()
    {
        await _broker!.DisposeAsync();
        await _database!.DisposeAsync();
    }

    public static TheoryData<string> TokenCases => ["missing", "expired", "forged", "wrong audience", "wrong issuer", "malformed"];

    [Theory]
    [MemberData(nameof(TokenCases))]
    public async Task A_refused_token_says_why_over_grpc_and_rest(string kind)
    {
        var key = Broker.Host.SigningKey;
        var claims = DevTokens.Claims("ADMIN");
        var (token, reason) = kind switch
        {
            "missing" => ((string?)null, "TOKEN_MISSING"),
            "expired" => (DevTokens.Mint(key, "acme", "admin", TimeSpan.FromMinutes(1), extraClaims: claims, notBefore: DateTime.UtcNow.AddHours(-1)), "TOKEN_EXPIRED"),
            "forged" => (DevTokens.Mint(Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)), "acme", "admin", TimeSpan.FromMinutes(5), extraClaims: claims), "SIGNATURE_INVALID"),
            "wrong audience" => (DevTokens.Mint(key, "acme", "admin", TimeSpan.FromMinutes(5), audience: "elsewhere", extraClaims: claims), "WRONG_AUDIENCE"),
            "wrong issuer" => (DevTokens.Mint(key, "acme", "admin", TimeSpan.FromMinutes(5), issuer: "someone-else", extraClaims: claims), "WRONG_ISSUER"),
            _ => ("not-a-jwt", "TOKEN_MALFORMED"),
        };

        var grpc = await Assert.ThrowsAsync<RpcException>(async () => await Broker.Host.AdminClient.GetSeatUsageAsync(
            new GetSeatUsageRequest(), token is null ? [] : BrokerTestHost.Bearer(token)));
        Assert.Equal(StatusCode.Unauthenticated, grpc.StatusCode);
        Assert.Equal(reason, Errors.Info(grpc).Reason);
        Assert.False(string.IsNullOrWhiteSpace(grpc.Status.Detail));
        Assert.DoesNotContain("Bad gRPC response", grpc.Status.Detail, StringComparison.Ordinal);

        using var request = RestBroker.Request(HttpMethod.Get, "/v1/admin/usage", token);
        var response = await Broker.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("Bearer", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        var (code, message, restReason) = ReadStatus(await response.Content.ReadAsStringAsync());
        Assert.Equal((int)StatusCode.Unauthenticated, code);
        Assert.Equal(grpc.Status.Detail, message);
        Assert.Equal(reason, restReason);
    }

    [Fact]
    public async Task A_missing_privilege_is_named_over_grpc_and_rest()
    {
        var host = Broker.Host;
        var key = host.SigningKey;
        var member = BrokerTestHost.Bearer(DevTokens.Mint(key, "acme", "carol", TimeSpan.FromMinutes(5)));
        var seatManager = BrokerTestHost.Bearer(DevTokens.Mint(key, "acme", "bob", TimeSpan.FromMinutes(5), extraClaims: DevTokens.Claims("MANAGER", ["MANAGE_SEATS"])));
        var admin = host.AdminHeaders("acme");

        var usage = await Refused(() => host.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest(), member).ResponseAsync);
        Assert.Equal("MISSING_PRIVILEGE", usage.Reason);
        Assert.Equal("MANAGE_SEATS", usage.Metadata["required_privilege"]);

        var agents = await Refused(() => host.AdminClient.RemoveAgentAsync(new RemoveAgentRequest { AgentId = "nobody" }, seatManager).ResponseAsync);
        Assert.Equal("MISSING_PRIVILEGE", agents.Reason);
        Assert.Equal("MANAGE_USERS", agents.Metadata["required_privilege"]);

        var subscription = await Refused(() => host.SubscriptionClient.GetSubscriptionAsync(new GetSubscriptionRequest { AccountId = "acme", Product = "remote-support" }, admin).ResponseAsync);
        Assert.Equal("MISSING_SCOPE", subscription.Reason);
        Assert.Equal("licensebroker.service", subscription.Metadata["required_scope"]);

        // A token of no account (a machine's token, say) names no agent: it cannot take a seat.
        var noAccount = new Microsoft.IdentityModel.JsonWebTokens.JsonWebTokenHandler().CreateToken(new Microsoft.IdentityModel.Tokens.SecurityTokenDescriptor
        {
            Subject = new System.Security.Claims.ClaimsIdentity([new System.Security.Claims.Claim("sub", "robot")]),
            Issuer = DevTokens.DefaultIssuer,
            Audience = DevTokens.DefaultAudience,
            Expires = DateTime.UtcNow.AddMinutes(5),
            SigningCredentials = new(new Microsoft.IdentityModel.Tokens.SymmetricSecurityKey(Convert.FromBase64String(key)), Microsoft.IdentityModel.Tokens.SecurityAlgorithms.HmacSha256),
        });
        var seat = await Refused(() => new SeatService.SeatServiceClient(host.Channel).AcquireSeatAsync(
            new AcquireSeatRequest { Product = "remote-support", SessionId = "s1", Device = new Device { Id = "pc", Platform = Platform.Linux }, SessionKind = SessionKind.Pending },
            BrokerTestHost.Bearer(noAccount)).ResponseAsync);
        Assert.Equal("NOT_AN_AGENT_TOKEN", seat.Reason);
        Assert.Contains("account_id", seat.Metadata["missing_claims"], StringComparison.Ordinal);

        // Over REST: 403 and the same Status as JSON.
        using var request = RestBroker.Request(HttpMethod.Delete, "/v1/admin/agents/nobody", RestBroker.Token(seatManager));
        var response = await Broker.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var (code, message, reason) = ReadStatus(await response.Content.ReadAsStringAsync());
        Assert.Equal((int)StatusCode.PermissionDenied, code);
        Assert.Contains("MANAGE_USERS", message, StringComparison.Ordinal);
        Assert.Equal("MISSING_PRIVILEGE", reason);
    }

    [Fact]
    public async Task Rest_names_bad_fields_as_the_json_caller_wrote_them_and_a_bad_enum_is_invalid_argument()
    {
        var host = Broker.Host;
        var admin = host.AdminHeaders("acme");

        // gRPC names proto fields; REST the JSON names the caller sent.
        var grpc = await Assert.ThrowsAsync<RpcException>(async () => await host.AdminClient.UpsertAgentAsync(
            new UpsertAgentRequest { AgentId = "carol", Email = "not-an-email", DisplayName = " ", Role = AgentRole.Member }, admin));
        Assert.Equal(["email", "display_name"], Errors.BadRequest(grpc).FieldViolations.Select(v => v.Field));

        using (var request = RestBroker.Request(HttpMethod.Put, "/v1/admin/agents/carol", RestBroker.Token(admin), new { email = "not-an-email", displayName = " ", role = "AGENT_ROLE_MEMBER" }))
        {
            var response = await Broker.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            var body = await response.Content.ReadAsStringAsync();
            Assert.Equal(["email", "displayName"], FieldViolations(body));
            Assert.Contains("displayName", ReadStatus(body).Message, StringComparison.Ordinal);
            Assert.DoesNotContain("display_name", body, StringComparison.Ordinal);
        }

        // A value that is not one of the enum's names: INVALID_ARGUMENT naming the field, no .NET type name.
        using (var request = RestBroker.Request(HttpMethod.Post, "/v1/admin/agents/carol/seats/remote-support", RestBroker.Token(admin), new { seatType = "SEAT_TYPE_GOLD" }))
        {
            var response = await Broker.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            var body = await response.Content.ReadAsStringAsync();
            Assert.Equal((int)StatusCode.InvalidArgument, ReadStatus(body).Code);
            Assert.True(FieldViolations(body) is ["seatType"], body);
            Assert.DoesNotContain("LicenseBroker.", body, StringComparison.Ordinal);
        }

        // The same in a query string.
        using (var request = RestBroker.Request(HttpMethod.Get, "/v1/admin/agents?seatFilter=GOLD", RestBroker.Token(admin)))
        {
            var response = await Broker.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal(["seatFilter"], FieldViolations(await response.Content.ReadAsStringAsync()));
        }

        // Malformed JSON is INVALID_ARGUMENT too, and says so plainly.
        using (var request = RestBroker.Request(HttpMethod.Post, "/v1/admin/agents/carol/seats/remote-support", RestBroker.Token(admin)))
        {
            request.Content = new StringContent("{\"seatType\": ", System.Text.Encoding.UTF8, "application/json");
            var response = await Broker.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            var body = await response.Content.ReadAsStringAsync();
            Assert.Equal((int)StatusCode.InvalidArgument, ReadStatus(body).Code);
            Assert.DoesNotContain("LicenseBroker.", body, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Refusals_an_agent_sees_carry_a_localized_message_in_the_callers_language()
    {
        var host = Broker.Host;
        var seeder = host.Seeder();
        var account = await seeder.AccountAsync(concurrentSeats: 1);
        var agents = await seeder.AgentsAsync(account, 3, "CONCURRENT");
        var noSeat = (await seeder.AgentsAsync(account, 1, seatType: null, prefix: "noseat"))[0];
        var holder = host.Agent(account, agents[0]);
        var lease = (await holder.AcquireAsync("remote-support")).Lease;

        static Metadata In(AgentClient agent, string? language)
        {
            var headers = new Metadata();
            foreach (var entry in agent.Headers)
            {
                headers.Add(entry);
            }

            if (language is not null)
            {
                headers.Add("accept-language", language);
            }

            return headers;
        }

        async Task<(RpcException Error, Google.Rpc.LocalizedMessage Localized)> Acquire(AgentClient agent, string? language)
        {
            var refused = await Assert.ThrowsAsync<RpcException>(async () => await agent.Raw.AcquireSeatAsync(
                new AcquireSeatRequest { Product = "remote-support", SessionId = "s-" + Guid.NewGuid().ToString("N")[..8], Device = new Device { Id = "pc", Platform = Platform.Windows }, SessionKind = SessionKind.Pending },
                In(agent, language)));
            return (refused, refused.GetRpcStatus()!.GetDetail<Google.Rpc.LocalizedMessage>() ?? throw new Xunit.Sdk.XunitException("no LocalizedMessage in " + refused.Status));
        }

        // The pool is full: French in the seeds' own words, English otherwise; Status.message stays English.
        var second = host.Agent(account, agents[1]);
        var (french, frenchText) = await Acquire(second, "fr-FR,fr;q=0.9,en;q=0.8");
        Assert.Equal("fr", frenchText.Locale);
        Assert.Equal("Tous les postes partagés sont utilisés. Pour démarrer une session, veuillez attendre qu’un poste soit disponible.", frenchText.Message);
        Assert.Equal("All shared seats are in use. To start a session, please wait for a seat to become available.", french.Status.Detail);
        var (_, englishText) = await Acquire(second, "en-GB");
        Assert.Equal(("en", "All shared seats are in use. To start a session, please wait for a seat to become available."), (englishText.Locale, englishText.Message));
        Assert.Equal("en", (await Acquire(second, null)).Localized.Locale);
        Assert.Equal("en", (await Acquire(second, "de-DE, ja;q=0.5")).Localized.Locale);
        Assert.Equal("fr", (await Acquire(second, "de-DE, fr;q=0.5, en;q=0.1")).Localized.Locale);

        // No seat assigned.
        var (_, noSeatText) = await Acquire(host.Agent(account, noSeat), "fr");
        Assert.Equal("Vous n’avez aucun poste pour remote-support. Demandez à un administrateur de vous en attribuer un.", noSeatText.Message);

        // While waiting, the position is worded too.
        using (var wait = second.Raw.WaitForSeat(
            new WaitForSeatRequest { Product = "remote-support", SessionId = "w1", Device = new Device { Id = "pc", Platform = Platform.Windows }, SessionKind = SessionKind.Pending },
            In(second, "fr")))
        {
            Assert.True(await wait.ResponseStream.MoveNext());
            Assert.StartsWith("En attente d’un poste\u00a0: vous êtes à la position 1 sur 1", wait.ResponseStream.Current.Position.LocalizedMessage, StringComparison.Ordinal);
        }

        // Revoked by an admin: the next heartbeat says who, with the date written for a person.
        await host.AdminClient.ForceReleaseAsync(new ForceReleaseRequest { Product = "remote-support", LeaseIds = { lease.LeaseId } }, host.AdminHeaders(account, "alice"));
        var revoked = await Assert.ThrowsAsync<RpcException>(async () => await holder.Raw.HeartbeatAsync(
            new HeartbeatRequest { Product = "remote-support", LeaseId = lease.LeaseId, SessionId = lease.SessionId, LeaseProof = lease.LeaseProof },
            In(holder, "fr-CA")));
        var revokedText = revoked.GetRpcStatus()!.GetDetail<Google.Rpc.LocalizedMessage>()!;
        Assert.Equal("LEASE_REVOKED", Errors.Info(revoked).Reason);
        Assert.StartsWith("Un administrateur (alice) a mis fin à votre session le ", revokedText.Message, StringComparison.Ordinal);
        Assert.Matches(@" le \d{4}-\d\d-\d\d \d\d:\d\d UTC\.$", revokedText.Message);

        // An unknown lease.
        var expired = await Assert.ThrowsAsync<RpcException>(async () => await holder.Raw.HeartbeatAsync(
            new HeartbeatRequest { Product = "remote-support", LeaseId = "ls_" + new string('A', 22) }, In(holder, "fr")));
        Assert.Equal("Votre session auprès du service de licences a pris fin. Reconnectez-vous pour obtenir un poste.",
            expired.GetRpcStatus()!.GetDetail<Google.Rpc.LocalizedMessage>()!.Message);
    }

    private static List<string> FieldViolations(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.GetProperty("details").EnumerateArray()
            .Where(d => d.GetProperty("@type").GetString() == "type.googleapis.com/google.rpc.BadRequest")
            .SelectMany(d => d.GetProperty("fieldViolations").EnumerateArray().Select(v => v.GetProperty("field").GetString()!))
            .ToList();
    }

    private static async Task<Google.Rpc.ErrorInfo> Refused(Func<Task> call)
    {
        var refused = await Assert.ThrowsAsync<RpcException>(call);
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        return Errors.Info(refused);
    }

    /// <summary>Code, message and ErrorInfo reason of a JSON google.rpc.Status.</summary>
    internal static (int Code, string Message, string? Reason) ReadStatus(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        var reason = root.TryGetProperty("details", out var details)
            ? details.EnumerateArray().Where(d => d.GetProperty("@type").GetString() == "type.googleapis.com/google.rpc.ErrorInfo")
                .Select(d => d.GetProperty("reason").GetString()).FirstOrDefault()
            : null;
        return (root.GetProperty("code").GetInt32(), root.GetProperty("message").GetString()!, reason);
    }
}
