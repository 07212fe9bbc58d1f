using System.Collections.Concurrent;
using Dapper;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;
using LicenseBroker.Storage.Postgres;
using Npgsql;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// The event log kept per account (issue 29 item 4, migration 0019): a retention an admin sets takes effect at once,
/// and the webhook outbox and delivery log are partitioned like the audit log, migrated while writers append.
/// </summary>
public sealed class EventRetentionTests
{
    [Fact]
    public async Task A_shorter_retention_hides_older_events_at_once_and_a_refused_value_changes_nothing()
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var host = await BrokerTestHost.StartAsync(database);
        var account = await new CatalogSeeder(database).AccountAsync();
        var admin = host.AdminHeaders(account);
        await using (var connection = new NpgsqlConnection(database.ConnectionString))
        {
            // The classes the API offers are the partitions the database makes (two lists, one truth).
            Assert.Equal(Domain.Administration.EventRetentionClasses.AllowedDays, await connection.ExecuteScalarAsync<int[]>("SELECT lb_retention_classes()"));
            await connection.ExecuteAsync(
                "INSERT INTO audit_events (occurred_at, account_id, product_code, actor, action, subject) VALUES (now() - interval '100 days', @account, 'remote-support', 'x', 'seat.granted', 'hundred-days-ago')",
                new { account });
        }

        async Task<List<AuditEvent>> LogAsync() =>
            [.. (await host.AdminClient.ListAuditEventsAsync(new ListAuditEventsRequest { Page = new PageRequest { PageSize = 1000 } }, admin)).Events];

        var initial = await host.AdminClient.GetEventRetentionAsync(new GetEventRetentionRequest(), admin);
        Assert.Equal(400, initial.RetentionDays);
        Assert.Equal([90, 180, 400, 730, 1825], initial.AllowedDays);
        Assert.Contains(await LogAsync(), e => e.Subject == "hundred-days-ago");

