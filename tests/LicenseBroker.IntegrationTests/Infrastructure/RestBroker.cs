using System.Net.Http.Headers;
using System.Net.Http.Json;

namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>A broker with its REST listener on a free port, and a client for that port.</summary>
internal sealed class RestBroker(BrokerTestHost host, HttpClient http) : IAsyncDisposable
{
    public BrokerTestHost Host { get; } = host;

    public HttpClient Http { get; } = http;

    public static async Task<RestBroker> StartAsync(TestDatabase database, IDictionary<string, string?>? settings = null)
    {
        var port = Processes.FreePort();
        var values = new Dictionary<string, string?>(settings ?? new Dictionary<string, string?>())
        {
            ["Rest:Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        var host = await BrokerTestHost.StartAsync(database, values);
        return new RestBroker(host, new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") });
    }

    /// <summary>The bearer token inside gRPC call headers.</summary>
    public static string Token(Grpc.Core.Metadata headers) => headers.Get("authorization")!.Value["Bearer ".Length..];

    public static HttpRequestMessage Request(HttpMethod method, string path, string? token, object? body = null)
    {
        var request = new HttpRequestMessage(method, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        return request;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Host.DisposeAsync();
    }
}
