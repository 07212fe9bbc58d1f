using Dapper;
using LicenseBroker.Domain.Catalog;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Resilience;
using Npgsql;

namespace LicenseBroker.Storage.Postgres;

/// <summary>
/// Reads pools' policies from PostgreSQL, many pools in one round trip: the first uses that arrive
/// together (a login storm after a deploy) are batched (<see cref="KeyBatcher{TKey, TValue}"/>), and
/// the cache warms itself at start through <see cref="LoadManyAsync"/> and <see cref="ListPoolsAsync"/>.
/// </summary>
public sealed class PostgresCatalogReader : IPoolPolicySource
{
    // Six result sets in one batch, for the pools listed in @Accounts/@Products: each product with its
    // account's subscription and catalog version (first: each statement reads the data committed when it
    // starts, so the rest is at least as new as the version; see 0011_catalog_version.sql), the pools' seat assignments, every agent of their accounts, the pools'
    // unattended machines, the pools' group rules, and for each member of a ruled group the group its
    // seat counts in.
    private const string PoolPoliciesSql = """
        SELECT x.account_id AS AccountId, x.product_code AS Product,
               p.seat_model AS SeatModel, s.plan AS Plan, s.valid_until AS ValidUntil,
               s.named_seat_limit AS NamedSeatLimit, s.concurrent_seat_limit AS ConcurrentSeatLimit,
               s.unattended_device_limit AS UnattendedDeviceLimit,
               s.pending_timeout_seconds AS PendingTimeoutSeconds, s.idle_timeout_seconds AS IdleTimeoutSeconds,
               s.revive_window_seconds AS ReviveWindowSeconds, s.outage_grace_seconds AS OutageGraceSeconds,
               s.overage_mode AS OverageMode, s.overage_seats AS OverageSeats, s.overage_percent AS OveragePercent,
               coalesce(acc.catalog_version, 0) AS CatalogVersion,
               s.queue_max_waiters AS QueueMaxWaiters, s.queue_max_wait_seconds AS QueueMaxWaitSeconds, s.queue_age_step_seconds AS QueueAgeStepSeconds
        FROM unnest(@Accounts, @Products) AS x(account_id, product_code)
        LEFT JOIN accounts acc ON acc.id = x.account_id
        LEFT JOIN products p ON p.code = x.product_code
        LEFT JOIN subscriptions s ON s.product_code = x.product_code AND s.account_id = x.account_id;

        SELECT a.account_id AS AccountId, a.product_code AS Product, a.agent_id AS AgentId, a.seat_type AS SeatType
        FROM seat_assignments a
        JOIN unnest(@Accounts, @Products) AS x(account_id, product_code)
          ON a.account_id = x.account_id AND a.product_code = x.product_code;

        SELECT account_id AS AccountId, id AS Id, display_name AS DisplayName, email AS Email
        FROM agents WHERE account_id = ANY(@DistinctAccounts);

        SELECT d.account_id AS AccountId, d.product_code AS Product, d.id AS Id
        FROM devices d
        JOIN unnest(@Accounts, @Products) AS x(account_id, product_code)
          ON d.account_id = x.account_id AND d.product_code = x.product_code
        WHERE d.kind = 'UNATTENDED';

        SELECT r.account_id AS AccountId, r.product_code AS Product, r.group_id AS GroupId, r.reserved_seats AS Reserved, r.max_seats AS Max,
               r.overage_max_seats AS OverageMax, g.display_name AS Name, r.queue_priority AS Priority
        FROM pool_group_rules r
        JOIN unnest(@Accounts, @Products) AS x(account_id, product_code)
          ON r.account_id = x.account_id AND r.product_code = x.product_code
        JOIN scim_groups g ON g.account_id = r.account_id AND g.id = r.group_id
        ORDER BY r.group_id;

        SELECT r.account_id AS AccountId, r.product_code AS Product, m.agent_id AS AgentId, min(m.group_id COLLATE "C") AS GroupId
        FROM unnest(@Accounts, @Products) AS x(account_id, product_code)
        JOIN pool_group_rules r ON r.account_id = x.account_id AND r.product_code = x.product_code
        JOIN scim_group_members m ON m.account_id = r.account_id AND m.group_id = r.group_id
        GROUP BY r.account_id, r.product_code, m.agent_id;
        """;

    // Every subscribed pool, in pages (keyset), for the cache's warm-up.
    private const string ListPoolsSql = """
        SELECT account_id AS AccountId, product_code AS Product FROM subscriptions
        WHERE (account_id, product_code) > (@AfterAccount, @AfterProduct)
        ORDER BY account_id, product_code
        LIMIT @Limit;
        """;

    /// <summary>The most pools one query reads (the batch of first loads, a page of the warm-up).</summary>
    public const int MaxPoolsPerQuery = 200;