        foreach (var refused in new[] { 0, -400, 91, 3650, int.MaxValue })
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => host.AdminClient.SetEventRetentionAsync(new SetEventRetentionRequest { RetentionDays = refused }, admin).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
            Assert.Contains("retention_days", error.Status.Detail, StringComparison.Ordinal);
        }

        Assert.Equal(400, (await host.AdminClient.GetEventRetentionAsync(new GetEventRetentionRequest(), admin)).RetentionDays);
        Assert.DoesNotContain(await LogAsync(), e => e.Action == "account.retention_set");

        // 90 days: the event of 100 days ago is in no answer from now on; the change itself is audited.
        var set = await host.AdminClient.SetEventRetentionAsync(new SetEventRetentionRequest { RetentionDays = 90 }, admin);
        Assert.Equal(90, set.RetentionDays);
        Assert.Equal(90, (await host.AdminClient.GetEventRetentionAsync(new GetEventRetentionRequest(), admin)).RetentionDays);
        var log = await LogAsync();
        Assert.DoesNotContain(log, e => e.Subject == "hundred-days-ago");
        var change = Assert.Single(log, e => e.Action == "account.retention_set");
        Assert.Contains("400", change.BeforeJson, StringComparison.Ordinal);
        Assert.Contains("90", change.AfterJson, StringComparison.Ordinal);

        // Another account's retention is its own.
        var other = await new CatalogSeeder(database).AccountAsync();
        Assert.Equal(400, (await host.AdminClient.GetEventRetentionAsync(new GetEventRetentionRequest(), host.AdminHeaders(other))).RetentionDays);
    }

    [Fact]
    public async Task The_webhook_outbox_and_delivery_log_are_partitioned_while_writers_append_and_nothing_is_lost()
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var dataSource = NpgsqlDataSource.Create(database.ConnectionString);
        await new MigrationRunner(dataSource).MigrateAsync(CancellationToken.None, upToVersion: 18);
        var account = await new CatalogSeeder(database).AccountAsync();

        // 200,000 messages (the last 1,000 waiting) and their 200,000 delivery attempts, as the broker writes them.
        await using (var connection = await dataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync(
                """
                INSERT INTO webhook_endpoints (id, account_id, url, event_types, secret, created_by) VALUES ('whe_00000000000000a1', @account, 'https://example.test/h', '{seat.granted}', 's', 'x');
                INSERT INTO webhook_outbox (endpoint_id, message_id, event_type, payload, occurred_at, delivered_at)
                SELECT 'whe_00000000000000a1', 'msg_' || i, 'seat.granted', jsonb_build_object('n', i), now() - (200000 - i) * interval '10 seconds',
                       CASE WHEN i <= 199000 THEN now() END
                FROM generate_series(1, 200000) AS i;
                INSERT INTO webhook_deliveries (endpoint_id, message_id, event_type, attempt, attempted_at, status_code, duration_ms)
                SELECT 'whe_00000000000000a1', 'msg_' || i, 'seat.granted', 1, now() - (200000 - i) * interval '10 seconds', 204, 3
                FROM generate_series(1, 200000) AS i;
                """,
                new { account },
                commandTimeout: 600);
        }

        var written = new ConcurrentBag<(long Outbox, long Delivery)>();
        var migrated = new TaskCompletionSource();
        var writers = Enumerable.Range(0, 2).Select(w => Task.Run(async () =>
        {
            var afterMigration = 0;
            for (var k = 0; afterMigration < 50; k++)
            {
                await using var connection = await dataSource.OpenConnectionAsync();
                var ids = await connection.QuerySingleAsync<(long, long)>(
                    """
                    WITH o AS (INSERT INTO webhook_outbox (endpoint_id, message_id, event_type, payload, occurred_at) VALUES ('whe_00000000000000a1', @id, 'seat.granted', '{}', now()) RETURNING id),
                         d AS (INSERT INTO webhook_deliveries (endpoint_id, message_id, event_type, attempt, duration_ms) VALUES ('whe_00000000000000a1', @id, 'seat.granted', 1, 3) RETURNING id)
                    SELECT o.id, d.id FROM o, d
                    """,
                    new { id = $"live-{w}-{k}" });
                written.Add(ids);
                afterMigration += migrated.Task.IsCompleted ? 1 : 0;
            }
        })).ToList();

        await Eventually.Until(() => Task.FromResult(written.Count >= 20 ? "writing" : null), TimeSpan.FromSeconds(30), "the writers to start");
        var applied = await new MigrationRunner(dataSource).MigrateAsync(CancellationToken.None);
        migrated.SetResult();
        await Task.WhenAll(writers);

        Assert.Contains(19, applied);
        await using (var connection = await dataSource.OpenConnectionAsync())
        {
            Assert.Equal("p", await connection.ExecuteScalarAsync<string>("SELECT relkind::text FROM pg_class WHERE oid = 'webhook_outbox'::regclass"));
            Assert.Equal("p", await connection.ExecuteScalarAsync<string>("SELECT relkind::text FROM pg_class WHERE oid = 'webhook_deliveries'::regclass"));
            Assert.Equal(200_000L + written.Count, await connection.ExecuteScalarAsync<long>("SELECT count(DISTINCT id) FROM webhook_outbox"));
            Assert.Equal(200_000L + written.Count, await connection.ExecuteScalarAsync<long>("SELECT count(DISTINCT id) FROM webhook_deliveries"));
            var live = (await connection.QueryAsync<(long, long)>(
                "SELECT o.id, d.id FROM webhook_outbox o JOIN webhook_deliveries d ON d.message_id = o.message_id WHERE o.message_id LIKE 'live-%'")).ToList();
            Assert.Equal(written.Order(), live.Order());
            Assert.Equal(1000L + written.Count, await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM webhook_outbox WHERE delivered_at IS NULL"));
        }

        // The broker reads the migrated tables: the endpoint's waiting messages and its delivery log, newest first.
        await using var host = await BrokerTestHost.StartAsync(database);
        var endpoint = Assert.Single((await host.AdminClient.ListWebhookEndpointsAsync(new ListWebhookEndpointsRequest(), host.AdminHeaders(account))).Endpoints);
        Assert.Equal(1000 + written.Count, endpoint.PendingMessages);
        var deliveries = await host.AdminClient.ListWebhookDeliveriesAsync(
            new ListWebhookDeliveriesRequest { EndpointId = "whe_00000000000000a1", Page = new PageRequest { PageSize = 5 } }, host.AdminHeaders(account));
        Assert.Equal(5, deliveries.Deliveries.Count);
        Assert.StartsWith("live-", deliveries.Deliveries[0].MessageId, StringComparison.Ordinal);
    }
}
