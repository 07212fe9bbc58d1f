using System.Text.RegularExpressions;
using LicenseBroker.IntegrationTests.Infrastructure;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// The Prometheus endpoint, on its own port, shows the seat metrics move. The broker runs in a
/// process of its own: in the test process, dozens of other hosts' meters (same names, same
/// listeners) share the metrics pipeline, and under a full suite this one's series went missing.
/// </summary>
public sealed partial class MetricsTests
{
    [Fact]
    public async Task The_scrape_endpoint_shows_seat_events_and_grpc_calls_move()
    {
        var port = Processes.FreePort();
        await using var database = await TestDatabase.CreateAsync();
        await using var host = await BrokerProcess.StartAsync(database, new Dictionary<string, string> { ["Metrics__Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        var seeder = new CatalogSeeder(database);
        var account = await seeder.AccountAsync(concurrentSeats: 1);
        var ids = await seeder.AgentsAsync(account, 2, "CONCURRENT");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };

        var before = Granted(await http.GetStringAsync("/metrics"));
        var lease = (await host.Agent(account, ids[0]).AcquireAsync("remote-support")).Lease;
        // The pool is full: refused. An UNAVAILABLE (a Redis call timed out on a loaded machine) is retried as an app would.
        var refused = await Eventually.Until(
            async () =>
            {
                var error = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => host.Agent(account, ids[1]).AcquireAsync("remote-support"));
                return error.StatusCode == Grpc.Core.StatusCode.Unavailable ? null : error;
            },
            TimeSpan.FromSeconds(15),
            "the second acquire to be answered");
        Assert.Equal(Grpc.Core.StatusCode.ResourceExhausted, refused.StatusCode);
        await host.Agent(account, ids[0]).ReleaseAsync(lease);

        // A call without a token is refused before any service code runs: labelled UNAUTHENTICATED (16) too.
        var anonymous = new Contracts.V1.SeatService.SeatServiceClient(host.Channel);
        Assert.Equal(Grpc.Core.StatusCode.Unauthenticated, (await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () =>
            await anonymous.ReleaseSeatAsync(new Contracts.V1.ReleaseSeatRequest { Product = "remote-support", LeaseId = lease.LeaseId }))).StatusCode);

        // The exporter caches a scrape briefly: wait on the value, not on time.
        string[] wanted =
        [
            "http_server_request_duration_seconds", "kind=\"released\"", "kind=\"refused\"", "rpc_grpc_status_code=\"0\"",
            "rpc_grpc_status_code=\"8\"", "rpc_grpc_status_code=\"16\"", "licensebroker_redis_script_duration_seconds_count",
        ];
        var missing = wanted;
        var text = await Eventually.Until(
            async () =>
            {
                // Each series appears once its measurement is taken (the HTTP one when the call has
                // completed) and the exporter caches a scrape briefly: wait until all are there.
                var scraped = await http.GetStringAsync("/metrics");
                missing = [.. wanted.Where(series => !scraped.Contains(series, StringComparison.Ordinal))];
                return Granted(scraped) >= before + 1 && missing.Length == 0 ? scraped : null;
            },
            TimeSpan.FromSeconds(30),
            () => "the seat, gRPC and Redis metrics to move; missing: " + string.Join(", ", missing));
        Assert.Matches("licensebroker_seat_events_total\\{[^}]*kind=\"refused\"[^}]*\\} [1-9]", text);
        Assert.Matches("licensebroker_seat_events_total\\{[^}]*kind=\"released\"[^}]*\\} [1-9]", text);
        Assert.Contains("http_server_request_duration_seconds", text, StringComparison.Ordinal);

        // The request metric tells calls apart by gRPC status: OK (0) and RESOURCE_EXHAUSTED (8), not only HTTP 200.
        Assert.Matches("http_server_request_duration_seconds_count\\{[^}]*rpc_grpc_status_code=\"0\"[^}]*\\} [1-9]", text);
        Assert.Matches("http_server_request_duration_seconds_count\\{[^}]*rpc_grpc_status_code=\"8\"[^}]*\\} [1-9]", text);
        Assert.Matches("licensebroker_redis_script_duration_seconds_count\\{[^}]*script=\"acquire\"[^}]*\\} [1-9]", text);
        Assert.Contains("licensebroker_backend_circuit_open{", text, StringComparison.Ordinal);
        Assert.DoesNotContain(account, text, StringComparison.Ordinal);
    }

    private static double Granted(string text)
    {
        var match = GrantedLine().Match(text);
        return match.Success ? double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
    }

    [GeneratedRegex("licensebroker_seat_events_total\\{[^}]*kind=\"granted\"[^}]*\\} ([0-9.eE+]+)")]
    private static partial Regex GrantedLine();
}
