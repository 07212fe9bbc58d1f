using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using LicenseBroker.IntegrationTests.Infrastructure;
using Microsoft.OpenApi;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// The admin, subscription and entitlement RPCs over plain HTTP/JSON, as a web console or curl uses
/// them, and their OpenAPI description: valid, complete, and describing routes that answer as described.
/// </summary>
public sealed class RestTests
{
    [Fact]
    public async Task Admin_subscription_and_entitlement_calls_work_over_http_json_with_the_same_rules()
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var broker = await RestBroker.StartAsync(database);
        var (host, http) = (broker.Host, broker.Http);
        var seeder = new CatalogSeeder(database);
        var account = await seeder.AccountAsync(namedSeats: 1);
        var agents = await seeder.AgentsAsync(account, 2, seatType: null);
        var admin = RestBroker.Token(host.AdminHeaders(account));
        var service = RestBroker.Token(host.ServiceHeaders());

        // Assign a named seat with POST, then read it back through a list and the usage page.
        using (var assign = RestBroker.Request(HttpMethod.Post, $"/v1/admin/agents/{agents[0]}/seats/remote-support", admin, new { seatType = "SEAT_TYPE_NAMED" }))
        {
            var response = await http.SendAsync(assign);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal("SEAT_TYPE_NAMED", body.RootElement.GetProperty("assignment").GetProperty("seatType").GetString());
        }

        using (var list = RestBroker.Request(HttpMethod.Get, "/v1/admin/agents?product=remote-support&seatFilter=SEAT_FILTER_NAMED", admin))
        {
            using var body = JsonDocument.Parse(await (await http.SendAsync(list)).Content.ReadAsStringAsync());
            Assert.Equal(agents[0], Assert.Single(body.RootElement.GetProperty("agents").EnumerateArray()).GetProperty("agentId").GetString());
        }

        // The named limit holds over JSON too, with the same error details.
        using (var refused = RestBroker.Request(HttpMethod.Post, $"/v1/admin/agents/{agents[1]}/seats/remote-support", admin, new { seatType = "SEAT_TYPE_NAMED" }))
        {
            var response = await http.SendAsync(refused);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode); // FAILED_PRECONDITION maps to 400
            Assert.Contains("NAMED_SEAT_LIMIT_REACHED", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var check = RestBroker.Request(HttpMethod.Get, $"/v1/entitlements/{account}/{agents[0]}/remote-support", service))
        {
            using var body = JsonDocument.Parse(await (await http.SendAsync(check)).Content.ReadAsStringAsync());
            Assert.Equal("ENTITLEMENT_STATUS_ENTITLED", body.RootElement.GetProperty("status").GetString());
        }

        using (var subscription = RestBroker.Request(HttpMethod.Get, $"/v1/subscriptions/{account}/remote-support", service))
        {
            using var body = JsonDocument.Parse(await (await http.SendAsync(subscription)).Content.ReadAsStringAsync());
            Assert.Equal(1, body.RootElement.GetProperty("subscription").GetProperty("namedSeatLimit").GetInt32());
        }

