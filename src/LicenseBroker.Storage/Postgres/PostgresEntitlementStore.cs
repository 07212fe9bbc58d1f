using System.Data;
using Dapper;
using LicenseBroker.Domain.Entitlements;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Resilience;
using Npgsql;

namespace LicenseBroker.Storage.Postgres;

/// <summary>
/// Entitlement snapshots' storage side: an account's state read at one version (a REPEATABLE READ
/// transaction, so the version and the rows are one point in time; see 0014_entitlement_versions.sql),
/// and the signing keys every replica shares.
/// </summary>
public sealed class PostgresEntitlementStore : IEntitlementSource, ISigningKeyStore
{
    /// <summary>The channel the commit of every entitlement change notifies ("account version").</summary>
    public const string Channel = "lb_entitlements";

    // The version first; in a REPEATABLE READ transaction every statement sees the same snapshot. No ORDER BY:
    // sorting 10,000 seats by id took PostgreSQL 12 ms of a 16 ms read (and one aggregated query, 34 ms); each
    // agent's few seats are put in product order here.
    private const string ReadSql = """
        SELECT entitlement_version FROM accounts WHERE id = @AccountId;

        SELECT s.product_code AS Product, s.valid_until AS ValidUntil, p.seat_model = 'UNLIMITED' AS Unlimited
        FROM subscriptions s JOIN products p ON p.code = s.product_code
        WHERE s.account_id = @AccountId;

        SELECT id AS AgentId, active AS Active FROM agents WHERE account_id = @AccountId;

        SELECT agent_id AS AgentId, product_code AS Product, seat_type AS SeatType FROM seat_assignments WHERE account_id = @AccountId;
        """;

    private readonly NpgsqlDataSource _dataSource;
    private readonly BackendPipelines _pipelines;

    public PostgresEntitlementStore(NpgsqlDataSource dataSource, BackendPipelines pipelines)
    {
        _dataSource = dataSource;
        _pipelines = pipelines;
    }

    public async Task<AccountEntitlements?> ReadAsync(string accountId, CancellationToken cancellationToken) =>
        await _pipelines.Postgres.ExecuteAsync(
            static async (state, ct) =>
            {
                await using var connection = await state.self._dataSource.OpenConnectionAsync(ct);
                await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct);
                using var grid = await connection.QueryMultipleAsync(new CommandDefinition(ReadSql, new { AccountId = state.accountId }, transaction, cancellationToken: ct));
                var version = await grid.ReadSingleOrDefaultAsync<long?>();
                var products = (await grid.ReadAsync<ProductRow>()).Select(p => new ProductTerms(p.Product, p.ValidUntil, p.Unlimited)).ToList();
                var agents = (await grid.ReadAsync<AgentRow>()).ToList();
                var seats = new Dictionary<string, List<AgentSeat>>(agents.Count, StringComparer.Ordinal);
                foreach (var seat in await grid.ReadAsync<SeatRow>())
                {
                    if (!seats.TryGetValue(seat.AgentId, out var list))
                    {
                        seats[seat.AgentId] = list = new List<AgentSeat>(1);
                    }

                    list.Add(new AgentSeat(seat.Product, SeatTypeCodes.Parse(seat.SeatType, "PostgreSQL")));
                }
                await transaction.CommitAsync(ct);
                if (version is null)
                {
                    return null;
                }

                return new AccountEntitlements(
                    state.accountId,
                    version.Value,
                    products,
                    agents.Select(a => new AgentEntitlements(
                        a.AgentId,
                        a.Active,
                        seats.TryGetValue(a.AgentId, out var held) ? [.. held.OrderBy(h => h.Product, StringComparer.Ordinal)] : [])));
            },
            (self: this, accountId),
            cancellationToken);

    public async Task<long?> ReadVersionAsync(string accountId, CancellationToken cancellationToken) =>
        await _pipelines.Postgres.ExecuteAsync(
            static async (state, ct) =>
            {
                await using var connection = await state.self._dataSource.OpenConnectionAsync(ct);
                return await connection.QuerySingleOrDefaultAsync<long?>(new CommandDefinition(
                    "SELECT entitlement_version FROM accounts WHERE id = @AccountId", new { AccountId = state.accountId }, cancellationToken: ct));
            },
            (self: this, accountId),
            cancellationToken);

    public async Task<IReadOnlyList<SigningKey>> ListAsync(DateTimeOffset retiredAfter, CancellationToken cancellationToken) =>
        await _pipelines.Postgres.ExecuteAsync(
            static async (state, ct) =>
            {
                await using var connection = await state.self._dataSource.OpenConnectionAsync(ct);
                var rows = await connection.QueryAsync<KeyRow>(new CommandDefinition(
                    """
                    SELECT kid AS Kid, public_key AS PublicKey, private_key AS PrivateKey, created_at AS CreatedAt, retired_at AS RetiredAt
                    FROM entitlement_signing_keys WHERE retired_at IS NULL OR retired_at > @RetiredAfter
                    ORDER BY created_at DESC, kid
                    """,
                    new { RetiredAfter = state.retiredAfter },
                    cancellationToken: ct));
                return (IReadOnlyList<SigningKey>)rows.Select(r => new SigningKey(r.Kid, r.PublicKey, r.PrivateKey, r.CreatedAt, r.RetiredAt)).ToList();
            },
            (self: this, retiredAfter),
            cancellationToken);

    public async Task AddFirstAsync(SigningKey key, CancellationToken cancellationToken) =>
        await _pipelines.PostgresWrites.ExecuteAsync(
            static async (state, ct) =>
            {
                // Two replicas starting together on an empty table: the unique index on the active key keeps one.
                await using var connection = await state.self._dataSource.OpenConnectionAsync(ct);
                await connection.ExecuteAsync(new CommandDefinition(
                    """
                    INSERT INTO entitlement_signing_keys (kid, public_key, private_key, created_at)
                    VALUES (@Kid, @PublicKey, @PrivateKey, @CreatedAt)
                    ON CONFLICT DO NOTHING
                    """,
                    state.key,
                    cancellationToken: ct));
            },
            (self: this, key),
            cancellationToken);

    public async Task RotateAsync(SigningKey key, CancellationToken cancellationToken) =>
        await _pipelines.PostgresWrites.ExecuteAsync(
            static async (state, ct) =>
            {
                await using var connection = await state.self._dataSource.OpenConnectionAsync(ct);
                await using var transaction = await connection.BeginTransactionAsync(ct);
                await connection.ExecuteAsync(new CommandDefinition(
                    """
                    UPDATE entitlement_signing_keys SET retired_at = @CreatedAt WHERE retired_at IS NULL;
                    INSERT INTO entitlement_signing_keys (kid, public_key, private_key, created_at) VALUES (@Kid, @PublicKey, @PrivateKey, @CreatedAt);
                    SELECT pg_notify('lb_entitlements', 'keys');
                    """,
                    state.key,
                    transaction,
                    cancellationToken: ct));
                await transaction.CommitAsync(ct);
            },
            (self: this, key),
            cancellationToken);

    private sealed record ProductRow(string Product, DateTime ValidUntil, bool Unlimited);

    private sealed record AgentRow(string AgentId, bool Active);

    private sealed record SeatRow(string AgentId, string Product, string SeatType);

    private sealed record KeyRow(string Kid, byte[] PublicKey, byte[] PrivateKey, DateTime CreatedAt, DateTime? RetiredAt);
}
