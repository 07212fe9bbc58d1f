using Dapper;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Redis;
using LicenseBroker.Storage.Resilience;
using Npgsql;

namespace LicenseBroker.Storage.Postgres;

/// <summary>
/// The pools ever used, in PostgreSQL (table pool_registry). Asked once per pool and replica, when
/// Redis does not know the pool. Both steps are durable before the call that needed them answers
/// (the data-loss safety rests on them), and both are batched (<see cref="KeyBatcher{TKey, TValue}"/>):
/// a login storm over thousands of new pools shares a few commits instead of paying two each.
/// </summary>
public sealed class PostgresPoolRegistry : IPoolRegistry
{
    // Rows are written in key order, so two replicas' batches never wait on each other in a cycle.
    private const string BeginSql = """
        INSERT INTO pool_registry (account_id, product_code)
        SELECT x.account_id, x.product_code FROM unnest(@Accounts, @Products) AS x(account_id, product_code)
        ORDER BY 1, 2
        ON CONFLICT (account_id, product_code) DO NOTHING;
        SELECT r.account_id AS AccountId, r.product_code AS Product, r.state = 'ACTIVE' AS Active
        FROM pool_registry r
        JOIN unnest(@Accounts, @Products) AS x(account_id, product_code)
          ON r.account_id = x.account_id AND r.product_code = x.product_code;
        """;

    private const string MarkActiveSql = """
        UPDATE pool_registry r SET state = 'ACTIVE'
        FROM (SELECT account_id, product_code FROM pool_registry
              WHERE (account_id, product_code) IN (SELECT * FROM unnest(@Accounts, @Products)) AND state <> 'ACTIVE'
              ORDER BY 1, 2 FOR UPDATE) AS l
        WHERE r.account_id = l.account_id AND r.product_code = l.product_code;
        """;

    private readonly NpgsqlDataSource _dataSource;
    private readonly BackendPipelines _pipelines;
    private readonly KeyBatcher<PoolId, bool> _begin;
    private readonly KeyBatcher<PoolId, bool> _markActive;

    public PostgresPoolRegistry(NpgsqlDataSource dataSource, BackendPipelines pipelines)
    {
        _dataSource = dataSource;
        _pipelines = pipelines;
        _begin = new KeyBatcher<PoolId, bool>(BeginBatchAsync);
        _markActive = new KeyBatcher<PoolId, bool>(MarkActiveBatchAsync);
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
                return (IReadOnlyDictionary<PoolId, bool>)rows.ToDictionary(r => new PoolId(r.AccountId, r.Product), r => r.Active);
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