        // Same policies: no token, or an agent's token on an admin route, are refused.
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/v1/admin/usage")).StatusCode);
        using (var agentCall = RestBroker.Request(HttpMethod.Get, "/v1/admin/usage", RestBroker.Token(BrokerTestHost.Bearer(Cli.DevTokens.Mint(host.SigningKey, account, agents[1], TimeSpan.FromMinutes(5))))))
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await http.SendAsync(agentCall)).StatusCode);
        }
    }

    [Fact]
    public async Task The_openapi_description_is_valid_and_its_routes_answer_as_described()
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var broker = await RestBroker.StartAsync(database);
        var (host, http) = (broker.Host, broker.Http);

        // Anonymous: the description holds no data.
        var response = await http.GetAsync(new Uri("/openapi/v1.json", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();

        // The reference OpenAPI reader accepts it without errors.
        using var stream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text));
        var (document, diagnostic) = await OpenApiDocument.LoadAsync(stream, "json");
        Assert.NotNull(diagnostic);
        Assert.Empty(diagnostic.Errors);
        Assert.NotNull(document);
        Assert.Equal(OpenApiSpecVersion.OpenApi3_0, diagnostic.SpecificationVersion);

        // Every transcoded route of the protos is there, with its verb.
        var json = JsonNode.Parse(text)!.AsObject();
        var paths = json["paths"]!.AsObject();
        string[] expected =
        [
            "post /v1/admin/products/{product}/sessions:end", "get /v1/admin/products/{product}/sessions", "get /v1/admin/usage",
            "get /v1/admin/products/{product}/usage-history", "get /v1/admin/products/{product}/overage-statement", "get /v1/admin/products/{product}/seat-plan", "post /v1/admin/agents/{agent_id}/seats/{product}",
            "delete /v1/admin/agents/{agent_id}/seats/{product}", "post /v1/admin/seats:bulk", "get /v1/admin/agents",
            "put /v1/admin/agents/{agent_id}", "delete /v1/admin/agents/{agent_id}", "post /v1/admin/agents/{agent_id}:erase",
            "get /v1/admin/event-retention", "put /v1/admin/event-retention", "put /v1/admin/products/{product}/devices/{device_id}",
            "delete /v1/admin/products/{product}/devices/{device_id}", "get /v1/admin/products/{product}/devices", "get /v1/admin/audit-events",
            "get /v1/admin/groups", "put /v1/admin/groups/{group_id}", "delete /v1/admin/groups/{group_id}",
            "put /v1/admin/products/{product}/group-rules/{group_id}", "put /v1/admin/products/{product}/session-timeouts", "get /v1/admin/me/preferences", "put /v1/admin/me/preferences", "delete /v1/admin/products/{product}/group-rules/{group_id}",
            "post /v1/admin/webhooks", "get /v1/admin/webhooks", "put /v1/admin/webhooks/{endpoint_id}", "delete /v1/admin/webhooks/{endpoint_id}",
            "post /v1/admin/webhooks/{endpoint_id}:rotateSecret", "get /v1/admin/webhooks/{endpoint_id}/deliveries",
            "put /v1/subscriptions", "get /v1/subscriptions/{account_id}/{product}",
            "get /v1/entitlements/{account_id}/{agent_id}/{product}", "post /v1/entitlements:batchCheck",
            "get /v1/entitlements/{account_id}:snapshot", "get /v1/entitlements:keys", "post /v1/entitlements:rotateKey",
        ];
        var described = paths.SelectMany(path => path.Value!.AsObject().Select(verb => $"{verb.Key} {path.Key}")).Order(StringComparer.Ordinal);
        Assert.Equal(expected.Order(StringComparer.Ordinal), described);

        // Every reference resolves, and the proto comments became descriptions.
        var schemas = json["components"]!["schemas"]!.AsObject();
        var references = References(json).ToList();
        Assert.NotEmpty(references);
        Assert.All(references, reference => Assert.True(schemas.ContainsKey(reference["#/components/schemas/".Length..]), reference));
        Assert.Contains("Seats & Devices", paths["/v1/admin/usage"]!["get"]!["description"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("#/components/schemas/licensebroker.v1.Subscription",
            paths["/v1/subscriptions"]!["put"]!["requestBody"]!["content"]!["application/json"]!["schema"]!["$ref"]!.GetValue<string>());
        var subscription = schemas["licensebroker.v1.Subscription"]!["properties"]!.AsObject();
        Assert.Equal("date-time", subscription["validUntil"]!["format"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(subscription["namedSeatLimit"]!["description"]?.GetValue<string>()));

        // The query parameters it names are the ones the route reads: filter agents by what the description says.
        var seeder = new CatalogSeeder(database);
        var account = await seeder.AccountAsync(namedSeats: 2);
        var named = (await seeder.AgentsAsync(account, 1, "NAMED", prefix: "named"))[0];
        await seeder.AgentsAsync(account, 2, seatType: null);
        var listAgents = paths["/v1/admin/agents"]!["get"]!;
        var parameters = listAgents["parameters"]!.AsArray().Select(p => p!["name"]!.GetValue<string>()).ToList();
        Assert.Contains("product", parameters);
        Assert.Contains("seatFilter", parameters);
        Assert.Contains("page.pageSize", parameters);
        Assert.Contains("page.pageToken", parameters);
        var filter = schemas["licensebroker.v1.SeatFilter"]!["enum"]!.AsArray().Select(v => v!.GetValue<string>()).First(v => v.EndsWith("NAMED", StringComparison.Ordinal));
        var admin = RestBroker.Token(host.AdminHeaders(account));
        using var list = RestBroker.Request(HttpMethod.Get, $"/v1/admin/agents?product=remote-support&seatFilter={filter}", admin);
        var listed = JsonNode.Parse(await (await http.SendAsync(list)).Content.ReadAsStringAsync())!;
        Assert.Equal(named, Assert.Single(listed["agents"]!.AsArray())!["agentId"]!.GetValue<string>());

        using var firstPage = RestBroker.Request(HttpMethod.Get, "/v1/admin/agents?page.pageSize=2", admin);
        var page = JsonNode.Parse(await (await http.SendAsync(firstPage)).Content.ReadAsStringAsync())!;
        Assert.Equal(2, page["agents"]!.AsArray().Count);
        Assert.False(string.IsNullOrEmpty(page["nextPageToken"]?.GetValue<string>()));

        // The audit log over REST: the admin change above is there; a bad kind is named as the JSON caller wrote it.
        await host.AdminClient.UpsertAgentAsync(
            new Contracts.V1.UpsertAgentRequest { AgentId = "rest-zoe", Email = "rest-zoe@example.test", DisplayName = "Zoe", Role = Contracts.V1.AgentRole.Member },
            host.AdminHeaders(account));
        using var audit = RestBroker.Request(HttpMethod.Get, "/v1/admin/audit-events?actions=agent&page.pageSize=5", admin);
        var auditResponse = await http.SendAsync(audit);
        Assert.Equal(System.Net.HttpStatusCode.OK, auditResponse.StatusCode);
        var events = JsonNode.Parse(await auditResponse.Content.ReadAsStringAsync())!["events"]!.AsArray();
        Assert.Contains(events, e => e!["action"]!.GetValue<string>() == "agent.upsert" && e["subject"]!.GetValue<string>() == "rest-zoe");
        using var badAudit = RestBroker.Request(HttpMethod.Get, "/v1/admin/audit-events?actions=DROP", admin);
        var badResponse = await http.SendAsync(badAudit);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, badResponse.StatusCode);
        Assert.Contains("actions[0]", await badResponse.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private static IEnumerable<string> References(JsonNode node) => node switch
    {
        JsonObject obj => obj.SelectMany(p => p.Key == "$ref" ? [p.Value!.GetValue<string>()] : p.Value is null ? [] : References(p.Value)),
        JsonArray array => array.SelectMany(item => item is null ? [] : References(item)),
        _ => [],
    };
}
