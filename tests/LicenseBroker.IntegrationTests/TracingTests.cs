using System.Collections.Concurrent;
using System.Net;
using System.Text;
using LicenseBroker.IntegrationTests.Infrastructure;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Traces go to an OpenTelemetry collector over OTLP when one is configured: the gRPC call and the
/// Redis script under it. The collector here is a plain HTTP listener that keeps what it receives.
/// </summary>
public sealed class TracingTests
{
    private const string Product = "remote-support";

    [Fact]
    public async Task An_acquire_is_traced_to_the_configured_otlp_collector_with_its_redis_script()
    {
        using var collector = new OtlpHttpCollector();
        await using var database = await TestDatabase.CreateAsync();
        await using var host = await BrokerTestHost.StartAsync(database, new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.Address,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
            ["OTEL_SERVICE_NAME"] = "licensebroker-test",
        });
        var seeder = new CatalogSeeder(database);
        var account = await seeder.AccountAsync(concurrentSeats: 1);
        var agentId = (await seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];

        await host.Agent(account, agentId).AcquireAsync(Product);

        // The script's span ends before the call's span, so the two may arrive in separate exports.
        var all = await Eventually.Until(
            () =>
            {
                var received = string.Join('\n', collector.Received);
                var complete = received.Contains("redis acquire", StringComparison.Ordinal)
                    && received.Contains("SeatService/AcquireSeat", StringComparison.Ordinal);
                return Task.FromResult(complete ? received : null);
            },
            TimeSpan.FromSeconds(15),
            "trace exports holding the acquire call's span and its script's span");
        Assert.Equal("/v1/traces", collector.Paths.First());
        Assert.Contains("licensebroker-test", all, StringComparison.Ordinal);
        var export = collector.Received.First(e => e.Contains("redis acquire", StringComparison.Ordinal));
        Assert.Contains("licensebroker-test", export, StringComparison.Ordinal);
    }

    /// <summary>Accepts OTLP/HTTP exports and keeps each body (protobuf, whose strings read as text).</summary>
    private sealed class OtlpHttpCollector : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _loop;

        public OtlpHttpCollector()
        {
            var port = Processes.FreePort();
            Address = $"http://127.0.0.1:{port}";
            _listener.Prefixes.Add(Address + "/");
            _listener.Start();
            _loop = Task.Run(ServeAsync);
        }

        public string Address { get; }

        public ConcurrentQueue<string> Received { get; } = new();

        public ConcurrentQueue<string> Paths { get; } = new();

        public void Dispose()
        {
            _listener.Close();
            _ = _loop.ContinueWith(_ => { }, TaskScheduler.Default);
        }

        private async Task ServeAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                using var body = new MemoryStream();
                await context.Request.InputStream.CopyToAsync(body);
                Paths.Enqueue(context.Request.Url!.AbsolutePath);
                Received.Enqueue(Encoding.UTF8.GetString(body.ToArray()));
                context.Response.StatusCode = (int)HttpStatusCode.OK;
                context.Response.ContentType = "application/x-protobuf";
                context.Response.Close();
            }
        }
    }
}
