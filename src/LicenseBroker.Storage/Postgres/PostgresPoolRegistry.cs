using Dapper;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Redis;
using LicenseBroker.Storage.Resilience;
using Npgsql;

namespace LicenseBroker.Storage.Postgres;

/// <summary>
/// The pools ever used, in PostgreSQL (table pool_registry). Asked once per pool and replica, when
/// Redis does not know the pool. <see cref="BeginAsync"/> only reads (is the pool ACTIVE?);
/// <see cref="MarkActiveAsync"/> writes ACTIVE once the epoch exists, and is durable before the call
/// that needed it answers (the data-loss safety rests on it). Reading without writing first is
/// enough for replicas racing to open a new pool: ACTIVE is only ever written after an epoch was
/// created, so a replica that reads ACTIVE finds the epoch (unless Redis lost it, the case to detect),
/// and one that reads nothing opens the pool as new, which an existing epoch makes harmless. Both are
/// batched (<see cref="KeyBatcher{TKey, TValue}"/>): a login storm over thousands of new pools shares
/// a few reads and commits instead of paying them per pool.
/// </summary>
public sealed class PostgresPoolRegistry : IPoolRegistry
{
    private const string BeginSql = """
        SELECT r.account_id AS AccountId, r.product_code AS Product, r.state = 'ACTIVE' AS Active
        FROM pool_registry r
        JOIN unnest(@Accounts, @Products) AS x(account_id, product_code)
          ON r.account_id = x.account_id AND r.product_code = x.product_code;
        """;

    // Rows are written in key order, so two replicas' batches never wait on each other in a cycle.
    private const string MarkActiveSql = """
        INSERT INTO pool_registry (account_id, product_code, state)
        SELECT x.account_id, x.product_code, 'ACTIVE' FROM unnest(@Accounts, @Products) AS x(account_id, product_code)
        ORDER BY 1, 2
        ON CONFLICT (account_id, product_code) DO UPDATE SET state = 'ACTIVE' WHERE pool_registry.state <> 'ACTIVE';
        """;

    private readonly NpgsqlDataSource _dataSource;
    private readonly BackendPipelines _pipelines;
    private readonly KeyBatcher<PoolId, bool> _begin;
    private readonly KeyBatcher<PoolId, bool> _markActive;

    public PostgresPoolRegistry(NpgsqlDataSource dataSource, BackendPipelines pipelines)
    {
        _dataSource = dataSource;
        _pipelines = pipelines;

        // Two batches of each at once: a first use waits for at most one batch before its own.
        _begin = new KeyBatcher<PoolId, bool>(BeginBatchAsync, maxRunning: 2);
        _markActive = new KeyBatcher<PoolId, bool>(MarkActiveBatchAsync, maxRunning: 2);
    }

    public Task<bool> BeginAsync(PoolId pool, CancellationToken cancellationToken) => _begin.GetAsync(pool, cancellationToken);

    public Task MarkActiveAsync(PoolId pool, CancellationToken cancellationToken) => _markActive.GetAsync(pool, cancellationToken);

    // Both retried on transient faults: each is the same done once or twice.
    private async Task<IReadOnlyDictionary<PoolId, bool>> BeginBatchAsync(IReadOnlyList<PoolId> pools, CancellationToken cancellationToken) =>
        await _pipelines.Postgres.ExecuteAsync(
            async ct =>
            {
                await using var connection = await _dataSource.OpenConnectionAsync(ct);
                var rows = await connection.QueryAsync<RegistryRow>(new CommandDefinition(BeginSql, Parameters(pools), cancellationToken: ct));
                var active = rows.ToDictionary(r => new PoolId(r.AccountId, r.Product), r => r.Active);
                return (IReadOnlyDictionary<PoolId, bool>)pools.ToDictionary(p => p, p => active.GetValueOrDefault(p));
            },
            cancellationToken);
    private async Task<IReadOnlyDictionary<PoolId, bool>> MarkActiveBatchAsync(IReadOnlyList<PoolId> pools, CancellationToken cancellationToken) =>
        await _pipelines.Postgres.ExecuteAsync(
            async ct =>
            {
                await using var connection = await _dataSource.OpenConnectionAsync(ct);
                await connection.ExecuteAsync(new CommandDefinition(MarkActiveSql, Parameters(pools), cancellationToken: ct));
                return (IReadOnlyDictionary<PoolId, bool>)pools.ToDictionary(p => p, _ => true);
            },
            cancellationToken);

    private static object Parameters(IReadOnlyList<PoolId> pools) => new
    {
        Accounts = pools.Select(p => p.AccountId).ToArray(),
        Products = pools.Select(p => p.Product).ToArray(),
    };

    private sealed record RegistryRow(string AccountId, string Product, bool Active);
}
