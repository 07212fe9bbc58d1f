using System.Collections.Concurrent;
using System.Diagnostics;
using Dapper;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;
using LicenseBroker.Storage.Postgres;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// The audit log partitioned by month (issue 29, migrations 0016 and 0019): today's table migrated while writers
/// append, without losing or repeating a row and with the same history; each account's retention drops whole months.
/// </summary>
public sealed class AuditLogPartitionTests
{
    private const string Product = "remote-support";

    [Fact]
    public async Task A_million_events_are_migrated_while_writers_append_and_nothing_is_lost_repeated_or_counted_differently()
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var dataSource = NpgsqlDataSource.Create(database.ConnectionString);
        await new MigrationRunner(dataSource).MigrateAsync(CancellationToken.None, upToVersion: 15);
        var seeder = new CatalogSeeder(database);
        var account = await seeder.AccountAsync();

        // 1,000,000 seat events over the last 58 days, one every 5 s, 3,000 agents; as the broker writes them.
        var start = DateTime.UtcNow.Date.AddDays(-59);
        await using (var connection = await dataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync(
                """
                INSERT INTO audit_events (occurred_at, account_id, product_code, actor, action, subject, after, event_seq)
                SELECT t, @account, 'remote-support', 'a' || (i % 3000), CASE WHEN i % 2 = 0 THEN 'seat.granted' ELSE 'seat.released' END,
                       'a' || (i % 3000), jsonb_build_object('lease_id', 'l' || (i / 2)), (extract(epoch FROM t) * 1000000)::bigint
                FROM generate_series(1, 1000000) AS i, LATERAL (SELECT @start + i * interval '5 seconds' AS t) AS x
                """,
                new { account, start },
                commandTimeout: 600);
        }

        var before = await DistinctAgentsPerDayAsync(dataSource, account);
        Assert.Equal(58, before.Count);

        // Writers append (the way the broker's drain and admin changes do) before, during and after the migration.
        var written = new ConcurrentBag<long>();
        var slowest = new ConcurrentBag<TimeSpan>();
        using var stop = new CancellationTokenSource();
        var migrated = new TaskCompletionSource();
        var writers = Enumerable.Range(0, 3).Select(w => Task.Run(async () =>
        {
            var afterMigration = 0;
            for (var k = 0L; afterMigration < 100; k++)
            {
                var clock = Stopwatch.StartNew();
                await using var connection = await dataSource.OpenConnectionAsync();
                written.Add(await connection.ExecuteScalarAsync<long>(
                    "INSERT INTO audit_events (account_id, product_code, actor, action, subject, event_seq) VALUES ('live', 'remote-support', 'w', 'seat.granted', 'w', @seq) RETURNING id",
                    new { seq = 9_000_000_000_000_000L + (w * 1_000_000_000L) + k }));
                slowest.Add(clock.Elapsed);
                afterMigration += migrated.Task.IsCompleted ? 1 : 0;
            }
        })).ToList();

        await Eventually.Until(() => Task.FromResult(written.Count >= 30 ? "writing" : null), TimeSpan.FromSeconds(30), "the writers to start");
        var migration = Stopwatch.StartNew();
        var applied = await new MigrationRunner(dataSource).MigrateAsync(CancellationToken.None);
        migration.Stop();
        migrated.SetResult();
        await Task.WhenAll(writers);

        Assert.Contains(16, applied);
        await using (var connection = await dataSource.OpenConnectionAsync())
        {
            Assert.Equal("p", await connection.ExecuteScalarAsync<string>("SELECT relkind::text FROM pg_class WHERE oid = 'audit_events'::regclass"));
            Assert.Equal(1_000_000L, await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM audit_events WHERE account_id = @account", new { account }));
            var live = (await connection.QueryAsync<long>("SELECT id FROM audit_events WHERE account_id = 'live'")).ToList();
            Assert.Equal(written.Order(), live.Order());
            Assert.Equal(1_000_000L + written.Count, await connection.ExecuteScalarAsync<long>("SELECT count(DISTINCT id) FROM audit_events"));

            // Still append-only, and still idempotent for a seat event written twice.
            await Assert.ThrowsAsync<PostgresException>(() => connection.ExecuteAsync("DELETE FROM audit_events WHERE account_id = 'live'"));
            var again = await connection.ExecuteAsync(
                """
                INSERT INTO audit_events (occurred_at, account_id, product_code, actor, action, subject, event_seq)
                SELECT occurred_at, account_id, product_code, actor, action, subject, event_seq FROM audit_events WHERE account_id = @account LIMIT 10
                ON CONFLICT (account_id, product_code, event_seq, occurred_at, retention_days) WHERE event_seq IS NOT NULL DO NOTHING
                """,
                new { account });
            Assert.Equal(0, again);
        }

        // History through the broker answers what it answered before.
        await using var host = await BrokerTestHost.StartAsync(database);
        var history = await host.AdminClient.GetUsageHistoryAsync(
            new GetUsageHistoryRequest { Product = Product, From = Day(start), To = Day(start.AddDays(57)) }, host.AdminHeaders(account));
        Assert.Equal(before, history.Days.ToDictionary(d => d.Day, d => d.DistinctAgents));
        Console.WriteLine($"migration {migration.ElapsedMilliseconds} ms; slowest write {slowest.Max().TotalMilliseconds:F0} ms of {written.Count}");
    }

