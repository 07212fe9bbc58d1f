using Dapper;
using LicenseBroker.Domain.Administration;
using LicenseBroker.Storage.Resilience;
using Npgsql;

namespace LicenseBroker.Storage.Postgres;

/// <summary>The durable side of the Seats &amp; Devices page and of the usage history.</summary>
public sealed class PostgresUsageReader : IUsageReader
{
    private const string UsageSql = """
        SELECT s.product_code AS Product,
               (SELECT count(*) FROM seat_assignments a WHERE a.account_id = s.account_id AND a.product_code = s.product_code AND a.seat_type = 'NAMED')::int AS NamedSeatsAssigned,
               s.named_seat_limit AS NamedSeatLimit,
               s.concurrent_seat_limit AS ConcurrentSeatLimit,
               (SELECT count(*) FROM seat_assignments a WHERE a.account_id = s.account_id AND a.product_code = s.product_code AND a.seat_type = 'CONCURRENT')::int AS ConcurrentEligibleAgents,
               (SELECT count(*) FROM devices d WHERE d.account_id = s.account_id AND d.product_code = s.product_code AND d.kind = 'UNATTENDED')::int AS UnattendedDevicesInUse,
               s.unattended_device_limit AS UnattendedDeviceLimit,
               (SELECT count(*) FROM devices d WHERE d.account_id = s.account_id AND d.product_code = s.product_code AND d.kind = 'MONITORED')::int AS MonitoredDevices,
               coalesce(u.peak_concurrent, 0) AS PeakToday,
               coalesce(u.refused, 0) AS RefusedToday,
               s.plan AS Plan,
               s.valid_until AS ValidUntil,
               s.pending_timeout_seconds AS PendingTimeoutSeconds,
               s.idle_timeout_seconds AS IdleTimeoutSeconds,
               coalesce(s.display_name, p.name) AS DisplayName,
               p.seat_model = 'UNLIMITED' AS Unlimited
        FROM subscriptions s
        JOIN products p ON p.code = s.product_code
        LEFT JOIN usage_daily u ON u.account_id = s.account_id AND u.product_code = s.product_code AND u.day = @today
        WHERE s.account_id = @accountId AND (@product::text IS NULL OR s.product_code = @product)
        ORDER BY s.product_code
        """;

    // From the daily rollups only (usage_daily, migrations 0003 and 0017): never the raw audit rows.
    private const string HistorySql = """
        SELECT d::date AS Day,
               coalesce(u.peak_concurrent, 0) AS PeakConcurrent,
               coalesce(u.refused, 0) AS Refused,
               coalesce(u.distinct_agents, 0) AS DistinctAgents,
               coalesce(u.queue_joins, 0) AS QueueJoins,
               coalesce(u.queue_abandoned, 0) AS QueueAbandoned,
               coalesce(u.named_agents, 0) AS NamedAgents
        FROM generate_series(@from::date::timestamp AT TIME ZONE 'UTC', @to::date::timestamp AT TIME ZONE 'UTC', interval '1 day') AS d
        LEFT JOIN usage_daily u ON u.account_id = @accountId AND u.product_code = @product AND u.day = (d AT TIME ZONE 'UTC')::date
        ORDER BY d
        """;

    private readonly NpgsqlDataSource _dataSource;
    private readonly BackendPipelines _pipelines;
    private readonly PostgresOptions _options;

    public PostgresUsageReader(NpgsqlDataSource dataSource, BackendPipelines pipelines, PostgresOptions options)
    {
        _dataSource = dataSource;
        _pipelines = pipelines;
        _options = options;
    }

    public async Task<IReadOnlyList<DurableUsage>> GetUsageAsync(string accountId, string? product, DateOnly today, CancellationToken cancellationToken) =>
        // Retried on transient faults: it only reads.
        await _pipelines.Postgres.ExecuteAsync(
            async ct =>
            {
                await using var connection = await _dataSource.OpenConnectionAsync(ct);
                return (IReadOnlyList<DurableUsage>)(await connection.QueryAsync<DurableUsage>(
                    new CommandDefinition(UsageSql, new { accountId, product, today }, cancellationToken: ct))).ToList();
            },
            cancellationToken);

