using Dapper;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Redis;
using LicenseBroker.Storage.Resilience;
using Npgsql;

namespace LicenseBroker.Storage.Postgres;

/// <summary>The pools ever used, in PostgreSQL (table pool_registry). Asked once per pool and replica.</summary>
public sealed class PostgresPoolRegistry : IPoolRegistry
{
    // Returns the row only when this call inserted it: no row back means it was already there.
    private const string RegisterSql = """
        INSERT INTO pool_registry (account_id, product_code) VALUES (@AccountId, @Product)
        ON CONFLICT (account_id, product_code) DO NOTHING
        RETURNING true
        """;

    private readonly NpgsqlDataSource _dataSource;
    private readonly BackendPipelines _pipelines;

    public PostgresPoolRegistry(NpgsqlDataSource dataSource, BackendPipelines pipelines)
    {
        _dataSource = dataSource;
        _pipelines = pipelines;
    }

    public async Task<bool> RegisterAsync(PoolId pool, CancellationToken cancellationToken) =>
        // Retried on transient faults: registering twice is the same as once.
        await _pipelines.Postgres.ExecuteAsync(
            async ct =>
            {
                await using var connection = await _dataSource.OpenConnectionAsync(ct);
                var inserted = await connection.QuerySingleOrDefaultAsync<bool?>(
                    new CommandDefinition(RegisterSql, new { pool.AccountId, pool.Product }, cancellationToken: ct));
                return inserted is null;
            },
            cancellationToken);
}
