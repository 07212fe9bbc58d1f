using Dapper;
using Npgsql;

namespace LicenseBroker.Storage.Postgres;

/// <summary>
/// The monthly partitions of the event log's tables (migrations 0016 and 0019), each month split by retention class:
/// made ahead, and dropped whole once past their class's retention (lb_partitions_ensure / lb_partitions_expire).
/// </summary>
public sealed class EventLogPartitions
{
    /// <summary>The partitioned tables, each kept the same way.</summary>
    public static readonly IReadOnlyList<string> Tables = ["audit_events", "webhook_outbox", "webhook_deliveries"];

    private readonly NpgsqlDataSource _dataSource;

    public EventLogPartitions(NpgsqlDataSource dataSource)
    {
        _dataSource = dataSource;
    }

    /// <summary>Makes the months up to <paramref name="monthsAhead"/> ahead, in every table; returns how many months were missing.</summary>
    public async Task<int> EnsureAsync(int monthsAhead, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var made = 0;
        foreach (var table in Tables)
        {
            made += await connection.ExecuteScalarAsync<int>(new CommandDefinition(
                "SELECT lb_partitions_ensure(@table, @monthsAhead)", new { table, monthsAhead }, cancellationToken: cancellationToken));
        }

        return made;
    }

    /// <summary>Drops, one statement each, the partitions past their retention at <paramref name="asOf"/>; returns their names.</summary>
    public async Task<IReadOnlyList<string>> ExpireAsync(DateTimeOffset asOf, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var dropped = new List<string>();
        foreach (var table in Tables)
        {
            dropped.AddRange(await connection.QueryAsync<string>(new CommandDefinition(
                "SELECT * FROM lb_partitions_expire(@table, @asOf)", new { table, asOf = asOf.UtcDateTime }, cancellationToken: cancellationToken)));
        }

        return dropped;
    }
}
