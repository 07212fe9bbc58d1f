using Dapper;
using Npgsql;

namespace LicenseBroker.Storage.Postgres;

/// <summary>The audit log's monthly partitions (migration 0016): made ahead, and dropped whole past the retention.</summary>
public sealed class AuditLogPartitions
{
    private readonly NpgsqlDataSource _dataSource;

    public AuditLogPartitions(NpgsqlDataSource dataSource)
    {
        _dataSource = dataSource;
    }

    /// <summary>Makes the partitions of the coming <paramref name="monthsAhead"/> months; returns how many were missing.</summary>
    public async Task<int> EnsureAsync(int monthsAhead, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<int>(new CommandDefinition(
            "SELECT lb_audit_partitions_ensure(@monthsAhead)", new { monthsAhead }, cancellationToken: cancellationToken));
    }

    /// <summary>Drops, one statement each, the partitions whose every row is older than <paramref name="retention"/>; returns their names.</summary>
    public async Task<IReadOnlyList<string>> ExpireAsync(TimeSpan retention, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<string>(new CommandDefinition(
            "SELECT * FROM lb_audit_partitions_expire(@retention)", new { retention }, cancellationToken: cancellationToken))).ToList();
    }
}
