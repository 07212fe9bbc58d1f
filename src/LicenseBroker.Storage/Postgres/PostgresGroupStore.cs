using Dapper;
using LicenseBroker.Domain.Administration;
using LicenseBroker.Domain.Catalog;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Resilience;
using Npgsql;

namespace LicenseBroker.Storage.Postgres;

/// <summary>
/// Agent groups (the account's rows of scim_groups, so a group an identity provider pushes over SCIM
/// is one) and their seat rules per pool. A rule change locks the pool's subscription row, as every
/// limit change does, so two admins cannot together reserve more seats than the pool has. Each change
/// writes its audit row in the same transaction.
/// </summary>
/// <remarks>Not wrapped in retries: these are writes, and a retried write could apply twice.</remarks>
public sealed class PostgresGroupStore : IGroupStore
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly BackendPipelines _pipelines;

    public PostgresGroupStore(NpgsqlDataSource dataSource, BackendPipelines pipelines)
    {
        _dataSource = dataSource;
        _pipelines = pipelines;
    }

    public async Task<GroupOutcome> UpsertGroupAsync(Actor actor, string accountId, string groupId, string displayName, IReadOnlyList<string>? members, CancellationToken cancellationToken)
    {
        const string nameTakenSql = "SELECT true FROM scim_groups WHERE account_id = @accountId AND lower(display_name) = lower(@displayName) AND id <> @groupId";
        const string unknownAgentsSql = """
            SELECT m.id FROM unnest(@members::text[]) AS m(id)
            WHERE NOT EXISTS (SELECT 1 FROM agents a WHERE a.account_id = @accountId AND a.id = m.id)
            ORDER BY m.id LIMIT 5
            """;
        const string upsertSql = """
            INSERT INTO scim_groups (account_id, id, display_name) VALUES (@accountId, @groupId, @displayName)
            ON CONFLICT (account_id, id) DO UPDATE SET display_name = EXCLUDED.display_name, updated_at = now()
            RETURNING (xmax = 0) AS created
            """;
        const string dropMembersSql = "DELETE FROM scim_group_members WHERE account_id = @accountId AND group_id = @groupId AND NOT (agent_id = ANY(@members::text[]))";
        const string addMembersSql = """
            INSERT INTO scim_group_members (account_id, group_id, agent_id)
            SELECT @accountId, @groupId, m.id FROM unnest(@members::text[]) AS m(id)
            ON CONFLICT DO NOTHING
            """;

        try
        {
            return await UpsertGroupOnceAsync();
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation && ex.ConstraintName == "scim_groups_name_unique")
        {
            // Another admin gave a group this name between our check and our write.
            return new GroupOutcome.NameTaken();
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.ForeignKeyViolation)
        {
            // A member was removed from the account while we wrote the group.
            return new GroupOutcome.UnknownAgents([]);
        }

        Task<GroupOutcome> UpsertGroupOnceAsync() => InTransactionAsync<GroupOutcome>(async (connection, transaction) =>
        {
            var key = new { accountId, groupId, displayName, members = members?.Distinct(StringComparer.Ordinal).ToArray() ?? [] };
            if (await connection.QuerySingleOrDefaultAsync<bool>(new CommandDefinition(nameTakenSql, key, transaction, cancellationToken: cancellationToken)))
            {
                return new GroupOutcome.NameTaken();
            }

            if (members is not null)
            {
                var unknown = (await connection.QueryAsync<string>(new CommandDefinition(unknownAgentsSql, key, transaction, cancellationToken: cancellationToken))).ToList();
                if (unknown.Count > 0)
                {
                    return new GroupOutcome.UnknownAgents(unknown);
                }
            }

            await PostgresCatalogStore.EnsureAccountAsync(connection, transaction, accountId, cancellationToken);
            var previous = (await ListAsync(connection, transaction, accountId, groupId, cancellationToken)).SingleOrDefault(); // the log's "before"
            var created = await connection.QuerySingleAsync<bool>(new CommandDefinition(upsertSql, key, transaction, cancellationToken: cancellationToken));
            if (members is not null)
            {
                await connection.ExecuteAsync(new CommandDefinition(dropMembersSql, key, transaction, cancellationToken: cancellationToken));
                await connection.ExecuteAsync(new CommandDefinition(addMembersSql, key, transaction, cancellationToken: cancellationToken));
            }

            var group = (await ListAsync(connection, transaction, accountId, groupId, cancellationToken)).Single();
            await PostgresCatalogStore.AuditAsync(connection, transaction, accountId, null, actor, "group.upsert", groupId,
                previous is null ? null : new { group_id = groupId, display_name = previous.DisplayName, members = previous.MemberCount },
                new { group_id = groupId, display_name = displayName, members = group.MemberCount }, cancellationToken);
            return new GroupOutcome.Saved(group, created);
        }, cancellationToken);
    }

    public async Task<bool> DeleteGroupAsync(Actor actor, string accountId, string groupId, CancellationToken cancellationToken) =>
        await InTransactionAsync(async (connection, transaction) =>
        {
            // The group's members and its seat rules go with it (ON DELETE CASCADE).
            // Its name goes into the log's "before": the Activity page names the team once it is gone.
            var name = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                "DELETE FROM scim_groups WHERE account_id = @accountId AND id = @groupId RETURNING display_name", new { accountId, groupId }, transaction, cancellationToken: cancellationToken));
            if (name is not null)
            {
                await PostgresCatalogStore.AuditAsync(connection, transaction, accountId, null, actor, "group.remove", groupId, new { group_id = groupId, display_name = name }, null, cancellationToken);
            }

            return name is not null;
        }, cancellationToken);

    public async Task<IReadOnlyList<AgentGroupRecord>> ListGroupsAsync(string accountId, string? groupId, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        return await ListAsync(connection, null, accountId, groupId, cancellationToken);
    }

    public async Task<GroupRuleOutcome> SetRuleAsync(Actor actor, string accountId, GroupSeatRule rule, CancellationToken cancellationToken)
    {
        // The subscription row is the pool's lock (see PostgresCatalogStore): rule changes and limit changes queue on it.
        const string lockSql = """
            SELECT concurrent_seat_limit AS ConcurrentLimit, overage_mode AS OverageMode, overage_seats AS OverageSeats, overage_percent AS OveragePercent
            FROM subscriptions WHERE account_id = @accountId AND product_code = @product FOR UPDATE
            """;
        const string othersSql = """
            SELECT count(*)::int AS Count, coalesce(sum(reserved_seats), 0)::int AS Reserved
            FROM pool_group_rules WHERE account_id = @accountId AND product_code = @product AND group_id <> @groupId
            """;
        const string upsertSql = """
            INSERT INTO pool_group_rules (account_id, product_code, group_id, reserved_seats, max_seats, overage_max_seats, queue_priority)
            VALUES (@accountId, @product, @groupId, @reserved, @max, @overageMax, @priority)
            ON CONFLICT (account_id, product_code, group_id) DO UPDATE SET
                reserved_seats = EXCLUDED.reserved_seats, max_seats = EXCLUDED.max_seats, overage_max_seats = EXCLUDED.overage_max_seats,
                queue_priority = EXCLUDED.queue_priority, updated_at = now()
            """;

        var key = new
        {
            accountId, product = rule.Product, groupId = rule.GroupId, reserved = rule.Reserved, max = rule.Max, overageMax = rule.OverageMax,
            priority = (short?)rule.Priority,
        };
        try
        {
            return await SetRuleOnceAsync();
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.ForeignKeyViolation)
        {
            // The group was deleted between our check and our write.
            return new GroupRuleOutcome.UnknownGroup();
        }

        Task<GroupRuleOutcome> SetRuleOnceAsync() => InTransactionAsync<GroupRuleOutcome>(async (connection, transaction) =>
        {
            var subscription = await connection.QuerySingleOrDefaultAsync<SubscriptionRow>(new CommandDefinition(lockSql, key, transaction, cancellationToken: cancellationToken));
            if (subscription is null)
            {
                return new GroupRuleOutcome.NoSubscription();
            }

            var limit = subscription.ConcurrentLimit;
            var allowance = new OveragePolicy(SeatTypeCodes.ParseOverageMode(subscription.OverageMode, "PostgreSQL"), subscription.OverageSeats, subscription.OveragePercent)
                .ExtraSeats(subscription.ConcurrentLimit);
            if (rule.OverageMax > allowance)
            {
                return new GroupRuleOutcome.OverageCapOverAllowance(allowance, rule.OverageMax.Value);
            }

            if (!await connection.QuerySingleOrDefaultAsync<bool>(new CommandDefinition(
                    "SELECT true FROM scim_groups WHERE account_id = @accountId AND id = @groupId", key, transaction, cancellationToken: cancellationToken)))
            {
                return new GroupRuleOutcome.UnknownGroup();
            }

            var others = await connection.QuerySingleAsync<OthersRow>(new CommandDefinition(othersSql, key, transaction, cancellationToken: cancellationToken));
            if (others.Count >= IGroupStore.MaxRulesPerPool)
            {
                return new GroupRuleOutcome.TooManyRules(IGroupStore.MaxRulesPerPool);
            }

            if (others.Reserved + rule.Reserved > limit)
            {
                return new GroupRuleOutcome.ReservationsOverLimit(limit, others.Reserved, rule.Reserved);
            }

            // The rule it replaces, for the log's before → after (the same shape as after).
            var before = await connection.QuerySingleOrDefaultAsync<RuleBeforeRow>(new CommandDefinition(
                """
                SELECT reserved_seats AS Reserved, max_seats AS Max, overage_max_seats AS OverageMax, queue_priority AS Priority
                FROM pool_group_rules WHERE account_id = @accountId AND product_code = @product AND group_id = @groupId
                """,
                key, transaction, cancellationToken: cancellationToken));
            await connection.ExecuteAsync(new CommandDefinition(upsertSql, key, transaction, cancellationToken: cancellationToken));
            await PostgresCatalogStore.AuditAsync(connection, transaction, accountId, rule.Product, actor, "group.rule_set", rule.GroupId,
                before is null ? null : new
                {
                    group_id = rule.GroupId, reserved_seats = before.Reserved, max_seats = before.Max, overage_max_seats = before.OverageMax,
                    queue_priority = ((QueuePriority?)before.Priority)?.ToString(),
                },
                new { group_id = rule.GroupId, reserved_seats = rule.Reserved, max_seats = rule.Max, overage_max_seats = rule.OverageMax, queue_priority = rule.Priority?.ToString() }, cancellationToken);
            // Members who may take a shared seat of the product (bounded by the group's size): a reservation beyond them
            // keeps seats free that nobody can use, which the caller is warned about.
            var sharing = await connection.QuerySingleAsync<int>(new CommandDefinition(
                """
                SELECT count(*)::int FROM scim_group_members m
                JOIN seat_assignments a ON a.account_id = m.account_id AND a.agent_id = m.agent_id AND a.product_code = @product AND a.seat_type = 'CONCURRENT'
                WHERE m.account_id = @accountId AND m.group_id = @groupId
                """,
                key, transaction, cancellationToken: cancellationToken));
            return new GroupRuleOutcome.Saved(rule, sharing);
        }, cancellationToken);
    }

    public async Task<bool> RemoveRuleAsync(Actor actor, string accountId, string product, string groupId, CancellationToken cancellationToken) =>
        await InTransactionAsync(async (connection, transaction) =>
        {
            var removed = await connection.ExecuteAsync(new CommandDefinition(
                "DELETE FROM pool_group_rules WHERE account_id = @accountId AND product_code = @product AND group_id = @groupId",
                new { accountId, product, groupId }, transaction, cancellationToken: cancellationToken)) == 1;
            if (removed)
            {
                await PostgresCatalogStore.AuditAsync(connection, transaction, accountId, product, actor, "group.rule_remove", groupId, new { group_id = groupId }, null, cancellationToken);
            }

            return removed;
        }, cancellationToken);

    private static async Task<IReadOnlyList<AgentGroupRecord>> ListAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, string accountId, string? groupId, CancellationToken cancellationToken)
    {
        // An account has at most a few hundred groups (teams); the list is read whole.
        const string groupsSql = """
            SELECT g.id AS GroupId, g.display_name AS DisplayName,
                   (SELECT count(*) FROM scim_group_members m WHERE m.account_id = g.account_id AND m.group_id = g.id)::int AS MemberCount
            FROM scim_groups g WHERE g.account_id = @accountId AND (@groupId::text IS NULL OR g.id = @groupId)
            ORDER BY g.id LIMIT 1000;

            SELECT product_code AS Product, group_id AS GroupId, reserved_seats AS Reserved, max_seats AS Max, overage_max_seats AS OverageMax,
                   queue_priority AS Priority
            FROM pool_group_rules WHERE account_id = @accountId AND (@groupId::text IS NULL OR group_id = @groupId)
            ORDER BY product_code, group_id;

            SELECT agent_id FROM scim_group_members
            WHERE account_id = @accountId AND @groupId::text IS NOT NULL AND group_id = @groupId
            ORDER BY agent_id LIMIT 10000;
            """;
        await using var results = await connection.QueryMultipleAsync(new CommandDefinition(groupsSql, new { accountId, groupId }, transaction, cancellationToken: cancellationToken));
        var groups = (await results.ReadAsync<GroupRow>()).ToList();
        var rules = (await results.ReadAsync<RuleRow>()).ToLookup(r => r.GroupId, r => new GroupSeatRule(r.Product, r.GroupId, r.Reserved, r.Max, r.OverageMax, (QueuePriority?)r.Priority));
        var members = groupId is null ? null : (await results.ReadAsync<string>()).ToList();
        return groups.Select(g => new AgentGroupRecord(g.GroupId, g.DisplayName, g.MemberCount, rules[g.GroupId].ToList(), members)).ToList();
    }

    private Task<T> InTransactionAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken cancellationToken) =>
        PostgresTransaction.RunAsync(
            _dataSource,
            _pipelines.PostgresWrites,
            work,
            static result => result is GroupOutcome and not GroupOutcome.Saved or GroupRuleOutcome and not GroupRuleOutcome.Saved,
            cancellationToken);

    private sealed record GroupRow(string GroupId, string DisplayName, int MemberCount);

    private sealed record RuleRow(string Product, string GroupId, int Reserved, int? Max, int? OverageMax, short? Priority);

    private sealed record SubscriptionRow(int ConcurrentLimit, string OverageMode, int OverageSeats, int OveragePercent);

    private sealed record OthersRow(int Count, int Reserved);

    private sealed record RuleBeforeRow(int Reserved, int? Max, int? OverageMax, short? Priority);
}