    private readonly NpgsqlDataSource _dataSource;
    private readonly BackendPipelines _pipelines;
    private readonly KeyBatcher<PoolId, PoolPolicy> _firstLoads;

    public PostgresCatalogReader(NpgsqlDataSource dataSource, BackendPipelines pipelines)
    {
        _dataSource = dataSource;
        _pipelines = pipelines;
        _firstLoads = new KeyBatcher<PoolId, PoolPolicy>(LoadManyAsync, maxBatch: MaxPoolsPerQuery);
    }

    /// <summary>Loads the policy, in the next batch of loads; retried on transient faults because it only reads.</summary>
    public Task<PoolPolicy> LoadPoolPolicyAsync(PoolId pool, CancellationToken cancellationToken) =>
        _firstLoads.GetAsync(pool, cancellationToken);

    /// <summary>Loads the policies of <paramref name="pools"/> in one round trip; retried on transient faults.</summary>
    public async Task<IReadOnlyDictionary<PoolId, PoolPolicy>> LoadManyAsync(IReadOnlyList<PoolId> pools, CancellationToken cancellationToken) =>
        await _pipelines.Postgres.ExecuteAsync(
            static async (state, ct) => await state.self.LoadOnceAsync(state.pools, ct),
            (self: this, pools),
            cancellationToken);

    // Raises the account's catalog version, and lists the pools a change touches: the product's, or every subscribed one.
    private const string ChangeSql = """
        UPDATE accounts SET catalog_version = catalog_version + 1 WHERE id = @AccountId;
        SELECT product_code FROM subscriptions
        WHERE account_id = @AccountId AND (@Product::text IS NULL OR product_code = @Product)
        ORDER BY product_code;
        """;

    /// <summary>
    /// A change of the account committed: its catalog version goes up (a statement of its own, after the
    /// change's transaction), then the policies of the pools the change touches are read fresh, at that
    /// version or later. Retried on transient faults: a retry only raises the version once more.
    /// </summary>
    public async Task<IReadOnlyList<PoolPolicy>> ReadAfterChangeAsync(string accountId, string? product, CancellationToken cancellationToken)
    {
        var products = await _pipelines.Postgres.ExecuteAsync(
            static async (state, ct) =>
            {
                await using var connection = await state.self._dataSource.OpenConnectionAsync(ct);
                var rows = await connection.QueryAsync<string>(new CommandDefinition(ChangeSql, new { AccountId = state.accountId, Product = state.product }, cancellationToken: ct));
                return rows.ToList();
            },
            (self: this, accountId, product),
            cancellationToken);
        if (products.Count == 0)
        {
            return [];
        }

        var policies = await LoadManyAsync(products.Select(p => new PoolId(accountId, p)).ToList(), cancellationToken);
        return policies.Values.ToList();
    }

    /// <summary>A page of the subscribed pools after <paramref name="after"/> (null: from the start), in key order.</summary>
    public async Task<IReadOnlyList<PoolId>> ListPoolsAsync(PoolId? after, int limit, CancellationToken cancellationToken) =>
        await _pipelines.Postgres.ExecuteAsync(
            static async (state, ct) =>
            {
                await using var connection = await state.self._dataSource.OpenConnectionAsync(ct);
                var rows = await connection.QueryAsync<PoolRow>(new CommandDefinition(
                    ListPoolsSql,
                    new { AfterAccount = state.after?.AccountId ?? string.Empty, AfterProduct = state.after?.Product ?? string.Empty, Limit = state.limit },
                    cancellationToken: ct));
                return (IReadOnlyList<PoolId>)rows.Select(r => new PoolId(r.AccountId, r.Product)).ToList();
            },
            (self: this, after, limit),
            cancellationToken);