    [Fact]
    public async Task Retention_drops_each_accounts_months_whole_at_its_own_retention_in_every_table_and_leaves_the_rest_unchanged()
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var host = await BrokerTestHost.StartAsync(database);
        var partitions = host.Services.GetRequiredService<EventLogPartitions>();
        Assert.Equal(0, await partitions.EnsureAsync(3, CancellationToken.None)); // made by the migration and the broker's start

        // "short" keeps 90 days (set through the API), "kept" the default 400.
        var shortAccount = await new CatalogSeeder(database).AccountAsync();
        await host.AdminClient.SetEventRetentionAsync(new SetEventRetentionRequest { RetentionDays = 90 }, host.AdminHeaders(shortAccount));
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        await connection.ExecuteAsync("INSERT INTO accounts (id, name) VALUES ('kept', 'kept')");
        foreach (var account in new[] { shortAccount, "kept" })
        {
            await connection.ExecuteAsync(
                "INSERT INTO webhook_endpoints (id, account_id, url, event_types, secret, created_by) VALUES (@id, @account, 'https://example.test/h', '{seat.granted}', 's', 'x')",
                new { id = "we-" + account, account });
        }

        // Each account has a row before the monthly partitions, in the first month and in the second, in each table.
        var boundary = await connection.ExecuteScalarAsync<DateTime>(
            "SELECT (regexp_match(pg_get_expr(relpartbound, oid), 'TO \\(''([^'']+)''\\)'))[1]::timestamptz FROM pg_class WHERE relname = 'audit_events_before_partitions'");
        boundary = DateTime.SpecifyKind(boundary, DateTimeKind.Utc);
        var firstMonthEnd = boundary.AddMonths(1);
        foreach (var account in new[] { shortAccount, "kept" })
        {
            foreach (var (at, label) in new[] { (boundary.AddDays(-1), "old"), (boundary.AddDays(1), "m1"), (firstMonthEnd.AddDays(1), "m2") })
            {
                var row = new { at, account, label, endpoint = "we-" + account };
                await connection.ExecuteAsync(
                    """
                    INSERT INTO audit_events (occurred_at, account_id, product_code, actor, action, subject, retention_days)
                    VALUES (@at, @account, 'remote-support', @label, 'seat.granted', @label, lb_event_retention_days(@account));
                    INSERT INTO webhook_outbox (endpoint_id, message_id, event_type, payload, occurred_at, created_at, retention_days)
                    VALUES (@endpoint, 'msg-' || @account || @label, 'seat.granted', '{}', @at, @at, lb_event_retention_days(@account));
                    INSERT INTO webhook_deliveries (endpoint_id, message_id, event_type, attempt, attempted_at, duration_ms, retention_days)
                    VALUES (@endpoint, 'msg-' || @account || @label, 'seat.granted', 1, @at, 5, lb_event_retention_days(@account));
                    """,
                    row);
            }
        }

        string Month(DateTime month) => month.ToString("yyyy_MM", System.Globalization.CultureInfo.InvariantCulture);
        async Task<string[]> LeftAsync(string account) =>
        [
            .. await connection.QueryAsync<string>("SELECT subject FROM audit_events WHERE account_id = @account AND action = 'seat.granted' ORDER BY occurred_at", new { account }),
            .. await connection.QueryAsync<string>(
                "SELECT 'outbox:' || substr(message_id, length(@account) + 5) FROM webhook_outbox WHERE endpoint_id = @endpoint ORDER BY created_at", new { account, endpoint = "we-" + account }),
            .. await connection.QueryAsync<string>(
                "SELECT 'delivery:' || substr(message_id, length(@account) + 5) FROM webhook_deliveries WHERE endpoint_id = @endpoint ORDER BY attempted_at", new { account, endpoint = "we-" + account }),
        ];

        // 90 days after the first month: its 90-day class goes, in each table (one DROP each), with the classes nobody
        // wrote in (empty a month after their month); nothing holding a row of "kept".
        var dropped = await partitions.ExpireAsync(firstMonthEnd.AddDays(90), CancellationToken.None);
        foreach (var table in EventLogPartitions.Tables)
        {
            Assert.Contains($"{table}_{Month(boundary)}_d90", dropped);
            Assert.Contains($"{table}_{Month(boundary)}_d1825", dropped);
            Assert.DoesNotContain($"{table}_{Month(boundary)}_d400", dropped);
            Assert.DoesNotContain($"{table}_{Month(firstMonthEnd)}_d90", dropped);
            Assert.DoesNotContain($"{table}_before_partitions", dropped);
        }

