using Dapper;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Redis;
using LicenseBroker.Storage.Resilience;
using Npgsql;

namespace LicenseBroker.Storage.Postgres;

/// <summary>The pools ever used, in PostgreSQL (table pool_registry). Asked once per pool and replica.</summary>
public sealed class PostgresPoolRegistry : IPoolRegistry
{
    private const string BeginSql = """
        INSERT INTO pool_registry (account_id, product_code) VALUES (@AccountId, @Product)
        ON CONFLICT (account_id, product_code) DO NOTHING;
        SELECT state = 'ACTIVE' FROM pool_registry WHERE account_id = @AccountId AND product_code = @Product;
        """;

    private const string MarkActiveSql = "UPDATE pool_registry SET state = 'ACTIVE' WHERE account_id = @AccountId AND product_code = @Product AND state <> 'ACTIVE'";

    private readonly NpgsqlDataSource _dataSource;
    private readonly BackendPipelines _pipelines;

    public PostgresPoolRegistry(NpgsqlDataSource dataSource, BackendPipelines pipelines)
    {
        _dataSource = dataSource;
        _pipelines = pipelines;
    }

    // Both retried on transient faults: each is the same done once or twice.
    public async Task<bool> BeginAsync(PoolId pool, CancellationToken cancellationToken) =>
        await _pipelines.Postgres.ExecuteAsync(
            async ct =>
            {
                await using var connection = await _dataSource.OpenConnectionAsync(ct);
                return await connection.QuerySingleAsync<bool>(new CommandDefinition(BeginSql, new { pool.AccountId, pool.Product }, cancellationToken: ct));
            },
            cancellationToken);

    public async Task MarkActiveAsync(PoolId pool, CancellationToken cancellationToken) =>
        await _pipelines.Postgres.ExecuteAsync(
            async ct =>
            {
                await using var connection = await _dataSource.OpenConnectionAsync(ct);
                await connection.ExecuteAsync(new CommandDefinition(MarkActiveSql, new { pool.AccountId, pool.Product }, cancellationToken: ct));
            },
            cancellationToken);
}
