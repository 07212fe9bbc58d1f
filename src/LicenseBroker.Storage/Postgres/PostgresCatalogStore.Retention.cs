using Dapper;
using LicenseBroker.Domain.Administration;

namespace LicenseBroker.Storage.Postgres;

/// <summary>The account's event retention (migration 0019).</summary>
public sealed partial class PostgresCatalogStore
{
    public async Task<int> GetEventRetentionAsync(string accountId, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<int>(new CommandDefinition(
            "SELECT lb_event_retention_days(@accountId)", new { accountId }, cancellationToken: cancellationToken));
    }

    public async Task SetEventRetentionAsync(Actor actor, string accountId, int days, CancellationToken cancellationToken)
    {
        const string sql = """
            WITH previous AS (SELECT event_retention_days FROM accounts WHERE id = @accountId FOR UPDATE)
            UPDATE accounts a SET event_retention_days = @days FROM previous WHERE a.id = @accountId
            RETURNING previous.event_retention_days
            """;
        await InTransactionAsync(
            async (connection, transaction) =>
            {
                await EnsureAccountAsync(connection, transaction, accountId, cancellationToken);
                var before = await connection.QuerySingleAsync<int>(new CommandDefinition(sql, new { accountId, days }, transaction, cancellationToken: cancellationToken));
                if (before != days)
                {
                    await AuditAsync(connection, transaction, accountId, null, actor, "account.retention_set", accountId,
                        new { retention_days = before }, new { retention_days = days }, cancellationToken);
                }

                return before;
            },
            cancellationToken);
    }
}