    private async Task<IReadOnlyDictionary<PoolId, PoolPolicy>> LoadOnceAsync(IReadOnlyList<PoolId> pools, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var results = await connection.QueryMultipleAsync(new CommandDefinition(
            PoolPoliciesSql,
            new
            {
                Accounts = pools.Select(p => p.AccountId).ToArray(),
                Products = pools.Select(p => p.Product).ToArray(),
                DistinctAccounts = pools.Select(p => p.AccountId).Distinct(StringComparer.Ordinal).ToArray(),
            },
            cancellationToken: cancellationToken));

        var products = (await results.ReadAsync<ProductRow>()).ToDictionary(r => new PoolId(r.AccountId, r.Product));
        var assignments = (await results.ReadAsync<AssignmentRow>()).ToLookup(r => new PoolId(r.AccountId, r.Product));
        var agents = (await results.ReadAsync<ContactRow>()).ToLookup(r => r.AccountId, StringComparer.Ordinal);
        var devices = (await results.ReadAsync<DeviceRow>()).ToLookup(r => new PoolId(r.AccountId, r.Product));
        var rules = (await results.ReadAsync<RuleRow>()).ToLookup(r => new PoolId(r.AccountId, r.Product));
        var members = (await results.ReadAsync<MemberRow>()).ToLookup(r => new PoolId(r.AccountId, r.Product));

        // Pools of one account share its agents' directory.
        var contacts = new Dictionary<string, IReadOnlyDictionary<string, AgentContact>>(StringComparer.Ordinal);
        IReadOnlyDictionary<string, AgentContact> ContactsOf(string account) => contacts.TryGetValue(account, out var found)
            ? found
            : contacts[account] = agents[account].ToDictionary(r => r.Id, r => new AgentContact(r.DisplayName, r.Email), StringComparer.Ordinal);

        var policies = new Dictionary<PoolId, PoolPolicy>(pools.Count);
        foreach (var pool in pools)
        {
            policies[pool] = Build(
                pool,
                products.GetValueOrDefault(pool),
                assignments[pool].ToDictionary(r => r.AgentId, r => SeatTypeCodes.Parse(r.SeatType, "PostgreSQL"), StringComparer.Ordinal),
                ContactsOf(pool.AccountId),
                devices[pool].Select(d => d.Id).ToHashSet(StringComparer.Ordinal),
                rules[pool].Select(r => new GroupSeatRule(pool.Product, r.GroupId, r.Reserved, r.Max, r.OverageMax, (QueuePriority?)r.Priority)).ToList(),
                members[pool].ToDictionary(r => r.AgentId, r => r.GroupId, StringComparer.Ordinal),
                rules[pool].ToDictionary(r => r.GroupId, r => r.Name, StringComparer.Ordinal));
        }

        return policies;
    }

    private static PoolPolicy Build(
        PoolId pool,
        ProductRow? product,
        Dictionary<string, SeatType> assignments,
        IReadOnlyDictionary<string, AgentContact> accountAgents,
        HashSet<string> unattendedDevices,
        List<GroupSeatRule> groupRules,
        Dictionary<string, string> ruledGroups,
        Dictionary<string, string> groupNames)
    {
        if (product?.SeatModel is null)
        {
            // Unknown product: nobody is entitled to it.
            return new PoolPolicy(pool, SeatModel.Seats, null, assignments, accountAgents, catalogVersion: product?.CatalogVersion ?? 0);
        }

        var terms = product.Plan is null
            ? null
            : new SubscriptionTerms(
                product.Plan == "PAID" ? Plan.Paid : Plan.Trial,
                new DateTimeOffset(product.ValidUntil!.Value, TimeSpan.Zero),
                product.NamedSeatLimit!.Value,
                product.ConcurrentSeatLimit!.Value,
                product.UnattendedDeviceLimit!.Value,
                new IdleRules(TimeSpan.FromSeconds(product.PendingTimeoutSeconds ?? 0), TimeSpan.FromSeconds(product.IdleTimeoutSeconds ?? 0)),
                new LeaseRecovery(TimeSpan.FromSeconds(product.ReviveWindowSeconds ?? 0), TimeSpan.FromSeconds(product.OutageGraceSeconds ?? 0)),
                new OveragePolicy(SeatTypeCodes.ParseOverageMode(product.OverageMode ?? "NONE", "PostgreSQL"), product.OverageSeats ?? 0, product.OveragePercent ?? 0),
                new PoolQueueTerms(product.QueueMaxWaiters ?? 0, product.QueueMaxWaitSeconds ?? 0, product.QueueAgeStepSeconds ?? 0));
        var seatModel = SeatTypeCodes.ParseModel(product.SeatModel, "PostgreSQL");
        return new PoolPolicy(pool, seatModel, terms, assignments, accountAgents, unattendedDevices, groupRules, ruledGroups, product.CatalogVersion, groupNames);
    }

    private sealed record PoolRow(string AccountId, string Product);

    private sealed record RuleRow(string AccountId, string Product, string GroupId, int Reserved, int? Max, int? OverageMax, string Name, short? Priority);

    private sealed record MemberRow(string AccountId, string Product, string AgentId, string GroupId);

    private sealed record DeviceRow(string AccountId, string Product, string Id);

    private sealed record ProductRow(
        string AccountId, string Product, string? SeatModel, string? Plan, DateTime? ValidUntil, int? NamedSeatLimit, int? ConcurrentSeatLimit,
        int? UnattendedDeviceLimit, int? PendingTimeoutSeconds, int? IdleTimeoutSeconds, int? ReviveWindowSeconds, int? OutageGraceSeconds,
        string? OverageMode, int? OverageSeats, int? OveragePercent, long CatalogVersion, int? QueueMaxWaiters, int? QueueMaxWaitSeconds, int? QueueAgeStepSeconds);

    private sealed record AssignmentRow(string AccountId, string Product, string AgentId, string SeatType);

    private sealed record ContactRow(string AccountId, string Id, string DisplayName, string Email);
}