    public async Task<IReadOnlyList<UsageDay>> GetHistoryAsync(string accountId, string product, DateOnly from, DateOnly to, CancellationToken cancellationToken)
    {
        // The dates reach SQL as they are: a range beyond the calendar would be an endless series.
        if (to < from || to.DayNumber - from.DayNumber > 366 || from.Year < 2000 || to.Year > 2199)
        {
            throw new ArgumentOutOfRangeException(nameof(to), $"History range {from}..{to} is outside what callers validate.");
        }

        return await ReportAsync(
            System.Data.IsolationLevel.ReadCommitted,
            async (connection, transaction, ct) =>
            {
                var rows = await connection.QueryAsync<HistoryRow>(
                    new CommandDefinition(HistorySql, new { accountId, product, from, to }, transaction, cancellationToken: ct));
                return (IReadOnlyList<UsageDay>)rows.Select(r => new UsageDay(r.Day, r.PeakConcurrent, r.Refused, r.DistinctAgents, r.QueueJoins, r.QueueAbandoned, r.NamedAgents)).ToList();
            },
            cancellationToken);
    }

    // A report: the reports pipeline (its own breaker), in a transaction whose statement timeout stops the work inside
    // PostgreSQL (Postgres:ReportStatementTimeout).
    private async Task<T> ReportAsync<T>(
        System.Data.IsolationLevel isolation, Func<NpgsqlConnection, NpgsqlTransaction, CancellationToken, Task<T>> query, CancellationToken cancellationToken) =>
        await _pipelines.PostgresReports.ExecuteAsync(
            async ct =>
            {
                await using var connection = await _dataSource.OpenConnectionAsync(ct);
                await using var transaction = await connection.BeginTransactionAsync(isolation, ct);
                await connection.ExecuteAsync(new CommandDefinition(
                    "SELECT set_config('statement_timeout', @timeout, true)",
                    new { timeout = ((long)_options.ReportStatementTimeout.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture) },
                    transaction, cancellationToken: ct));
                return await query(connection, transaction, ct);
            },
            cancellationToken);

    private sealed record HistoryRow(DateOnly Day, int PeakConcurrent, int Refused, int DistinctAgents, int QueueJoins, int QueueAbandoned, int NamedAgents);

    // The pool's overage events (migration 0023's seat events; after.overage_seats: the overage seats after each), in the
    // pool's order: the last one before the range (the state it starts in), then those within it.
    private const string OverageBeforeSql = """
        SELECT (after->>'overage_seats')::int FROM audit_events
        WHERE account_id = @accountId AND product_code = @product AND action = ANY(@actions) AND occurred_at < @from
        ORDER BY occurred_at DESC, event_seq DESC LIMIT 1
        """;

    private const string OverageSql = """
        SELECT occurred_at AS At, (after->>'overage_seats')::int AS OverageSeats FROM audit_events
        WHERE account_id = @accountId AND product_code = @product AND action = ANY(@actions) AND occurred_at >= @from AND occurred_at < @to
        ORDER BY occurred_at, event_seq
        """;

    private static readonly string[] OverageActions = ["pool.overage_started", "pool.overage_changed", "pool.overage_ended"];

    public async Task<(int InitialSeats, IReadOnlyList<OverageChange> Changes)> GetOverageChangesAsync(
        string accountId, string product, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken) =>
        // One snapshot for both reads (REPEATABLE READ): an event stored between them is in neither or in both.
        await ReportAsync(
            System.Data.IsolationLevel.RepeatableRead,
            async (connection, transaction, ct) =>
            {
                var parameters = new { accountId, product, actions = OverageActions, from = from.UtcDateTime, to = to.UtcDateTime };
                var initial = await connection.QuerySingleOrDefaultAsync<int?>(new CommandDefinition(OverageBeforeSql, parameters, transaction, cancellationToken: ct));
                var rows = await connection.QueryAsync<OverageRow>(new CommandDefinition(OverageSql, parameters, transaction, cancellationToken: ct));
                return (initial ?? 0, (IReadOnlyList<OverageChange>)rows.Select(r => new OverageChange(new DateTimeOffset(DateTime.SpecifyKind(r.At, DateTimeKind.Utc)), r.OverageSeats)).ToList());
            },
            cancellationToken);

    private sealed record OverageRow(DateTime At, int OverageSeats);
}