        Assert.Equal(["old", "m2", "outbox:old", "outbox:m2", "delivery:old", "delivery:m2"], await LeftAsync(shortAccount));
        Assert.Equal(["old", "m1", "m2", "outbox:old", "outbox:m1", "outbox:m2", "delivery:old", "delivery:m1", "delivery:m2"], await LeftAsync("kept"));

        // 400 days after: the first month's 400-day class, the second month's 90-day one, and what holds every class
        // (before the partitions) since no account keeps longer than 400 days. The second month of "kept" stays.
        dropped = await partitions.ExpireAsync(firstMonthEnd.AddDays(400), CancellationToken.None);
        foreach (var table in EventLogPartitions.Tables)
        {
            Assert.Contains($"{table}_{Month(boundary)}_d400", dropped);
            Assert.Contains($"{table}_{Month(firstMonthEnd)}_d90", dropped);
            Assert.Contains($"{table}_before_partitions", dropped);
            Assert.DoesNotContain($"{table}_{Month(firstMonthEnd)}_d400", dropped);
        }

        Assert.Empty(await LeftAsync(shortAccount));
        Assert.Equal(["m2", "outbox:m2", "delivery:m2"], await LeftAsync("kept"));
        await Assert.ThrowsAsync<PostgresException>(() => connection.ExecuteAsync("DELETE FROM audit_events WHERE account_id = 'kept'"));

        // The maintenance makes what is missing from the current month on, now that the partition before the months
        // is gone: this month, the next, and the first month (dropped whole above, at a simulated date, but still
        // ahead of the real one); a write lands in this month's partition of its class.
        Assert.Equal(3 * EventLogPartitions.Tables.Count, await partitions.EnsureAsync(3, CancellationToken.None));
        Assert.Equal(
            $"audit_events_{Month(DateTime.UtcNow)}_d400",
            await connection.ExecuteScalarAsync<string>(
                "INSERT INTO audit_events (account_id, actor, action, retention_days) VALUES ('kept', 'x', 'test.after_expiry', 400) RETURNING tableoid::regclass::text"));
    }

    [Fact]
    public async Task History_counts_each_agent_once_a_day_from_the_rollup_even_for_a_batch_written_twice_and_never_reads_raw_rows()
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var host = await BrokerTestHost.StartAsync(database);
        var account = await new CatalogSeeder(database).AccountAsync();
        var writer = host.Services.GetRequiredService<PostgresSeatEventWriter>();
        var pool = new LicenseBroker.Domain.Seats.PoolId(account, Product);
        var today = DateTimeOffset.UtcNow;
        LicenseBroker.Domain.Seats.SeatEvent Grant(string agent, long seq) =>
            new(pool, LicenseBroker.Domain.Seats.SeatEventKind.Granted, agent, "l" + seq, agent, today, Sequence: (today.ToUnixTimeMilliseconds() * 1000) + seq);
        var batch = new[] { Grant("ann", 1), Grant("ann", 2), Grant("bob", 3) };

        Assert.Equal(3, await writer.WriteAsync(batch, CancellationToken.None));
        Assert.Equal(0, await writer.WriteAsync(batch, CancellationToken.None)); // the drain may write a batch twice
        Assert.Equal(1, await writer.WriteAsync([Grant("ann", 4)], CancellationToken.None)); // a later grant of the same day

        // A raw row written around the writer is not in the rollup: history does not read raw rows.
        await using (var connection = new NpgsqlConnection(database.ConnectionString))
        {
            await connection.ExecuteAsync(
                "INSERT INTO audit_events (account_id, product_code, actor, action, subject) VALUES (@account, @Product, 'x', 'seat.granted', 'carl')", new { account, Product });
        }

        var day = Day(today.UtcDateTime);
        var history = await host.AdminClient.GetUsageHistoryAsync(new GetUsageHistoryRequest { Product = Product, From = day, To = day }, host.AdminHeaders(account));
        Assert.Equal(2, Assert.Single(history.Days).DistinctAgents);
    }

    private static string Day(DateTime day) => day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);

    // The history's "distinct agents granted per day", as GetUsageHistory defines it, read straight from the rows.
    private static async Task<Dictionary<string, int>> DistinctAgentsPerDayAsync(NpgsqlDataSource dataSource, string account)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return (await connection.QueryAsync<(DateTime Day, int Agents)>(
            """
            SELECT (occurred_at AT TIME ZONE 'UTC')::date, count(DISTINCT subject)::int FROM audit_events
            WHERE account_id = @account AND action = 'seat.granted' AND occurred_at < date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
            GROUP BY 1
            """,
            new { account })).ToDictionary(r => Day(r.Day), r => r.Agents);
    }

    private static async Task<Dictionary<string, int>> DistinctAgentsPerDayAsync(NpgsqlConnection connection, string account, DateTime from) =>
        (await connection.QueryAsync<(DateTime Day, int Agents)>(
            "SELECT (occurred_at AT TIME ZONE 'UTC')::date, count(DISTINCT subject)::int FROM audit_events WHERE account_id = @account AND occurred_at >= @from GROUP BY 1",
            new { account, from })).ToDictionary(r => Day(r.Day), r => r.Agents);
}
