using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using LicenseBroker.IntegrationTests.Infrastructure;

namespace LicenseBroker.IntegrationTests;

/// <summary>The admin, subscription and entitlement RPCs over plain HTTP/JSON, as a web console or curl uses them.</summary>
public sealed class RestTests
{
    [Fact]
    public async Task Admin_subscription_and_entitlement_calls_work_over_http_json_with_the_same_rules()
    {
        var port = Processes.FreePort();
        await using var database = await TestDatabase.CreateAsync();
        await using var host = await BrokerTestHost.StartAsync(database, new Dictionary<string, string?> { ["Rest:Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        var seeder = new CatalogSeeder(database);
        var account = await seeder.AccountAsync(namedSeats: 1);
        var agents = await seeder.AgentsAsync(account, 2, seatType: null);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        var admin = Token(host.AdminHeaders(account));
        var service = Token(host.ServiceHeaders());

        // Assign a named seat with POST, then read it back through a list and the usage page.
        using (var assign = Request(HttpMethod.Post, $"/v1/admin/agents/{agents[0]}/seats/remote-support", admin, new { seatType = "SEAT_TYPE_NAMED" }))
        {
            var response = await http.SendAsync(assign);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal("SEAT_TYPE_NAMED", body.RootElement.GetProperty("assignment").GetProperty("seatType").GetString());
        }

        using (var list = Request(HttpMethod.Get, "/v1/admin/agents?product=remote-support&seatFilter=SEAT_FILTER_NAMED", admin))
        {
            using var body = JsonDocument.Parse(await (await http.SendAsync(list)).Content.ReadAsStringAsync());
            Assert.Equal(agents[0], Assert.Single(body.RootElement.GetProperty("agents").EnumerateArray()).GetProperty("agentId").GetString());
        }

        // The named limit holds over JSON too, with the same error details.
        using (var refused = Request(HttpMethod.Post, $"/v1/admin/agents/{agents[1]}/seats/remote-support", admin, new { seatType = "SEAT_TYPE_NAMED" }))
        {
            var response = await http.SendAsync(refused);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode); // FAILED_PRECONDITION maps to 400
            Assert.Contains("NAMED_SEAT_LIMIT_REACHED", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var check = Request(HttpMethod.Get, $"/v1/entitlements/{account}/{agents[0]}/remote-support", service))
        {
            using var body = JsonDocument.Parse(await (await http.SendAsync(check)).Content.ReadAsStringAsync());
            Assert.Equal("ENTITLEMENT_STATUS_ENTITLED", body.RootElement.GetProperty("status").GetString());
        }

        using (var subscription = Request(HttpMethod.Get, $"/v1/subscriptions/{account}/remote-support", service))
        {
            using var body = JsonDocument.Parse(await (await http.SendAsync(subscription)).Content.ReadAsStringAsync());
            Assert.Equal(1, body.RootElement.GetProperty("subscription").GetProperty("namedSeatLimit").GetInt32());
        }

        // Same policies: no token, or an agent's token on an admin route, are refused.
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/v1/admin/usage")).StatusCode);
        using (var agentCall = Request(HttpMethod.Get, "/v1/admin/usage", Token(BrokerTestHost.Bearer(Cli.DevTokens.Mint(host.SigningKey, account, agents[1], TimeSpan.FromMinutes(5))))))
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await http.SendAsync(agentCall)).StatusCode);
        }
    }

    private static string Token(Grpc.Core.Metadata headers) => headers.Get("authorization")!.Value["Bearer ".Length..];

    private static HttpRequestMessage Request(HttpMethod method, string path, string token, object? body = null)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        return request;
    }
}
