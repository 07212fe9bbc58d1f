using Dapper;
using LicenseBroker.Domain.Seats;
using Npgsql;
using NpgsqlTypes;

namespace LicenseBroker.Storage.Postgres;

/// <summary>Writes a batch of seat events in one transaction: audit rows by binary COPY, then the daily counters.</summary>
public sealed class PostgresSeatEventWriter
{
    private const string CopySql = """
        COPY audit_events (occurred_at, account_id, product_code, actor, action, subject, after)
        FROM STDIN (FORMAT BINARY)
        """;

    // GREATEST: the Redis counters only grow within a day, so the largest value seen is the true one,
    // whatever order batches from several replicas arrive in.
    private const string UsageSql = """
        INSERT INTO usage_daily (account_id, product_code, day, peak_concurrent, refused)
        SELECT * FROM unnest(@accounts, @products, @days, @peaks, @refused)
        ON CONFLICT (account_id, product_code, day) DO UPDATE SET
            peak_concurrent = GREATEST(usage_daily.peak_concurrent, EXCLUDED.peak_concurrent),
            refused = GREATEST(usage_daily.refused, EXCLUDED.refused)
        """;

    private readonly NpgsqlDataSource _dataSource;

    public PostgresSeatEventWriter(NpgsqlDataSource dataSource)
    {
        _dataSource = dataSource;
    }

    public async Task WriteAsync(IReadOnlyList<SeatEvent> batch, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var importer = await connection.BeginBinaryImportAsync(CopySql, cancellationToken))
        {
            foreach (var e in batch)
            {
                await importer.StartRowAsync(cancellationToken);
                await importer.WriteAsync(e.At.UtcDateTime, NpgsqlDbType.TimestampTz, cancellationToken);
                await importer.WriteAsync(e.Pool.AccountId, NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync(e.Pool.Product, NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync(e.Actor, NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync(ActionOf(e.Kind), NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync(e.AgentId, NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync(e.LeaseId is null ? "{}" : $"{{\"lease_id\":\"{e.LeaseId}\"}}", NpgsqlDbType.Jsonb, cancellationToken);
            }

            await importer.CompleteAsync(cancellationToken);
        }

        // Webhook messages are written with the audit rows they come from: both or neither.
        await WebhookOutbox.AddSeatEventsAsync(connection, transaction, batch, cancellationToken);

        var usage = batch
            .Where(e => e.PeakToday is not null || e.RefusedToday is not null)
            .GroupBy(e => (e.Pool, Day: DateOnly.FromDateTime(e.At.UtcDateTime)))
            .Select(g => (g.Key.Pool, g.Key.Day, Peak: g.Max(e => e.PeakToday ?? 0), Refused: g.Max(e => e.RefusedToday ?? 0)))
            .ToList();
        if (usage.Count > 0)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                UsageSql,
                new
                {
                    accounts = usage.Select(u => u.Pool.AccountId).ToArray(),
                    products = usage.Select(u => u.Pool.Product).ToArray(),
                    days = usage.Select(u => u.Day).ToArray(),
                    peaks = usage.Select(u => u.Peak).ToArray(),
                    refused = usage.Select(u => u.Refused).ToArray(),
                },
                transaction,
                cancellationToken: cancellationToken));
        }

        await transaction.CommitAsync(cancellationToken);
    }

    public static string ActionOf(SeatEventKind kind) => kind switch
    {
        SeatEventKind.Granted => "seat.granted",
        SeatEventKind.Released => "seat.released",
        SeatEventKind.Expired => "seat.expired",
        SeatEventKind.ForceReleased => "seat.force_released",
        SeatEventKind.Reestablished => "seat.reestablished",
        SeatEventKind.IdleReleased => "seat.idle_released",
        SeatEventKind.Queued => "queue.joined",
        SeatEventKind.Refused => "seat.refused",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };
}
