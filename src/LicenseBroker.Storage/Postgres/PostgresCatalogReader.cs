using Dapper;
using LicenseBroker.Domain.Catalog;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Resilience;
using Npgsql;

namespace LicenseBroker.Storage.Postgres;

/// <summary>Reads a pool's policy from PostgreSQL in one round trip.</summary>
public sealed class PostgresCatalogReader
{
    // Six result sets in one batch: the product with the account's subscription, the seat
    // assignments of the pool, every agent of the account, the pool's unattended machines, the
    // pool's group rules, and for each member of a ruled group the group its seat counts in.
    private const string PoolPolicySql = """
        SELECT p.seat_model AS SeatModel, s.plan AS Plan, s.valid_until AS ValidUntil,
               s.named_seat_limit AS NamedSeatLimit, s.concurrent_seat_limit AS ConcurrentSeatLimit,
               s.unattended_device_limit AS UnattendedDeviceLimit,
               s.pending_timeout_seconds AS PendingTimeoutSeconds, s.idle_timeout_seconds AS IdleTimeoutSeconds
        FROM products p
        LEFT JOIN subscriptions s ON s.product_code = p.code AND s.account_id = @AccountId
        WHERE p.code = @Product;

        SELECT agent_id AS AgentId, seat_type AS SeatType
        FROM seat_assignments
        WHERE account_id = @AccountId AND product_code = @Product;

        SELECT id AS Id, display_name AS DisplayName, email AS Email FROM agents WHERE account_id = @AccountId;

        SELECT id FROM devices WHERE account_id = @AccountId AND product_code = @Product AND kind = 'UNATTENDED';

        SELECT group_id AS GroupId, reserved_seats AS Reserved, max_seats AS Max
        FROM pool_group_rules WHERE account_id = @AccountId AND product_code = @Product ORDER BY group_id;

        SELECT m.agent_id AS AgentId, min(m.group_id COLLATE "C") AS GroupId
        FROM scim_group_members m
        JOIN pool_group_rules r ON r.account_id = m.account_id AND r.group_id = m.group_id AND r.product_code = @Product
        WHERE m.account_id = @AccountId
        GROUP BY m.agent_id;
        """;

    private readonly NpgsqlDataSource _dataSource;
    private readonly BackendPipelines _pipelines;

    public PostgresCatalogReader(NpgsqlDataSource dataSource, BackendPipelines pipelines)
    {
        _dataSource = dataSource;
        _pipelines = pipelines;
    }

    /// <summary>Loads the policy; retried on transient faults because it only reads.</summary>
    public async Task<PoolPolicy> LoadPoolPolicyAsync(PoolId pool, CancellationToken cancellationToken) =>
        await _pipelines.Postgres.ExecuteAsync(
            static async (state, ct) => await state.self.LoadOnceAsync(state.pool, ct),
            (self: this, pool),
            cancellationToken);

    private async Task<PoolPolicy> LoadOnceAsync(PoolId pool, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var results = await connection.QueryMultipleAsync(new CommandDefinition(
            PoolPolicySql, new { pool.AccountId, pool.Product }, cancellationToken: cancellationToken));

        var product = await results.ReadSingleOrDefaultAsync<ProductRow>();
        var assignments = (await results.ReadAsync<AssignmentRow>())
            .ToDictionary(row => row.AgentId, row => row.SeatType == "NAMED" ? SeatType.Named : SeatType.Concurrent, StringComparer.Ordinal);
        var accountAgents = (await results.ReadAsync<ContactRow>())
            .ToDictionary(row => row.Id, row => new AgentContact(row.DisplayName, row.Email), StringComparer.Ordinal);
        var unattendedDevices = (await results.ReadAsync<string>()).ToHashSet(StringComparer.Ordinal);
        var groupRules = (await results.ReadAsync<RuleRow>()).Select(r => new GroupSeatRule(pool.Product, r.GroupId, r.Reserved, r.Max)).ToList();
        var ruledGroups = (await results.ReadAsync<MemberRow>()).ToDictionary(row => row.AgentId, row => row.GroupId, StringComparer.Ordinal);

        if (product is null)
        {
            // Unknown product: nobody is entitled to it.
            return new PoolPolicy(pool, SeatModel.Seats, null, assignments, accountAgents);
        }

        var terms = product.Plan is null
            ? null
            : new SubscriptionTerms(
                product.Plan == "PAID" ? Plan.Paid : Plan.Trial,
                new DateTimeOffset(product.ValidUntil!.Value, TimeSpan.Zero),
                product.NamedSeatLimit!.Value,
                product.ConcurrentSeatLimit!.Value,
                product.UnattendedDeviceLimit!.Value,
                new IdleRules(TimeSpan.FromSeconds(product.PendingTimeoutSeconds ?? 0), TimeSpan.FromSeconds(product.IdleTimeoutSeconds ?? 0)));
        var seatModel = product.SeatModel == "UNLIMITED" ? SeatModel.Unlimited : SeatModel.Seats;
        return new PoolPolicy(pool, seatModel, terms, assignments, accountAgents, unattendedDevices, groupRules, ruledGroups);
    }

    private sealed record RuleRow(string GroupId, int Reserved, int? Max);

    private sealed record MemberRow(string AgentId, string GroupId);

    private sealed record ProductRow(
        string SeatModel, string? Plan, DateTime? ValidUntil, int? NamedSeatLimit, int? ConcurrentSeatLimit, int? UnattendedDeviceLimit,
        int? PendingTimeoutSeconds, int? IdleTimeoutSeconds);

    private sealed record AssignmentRow(string AgentId, string SeatType);

    private sealed record ContactRow(string Id, string DisplayName, string Email);
}
