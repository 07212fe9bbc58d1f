using System.Text.Json;
using Dapper;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;
using Npgsql;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Issue 16, part 3: signed webhooks from a durable outbox. A receiver written with the
/// StandardWebhooks library verifies every signature; it is down for a while, the broker restarts in
/// the middle (two replicas deliver after it), and every event still arrives, once per id, in the outbox's order.
/// </summary>
public sealed class WebhookTests : IAsyncLifetime
{
    private const string Product = "remote-support";

    private static readonly Dictionary<string, string?> Settings = new()
    {
        ["Webhooks:AllowHttp"] = "true",
        ["Webhooks:AllowedInternalNetworks:0"] = "127.0.0.0/8",
        ["Webhooks:PollInterval"] = "00:00:00.100",
        ["Webhooks:FirstRetryDelay"] = "00:00:00.200",
        ["Webhooks:MaxRetryDelay"] = "00:00:01",
        ["Webhooks:RequestTimeout"] = "00:00:02",
    };

    private TestDatabase? _database;
    private WebhookReceiver? _receiver;

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync();
        _receiver = await WebhookReceiver.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _receiver!.DisposeAsync();
        await _database!.DisposeAsync();
    }

    [Fact]
    public async Task A_seat_event_reaches_its_receiver_within_a_second_woken_by_the_write_not_the_poll()
    {
        var receiver = _receiver!;
        // A poll of a minute: a message that arrives within a second came through LISTEN/NOTIFY.
        var settings = new Dictionary<string, string?>(Settings) { ["Webhooks:PollInterval"] = "00:01:00" };
        await using var host = await BrokerTestHost.StartAsync(_database!, settings);
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: 2);
        var agent = (await seeder.AgentsAsync(account, 1, "CONCURRENT", prefix: "quick"))[0];
        var created = await host.AdminClient.CreateWebhookEndpointAsync(
            new CreateWebhookEndpointRequest { Url = receiver.Url, EventTypes = { "seat.granted" } }, host.AdminHeaders(account));
        receiver.Secrets.Add(created.Secret);

        // A first message: once it has arrived, the dispatcher listens (it arrived by a wake, since the
        // dispatcher's one poll at start came before the endpoint existed). The second is the one timed.
        var first = (await host.Agent(account, agent).AcquireAsync(Product, sessionId: "first")).Lease;
        await Eventually.Until(
            async () => { await Task.Yield(); return receiver.Accepted.FirstOrDefault(m => m.Body.Contains(first.LeaseId, StringComparison.Ordinal)); },
            TimeSpan.FromSeconds(10),
            "the first seat.granted message");
        Assert.True(await host.Agent(account, agent).ReleaseAsync(first));
        var lease = (await host.Agent(account, agent).AcquireAsync(Product, sessionId: "second")).Lease;
        var answered = DateTimeOffset.UtcNow;
        var message = await Eventually.Until(
            async () => { await Task.Yield(); return receiver.Accepted.FirstOrDefault(m => m.Body.Contains(lease.LeaseId, StringComparison.Ordinal)); },
            TimeSpan.FromSeconds(5),
            "the seat.granted message");
        Assert.True(message.At - answered < TimeSpan.FromSeconds(1), $"arrived {(message.At - answered).TotalMilliseconds:F0} ms after the grant");
    }

    [Fact]
    public async Task Every_event_arrives_signed_once_per_id_and_in_order_through_an_outage_and_a_broker_restart()
    {
        var receiver = _receiver!;
        var first = await BrokerTestHost.StartAsync(_database!, new Dictionary<string, string?>(Settings));
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: 2, namedSeats: 1);
        var ids = await seeder.AgentsAsync(account, 4, "CONCURRENT");
        var spare = (await seeder.AgentsAsync(account, 1, seatType: null, prefix: "spare"))[0];

        var created = await first.AdminClient.CreateWebhookEndpointAsync(new CreateWebhookEndpointRequest
        {
            Url = receiver.Url,
            EventTypes = { "seat.granted", "seat.released", "seat.force_released", "seat.refused", "pool.full", "pool.threshold", "queue.joined", "agent.seat_changed" },
            ThresholdPercent = 50,
        }, first.AdminHeaders(account));
        Assert.StartsWith("whsec_", created.Secret, StringComparison.Ordinal);
        receiver.Secrets.Add(created.Secret);

        // The receiver is down while the events happen, and the broker that recorded them stops.
        receiver.Down = true;
        var a = (await first.Agent(account, ids[0]).AcquireAsync(Product)).Lease;   // granted; 1 of 2: threshold 50 %
        await first.Agent(account, ids[1]).AcquireAsync(Product);                    // granted; 2 of 2: pool full
        await Assert.ThrowsAsync<RpcException>(() => first.Agent(account, ids[2]).AcquireAsync(Product)); // refused
        Assert.True(await first.Agent(account, ids[0]).ReleaseAsync(a));             // released
        var c = (await first.Agent(account, ids[2]).AcquireAsync(Product)).Lease;   // granted; full again
        await first.AdminClient.ForceReleaseAsync(new ForceReleaseRequest { Product = Product, LeaseIds = { c.LeaseId } }, first.AdminHeaders(account)); // revoked
        // Seat events are recorded in batches within a second, admin changes at once: the outbox (the
        // delivery order) is the order they were recorded in. Wait for the batch, so the order is known.
        await first.AuditWrittenAsync();
        await first.AdminClient.AssignSeatAsync(new AssignSeatRequest { AgentId = spare, Product = Product, SeatType = SeatType.Named }, first.AdminHeaders(account)); // seat changed
        await Eventually.Until(async () => receiver.Refused >= 2 ? "tried" : null, TimeSpan.FromSeconds(15), "deliveries to fail while the receiver is down");
        var prefix = first.Services.GetRequiredRedisPrefix();
        await first.DisposeAsync();
        var expected = await OutboxAsync(account);
        Assert.Equal(
            ["seat.granted", "pool.threshold", "seat.granted", "pool.full", "seat.refused", "seat.released", "seat.granted", "pool.full", "seat.force_released", "agent.seat_changed"],
            expected.Select(m => m.EventType));

        // Back up, with two new brokers delivering side by side: everything arrives, still in order.
        await using var second = await BrokerTestHost.StartAsync(_database!, new Dictionary<string, string?>(Settings), keyPrefix: prefix, signingKey: first.SigningKey);
        await using var third = await BrokerTestHost.StartAsync(_database!, new Dictionary<string, string?>(Settings), keyPrefix: prefix, signingKey: first.SigningKey);
        receiver.Down = false;
        await Eventually.Until(
            async () => (await OutboxAsync(account)).All(m => m.Delivered) ? "delivered" : null,
            TimeSpan.FromSeconds(30),
            "every message to be delivered");

        Assert.Empty(receiver.Rejected);
        var received = receiver.Accepted.ToList();
        Assert.Equal(expected.Select(m => m.MessageId), received.Select(r => r.MessageId).Distinct());

        // Duplicates only with the same id, and then with the same body.
        foreach (var group in received.GroupBy(r => r.MessageId))
        {
            Assert.Single(group.Select(r => r.Body).Distinct());
        }

        // The payload is the Standard Webhooks shape.
        using var full = JsonDocument.Parse(received.First(r => r.MessageId == expected[3].MessageId).Body);
        Assert.Equal("pool.full", full.RootElement.GetProperty("type").GetString());
        Assert.Equal(2, full.RootElement.GetProperty("data").GetProperty("seats_in_use").GetInt32());
        Assert.Equal(2, full.RootElement.GetProperty("data").GetProperty("seat_limit").GetInt32());
        Assert.Equal(account, full.RootElement.GetProperty("data").GetProperty("account_id").GetString());

        // The delivery log shows the failed attempts, then the successes.
        var endpoint = Assert.Single((await second.AdminClient.ListWebhookEndpointsAsync(new ListWebhookEndpointsRequest(), second.AdminHeaders(account))).Endpoints);
        Assert.Equal((WebhookEndpointState.Active, 0), (endpoint.State, endpoint.PendingMessages));
        var log = (await second.AdminClient.ListWebhookDeliveriesAsync(
            new ListWebhookDeliveriesRequest { EndpointId = endpoint.EndpointId, Page = new PageRequest { PageSize = 1000 } }, second.AdminHeaders(account))).Deliveries;
        Assert.Contains(log, d => d.StatusCode == 503 && d.Error == "HTTP 503");
        Assert.Equal(expected.Count, log.Count(d => d.StatusCode == 204));

        // A rotated secret: both signatures for a while; a receiver holding only the new one accepts the next message.
        var rotated = await second.AdminClient.RotateWebhookSecretAsync(new RotateWebhookSecretRequest { EndpointId = endpoint.EndpointId }, second.AdminHeaders(account));
        receiver.Secrets.Clear();
        receiver.Secrets.Add(rotated.Secret);
        await second.Agent(account, ids[3]).AcquireAsync(Product);
        var next = await Eventually.Until(
            async () => receiver.Accepted.FirstOrDefault(r => !expected.Any(m => m.MessageId == r.MessageId)),
            TimeSpan.FromSeconds(15),
            "the message after the rotation");
        Assert.Equal(2, next.Signature.Split(' ').Length);
        Assert.Empty(receiver.Rejected);
    }

    [Fact]
    public async Task Internal_and_malformed_urls_are_refused_naming_the_url_and_nothing_is_created()
    {
        await using var host = await BrokerTestHost.StartAsync(_database!);
        var account = await new CatalogSeeder(_database!).AccountAsync();
        foreach (var url in new[]
        {
            "https://10.0.0.5/hook", "https://192.168.1.20/hook", "https://169.254.169.254/latest/meta-data", "https://127.0.0.1:8080/hook",
            "https://[::1]/hook", "https://[fd00::1]/hook", "https://[::ffff:10.1.2.3]/hook", "https://0.0.0.0/hook", "https://localhost/hook",
            "http://93.184.216.34/hook", "https://user:pass@93.184.216.34/hook", "ftp://93.184.216.34/x", "not a url", "",
        })
        {
            var error = await Assert.ThrowsAsync<RpcException>(async () => await host.AdminClient.CreateWebhookEndpointAsync(
                new CreateWebhookEndpointRequest { Url = url, EventTypes = { "seat.granted" } }, host.AdminHeaders(account)));
            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
            Assert.Equal("url", Assert.Single(Errors.BadRequest(error).FieldViolations).Field);
        }

        var types = await Assert.ThrowsAsync<RpcException>(async () => await host.AdminClient.CreateWebhookEndpointAsync(
            new CreateWebhookEndpointRequest { Url = "https://93.184.216.34/hook", EventTypes = { "seat.granted", "seat.stolen", "pool.threshold" } }, host.AdminHeaders(account)));
        Assert.Equal(["event_types[1]", "threshold_percent"], Errors.BadRequest(types).FieldViolations.Select(v => v.Field).Order(StringComparer.Ordinal));

        // A manager may not see or change webhooks: they expose every seat event of the account.
        var manager = await Assert.ThrowsAsync<RpcException>(async () => await host.AdminClient.ListWebhookEndpointsAsync(
            new ListWebhookEndpointsRequest(), host.ManagerHeaders(account)));
        Assert.Equal(StatusCode.PermissionDenied, manager.StatusCode);
        Assert.Empty((await host.AdminClient.ListWebhookEndpointsAsync(new ListWebhookEndpointsRequest(), host.AdminHeaders(account))).Endpoints);
    }

    /// <summary>An action has one name (the audit log's); the old webhook name stays an alias for one release, never delivered twice.</summary>
    [Fact]
    public async Task A_force_release_is_seat_force_released_and_the_old_name_seat_revoked_still_reaches_who_subscribed_to_it_once()
    {
        await using var host = await BrokerTestHost.StartAsync(_database!, new Dictionary<string, string?>(Settings) { ["Webhooks:PollInterval"] = "00:01:00" });
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: 2);
        var agent = (await seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];
        var endpoints = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, types) in new[] { ("new", new[] { "seat.force_released" }), ("old", ["seat.revoked"]), ("both", ["seat.revoked", "seat.force_released"]) })
        {
            endpoints[(await host.AdminClient.CreateWebhookEndpointAsync(
                new CreateWebhookEndpointRequest { Url = _receiver!.Url + "/" + name, EventTypes = { types } }, host.AdminHeaders(account))).Endpoint.EndpointId] = name;
        }

        var lease = (await host.Agent(account, agent).AcquireAsync(Product)).Lease;
        await host.AdminClient.ForceReleaseAsync(new ForceReleaseRequest { Product = Product, LeaseIds = { lease.LeaseId } }, host.AdminHeaders(account));
        await host.AuditWrittenAsync();

        await using var connection = new NpgsqlConnection(_database!.ConnectionString);
        var messages = (await connection.QueryAsync<(string Endpoint, string Type, string Body)>(
            "SELECT o.endpoint_id, o.event_type, o.payload::text FROM webhook_outbox o JOIN webhook_endpoints e ON e.id = o.endpoint_id WHERE e.account_id = @account",
            new { account })).ToList();
        Assert.Equal(
            ["both: seat.force_released", "new: seat.force_released", "old: seat.revoked"],
            messages.Select(m => $"{endpoints[m.Endpoint]}: {m.Type}").Order(StringComparer.Ordinal));
        Assert.All(messages, m => Assert.Contains($"\"type\": \"{m.Type}\"", m.Body, StringComparison.Ordinal));
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>(
            "SELECT count(*) FROM audit_events WHERE account_id = @account AND action = 'seat.force_released'", new { account }));

        // A name that is neither is refused, naming the field.
        var refused = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => host.AdminClient.CreateWebhookEndpointAsync(
            new CreateWebhookEndpointRequest { Url = _receiver!.Url, EventTypes = { "seat.revoke" } }, host.AdminHeaders(account)).ResponseAsync);
        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Contains("event_types[0]", refused.Status.Detail, StringComparison.Ordinal);
    }

    private async Task<List<(string MessageId, string EventType, bool Delivered)>> OutboxAsync(string account)
    {
        await using var connection = new NpgsqlConnection(_database!.ConnectionString);
        return (await connection.QueryAsync<(string, string, bool)>(
            """
            SELECT o.message_id, o.event_type, o.delivered_at IS NOT NULL
            FROM webhook_outbox o JOIN webhook_endpoints e ON e.id = o.endpoint_id
            WHERE e.account_id = @account ORDER BY o.id
            """,
            new { account })).ToList();
    }
}
