using System.Data;
using System.Text.Json;
using Dapper;
using LicenseBroker.Domain.Administration;
using LicenseBroker.Domain.Catalog;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Resilience;
using Npgsql;

namespace LicenseBroker.Storage.Postgres;

/// <summary>
/// Durable catalog changes. Limits are enforced with a row lock on the pool's subscription
/// (<c>SELECT … FOR UPDATE</c>) taken at the start of each transaction: every writer of one
/// pool — assignments, device registrations, limit changes, from any replica — queues on that
/// one row, so "count, compare, insert" cannot interleave, while other pools proceed in parallel.
/// A check constraint could not express "at most N rows"; SERIALIZABLE would also work but turns
/// contention into retried failures instead of a short wait. Each change writes its audit row in
/// the same transaction.
/// </summary>
/// <remarks>Not wrapped in retries: these are writes, and a retried write could apply twice.</remarks>
public sealed partial class PostgresCatalogStore : ICatalogStore
{
    private const string LockSubscriptionSql = """
        SELECT s.plan AS Plan, s.valid_until AS ValidUntil, s.named_seat_limit AS NamedSeatLimit,
               s.unattended_device_limit AS UnattendedDeviceLimit, s.monitored_device_limit AS MonitoredDeviceLimit,
               p.seat_model AS SeatModel, p.device_kind AS DeviceKind, s.valid_until > now() AS IsActive
        FROM subscriptions s JOIN products p ON p.code = s.product_code
        WHERE s.account_id = @accountId AND s.product_code = @product
        FOR UPDATE OF s
        """;

    private const string InsertAuditSql = """
        INSERT INTO audit_events (account_id, product_code, actor, action, subject, before, after, retention_days)
        VALUES (@accountId, @product, @actor, @action, @subject, @before::jsonb, @after::jsonb, lb_event_retention_days(@accountId))
        """;

    private readonly NpgsqlDataSource _dataSource;
    private readonly BackendPipelines _pipelines;

    public PostgresCatalogStore(NpgsqlDataSource dataSource, BackendPipelines pipelines)
    {
        _dataSource = dataSource;
        _pipelines = pipelines;
    }

    public async Task<SubscriptionOutcome> UpsertSubscriptionAsync(Actor actor, SubscriptionRecord subscription, CancellationToken cancellationToken)
    {
        const string currentSql = """
            SELECT account_id AS AccountId, product_code AS Product, plan AS Plan, valid_until AS ValidUntil,
                   named_seat_limit AS NamedSeatLimit, concurrent_seat_limit AS ConcurrentSeatLimit,
                   unattended_device_limit AS UnattendedDeviceLimit, monitored_device_limit AS MonitoredDeviceLimit,
                   pending_timeout_seconds AS PendingTimeoutSeconds, idle_timeout_seconds AS IdleTimeoutSeconds, display_name AS DisplayName,
                   revive_window_seconds AS ReviveWindowSeconds, outage_grace_seconds AS OutageGraceSeconds,
                   overage_mode AS OverageMode, overage_seats AS OverageSeats, overage_percent AS OveragePercent,
                   queue_max_waiters AS QueueMaxWaiters, queue_max_wait_seconds AS QueueMaxWaitSeconds, queue_age_step_seconds AS QueueAgeStepSeconds
            FROM subscriptions WHERE account_id = @accountId AND product_code = @product
            FOR UPDATE
            """;
        const string usageSql = """
            SELECT (SELECT count(*) FROM seat_assignments WHERE account_id = @accountId AND product_code = @product AND seat_type = 'NAMED')::int AS Named,
                   (SELECT count(*) FROM devices WHERE account_id = @accountId AND product_code = @product AND kind = 'UNATTENDED')::int AS Unattended,
                   (SELECT count(*) FROM devices WHERE account_id = @accountId AND product_code = @product AND kind = 'MONITORED')::int AS Monitored,
                   (SELECT coalesce(sum(reserved_seats), 0) FROM pool_group_rules WHERE account_id = @accountId AND product_code = @product)::int AS Reserved
            """;
        const string upsertSql = """
            INSERT INTO subscriptions (account_id, product_code, plan, valid_until, named_seat_limit, concurrent_seat_limit,
                                       unattended_device_limit, monitored_device_limit, pending_timeout_seconds, idle_timeout_seconds, display_name,
                                       revive_window_seconds, outage_grace_seconds, overage_mode, overage_seats, overage_percent,
                                       queue_max_waiters, queue_max_wait_seconds, queue_age_step_seconds, updated_at)
            VALUES (@AccountId, @Product, @Plan, @ValidUntil, @NamedSeatLimit, @ConcurrentSeatLimit,
                    @UnattendedDeviceLimit, @MonitoredDeviceLimit, @PendingTimeoutSeconds, @IdleTimeoutSeconds, @DisplayName,
                    @ReviveWindowSeconds, @OutageGraceSeconds, @OverageMode, @OverageSeats, @OveragePercent,
                    @QueueMaxWaiters, @QueueMaxWaitSeconds, @QueueAgeStepSeconds, now())
            ON CONFLICT (account_id, product_code) DO UPDATE SET
                plan = EXCLUDED.plan, valid_until = EXCLUDED.valid_until, named_seat_limit = EXCLUDED.named_seat_limit,
                concurrent_seat_limit = EXCLUDED.concurrent_seat_limit, unattended_device_limit = EXCLUDED.unattended_device_limit,
                monitored_device_limit = EXCLUDED.monitored_device_limit, pending_timeout_seconds = EXCLUDED.pending_timeout_seconds,
                idle_timeout_seconds = EXCLUDED.idle_timeout_seconds, display_name = EXCLUDED.display_name,
                revive_window_seconds = EXCLUDED.revive_window_seconds, outage_grace_seconds = EXCLUDED.outage_grace_seconds,
                overage_mode = EXCLUDED.overage_mode, overage_seats = EXCLUDED.overage_seats, overage_percent = EXCLUDED.overage_percent,
                queue_max_waiters = EXCLUDED.queue_max_waiters, queue_max_wait_seconds = EXCLUDED.queue_max_wait_seconds,
                queue_age_step_seconds = EXCLUDED.queue_age_step_seconds, updated_at = now()
            """;

        var key = new { accountId = subscription.AccountId, product = subscription.Product };
        return await InTransactionAsync<SubscriptionOutcome>(async (connection, transaction) =>
        {
            var catalogName = await connection.QuerySingleOrDefaultAsync<string>(
                new CommandDefinition("SELECT name FROM products WHERE code = @product", key, transaction, cancellationToken: cancellationToken));
            if (catalogName is null)
            {
                return new SubscriptionOutcome.UnknownProduct();
            }

            // The catalog's name is stored as "none of its own" (NULL), so a name read and written back follows the catalog.
            subscription = subscription with { DisplayName = subscription.DisplayName == catalogName ? null : subscription.DisplayName };

            await EnsureAccountAsync(connection, transaction, subscription.AccountId, cancellationToken);
            var before = await connection.QuerySingleOrDefaultAsync<SubscriptionRow>(new CommandDefinition(currentSql, key, transaction, cancellationToken: cancellationToken));
            var usage = await connection.QuerySingleAsync<UsageRow>(new CommandDefinition(usageSql, key, transaction, cancellationToken: cancellationToken));

            // Lowering below what is in use would strand seats or machines: the admin removes some first.
            // The concurrent limit is exempt: holders keep their seats and admission waits until under it.
            if (usage.Named > subscription.NamedSeatLimit)
            {
                return new SubscriptionOutcome.LimitBelowUsage("named seats", usage.Named, subscription.NamedSeatLimit);
            }

            if (usage.Unattended > subscription.UnattendedDeviceLimit)
            {
                return new SubscriptionOutcome.LimitBelowUsage("unattended machines", usage.Unattended, subscription.UnattendedDeviceLimit);
            }

            // Reservations never sum above the concurrent limit (holders above a lower limit keep their seats, as ever).
            if (usage.Reserved > subscription.ConcurrentSeatLimit)
            {
                return new SubscriptionOutcome.LimitBelowUsage("reserved shared seats", usage.Reserved, subscription.ConcurrentSeatLimit);
            }

            if (subscription.MonitoredDeviceLimit is { } monitoredLimit && usage.Monitored > monitoredLimit)
            {
                return new SubscriptionOutcome.LimitBelowUsage("monitored devices", usage.Monitored, monitoredLimit);
            }

            // Unset recovery settings keep what is stored (the defaults for a new subscription).
            var stored = before?.ToRecord();
            subscription = subscription with
            {
                ReviveWindow = subscription.ReviveWindow ?? stored?.ReviveWindow ?? LeaseRecovery.Default.ReviveWindow,
                OutageGrace = subscription.OutageGrace ?? stored?.OutageGrace ?? LeaseRecovery.Default.OutageGrace,
                OverageMode = subscription.OverageMode ?? stored?.OverageMode ?? Domain.Seats.OverageMode.None,
                QueueMaxWaiters = subscription.QueueMaxWaiters ?? stored?.QueueMaxWaiters ?? 0,
                QueueMaxWaitSeconds = subscription.QueueMaxWaitSeconds ?? stored?.QueueMaxWaitSeconds ?? 0,
                QueueAgeStepSeconds = subscription.QueueAgeStepSeconds ?? stored?.QueueAgeStepSeconds ?? 0,
            };

            // An allowance given in one unit replaces one stored in the other; given in neither, the stored one stays.
            subscription = subscription.OverageSeats is null && subscription.OveragePercent is null
                ? subscription with { OverageSeats = stored?.OverageSeats ?? 0, OveragePercent = stored?.OveragePercent ?? 0 }
                : subscription with { OverageSeats = subscription.OverageSeats ?? 0, OveragePercent = subscription.OveragePercent ?? 0 };
            var row = SubscriptionRow.From(subscription);
            await connection.ExecuteAsync(new CommandDefinition(upsertSql, row, transaction, cancellationToken: cancellationToken));
            await AuditAsync(connection, transaction, subscription.AccountId, subscription.Product, actor, "subscription.upsert", null, before, row, cancellationToken);
            return new SubscriptionOutcome.Saved(subscription with { DisplayName = subscription.DisplayName ?? catalogName }, Created: before is null);
        }, cancellationToken);
    }

    public async Task<SubscriptionRecord?> GetSubscriptionAsync(string accountId, string product, CancellationToken cancellationToken)
    {
        const string sql = """
            SELECT s.account_id AS AccountId, s.product_code AS Product, s.plan AS Plan, s.valid_until AS ValidUntil,
                   s.named_seat_limit AS NamedSeatLimit, s.concurrent_seat_limit AS ConcurrentSeatLimit,
                   s.unattended_device_limit AS UnattendedDeviceLimit, s.monitored_device_limit AS MonitoredDeviceLimit,
                   s.pending_timeout_seconds AS PendingTimeoutSeconds, s.idle_timeout_seconds AS IdleTimeoutSeconds,
                   coalesce(s.display_name, p.name) AS DisplayName,
                   s.revive_window_seconds AS ReviveWindowSeconds, s.outage_grace_seconds AS OutageGraceSeconds,
                   s.overage_mode AS OverageMode, s.overage_seats AS OverageSeats, s.overage_percent AS OveragePercent,
                   s.queue_max_waiters AS QueueMaxWaiters, s.queue_max_wait_seconds AS QueueMaxWaitSeconds, s.queue_age_step_seconds AS QueueAgeStepSeconds
            FROM subscriptions s JOIN products p ON p.code = s.product_code WHERE s.account_id = @accountId AND s.product_code = @product
            """;
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<SubscriptionRow>(new CommandDefinition(sql, new { accountId, product }, cancellationToken: cancellationToken));
        return row?.ToRecord();
    }

    public Task<bool> SetSessionTimeoutsAsync(Actor actor, string accountId, string product, IdleRules rules, CancellationToken cancellationToken)
    {
        // The subscription row is the pool's lock (as for every change of its terms).
        const string sql = """
            WITH previous AS (
                SELECT pending_timeout_seconds, idle_timeout_seconds FROM subscriptions
                WHERE account_id = @accountId AND product_code = @product FOR UPDATE
            )
            UPDATE subscriptions s SET pending_timeout_seconds = @pending, idle_timeout_seconds = @idle
            FROM previous WHERE s.account_id = @accountId AND s.product_code = @product
            RETURNING previous.pending_timeout_seconds AS Pending, previous.idle_timeout_seconds AS Idle
            """;
        var pending = (int)rules.PendingTimeout.TotalSeconds;
        var idle = (int)rules.IdleTimeout.TotalSeconds;
        return InTransactionAsync(async (connection, transaction) =>
        {
            var before = await connection.QuerySingleOrDefaultAsync<(int Pending, int Idle)?>(new CommandDefinition(
                sql, new { accountId, product, pending, idle }, transaction, cancellationToken: cancellationToken));
            if (before is not { } was)
            {
                return false;
            }

            if (was.Pending != pending || was.Idle != idle)
            {
                await AuditAsync(connection, transaction, accountId, product, actor, "subscription.session_timeouts", null,
                    new { pending_timeout_seconds = was.Pending, idle_timeout_seconds = was.Idle }, new { pending_timeout_seconds = pending, idle_timeout_seconds = idle },
                    cancellationToken);
            }

            return true;
        }, cancellationToken);
    }

    public async Task<string?> GetTimeZoneAsync(string accountId, string personId, CancellationToken cancellationToken)
    {
        const string sql = "SELECT time_zone FROM admin_preferences WHERE account_id = @accountId AND person_id = @personId";
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(sql, new { accountId, personId }, cancellationToken: cancellationToken));
    }

    public Task SetTimeZoneAsync(string accountId, string personId, string? timeZone, CancellationToken cancellationToken)
    {
        const string upsertSql = """
            INSERT INTO admin_preferences (account_id, person_id, time_zone) VALUES (@accountId, @personId, @timeZone)
            ON CONFLICT (account_id, person_id) DO UPDATE SET time_zone = EXCLUDED.time_zone, updated_at = now()
            """;
        const string forgetSql = "DELETE FROM admin_preferences WHERE account_id = @accountId AND person_id = @personId";
        ArgumentOutOfRangeException.ThrowIfGreaterThan(timeZone?.Length ?? 0, 64); // checked at the edge (RequestValidation.TimeZone)
        return InTransactionAsync(async (connection, transaction) =>
        {
            await EnsureAccountAsync(connection, transaction, accountId, cancellationToken);
            return await connection.ExecuteAsync(new CommandDefinition(
                timeZone is { Length: > 0 } ? upsertSql : forgetSql, new { accountId, personId, timeZone }, transaction, cancellationToken: cancellationToken));
        }, cancellationToken);
    }

    public async Task<AgentOutcome> UpsertAgentAsync(Actor actor, string accountId, AgentRecord agent, CancellationToken cancellationToken)
    {
        const string beforeSql = """
            SELECT id AS AgentId, email AS Email, display_name AS DisplayName, role AS Role, privileges AS Privileges
            FROM agents WHERE account_id = @accountId AND id = @agentId FOR UPDATE
            """;
        const string emailTakenSql = "SELECT true FROM agents WHERE account_id = @accountId AND lower(email) = lower(@email) AND id <> @agentId";
        const string upsertSql = """
            INSERT INTO agents (account_id, id, email, display_name, role, privileges)
            VALUES (@accountId, @AgentId, @Email, @DisplayName, @Role, @Privileges)
            ON CONFLICT (account_id, id) DO UPDATE SET
                email = EXCLUDED.email, display_name = EXCLUDED.display_name, role = EXCLUDED.role, privileges = EXCLUDED.privileges
            """;

        return await InTransactionAsync<AgentOutcome>(async (connection, transaction) =>
        {
            if (!await AccountExistsAsync(connection, transaction, accountId, cancellationToken))
            {
                return new AgentOutcome.UnknownAccount();
            }

            var before = await connection.QuerySingleOrDefaultAsync<AgentRow>(
                new CommandDefinition(beforeSql, new { accountId, agentId = agent.AgentId }, transaction, cancellationToken: cancellationToken));
            if (await connection.QuerySingleOrDefaultAsync<bool>(
                    new CommandDefinition(emailTakenSql, new { accountId, email = agent.Email, agentId = agent.AgentId }, transaction, cancellationToken: cancellationToken)))
            {
                return new AgentOutcome.EmailTaken();
            }

            var row = AgentRow.From(agent);
            await connection.ExecuteAsync(new CommandDefinition(
                upsertSql,
                new { accountId, row.AgentId, row.Email, row.DisplayName, row.Role, row.Privileges },
                transaction,
                cancellationToken: cancellationToken));
            await AuditAsync(connection, transaction, accountId, null, actor, "agent.upsert", agent.AgentId, before, row, cancellationToken);
            var seats = await SeatsOfAsync(connection, transaction, accountId, agent.AgentId, cancellationToken);
            return new AgentOutcome.Saved(agent with { Seats = seats }, Created: before is null);
        }, cancellationToken);
    }

    public async Task<bool> AgentExistsAsync(string accountId, string agentId, CancellationToken cancellationToken)
    {
        const string existsSql = "SELECT EXISTS (SELECT 1 FROM agents WHERE account_id = @accountId AND id = @agentId)";
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<bool>(new CommandDefinition(existsSql, new { accountId, agentId }, cancellationToken: cancellationToken));
    }

    public async Task<bool> RemoveAgentAsync(Actor actor, string accountId, string agentId, CancellationToken cancellationToken)
    {
        const string deleteSql = """
            DELETE FROM agents WHERE account_id = @accountId AND id = @agentId
            RETURNING id AS AgentId, email AS Email, display_name AS DisplayName, role AS Role, privileges AS Privileges
            """;
        return await InTransactionAsync(async (connection, transaction) =>
        {
            // Seat assignments go with the agent (ON DELETE CASCADE).
            var before = await connection.QuerySingleOrDefaultAsync<AgentRow>(
                new CommandDefinition(deleteSql, new { accountId, agentId }, transaction, cancellationToken: cancellationToken));
            if (before is null)
            {
                return false;
            }

            await AuditAsync(connection, transaction, accountId, null, actor, "agent.remove", agentId, before, null, cancellationToken);
            await RememberNameAsync(connection, transaction, accountId, agentId, before.DisplayName, cancellationToken);
            return true;
        }, cancellationToken);
    }

    public async Task<AgentPage> ListAgentsAsync(
        string accountId, string? product, SeatFilter filter, string? query, int pageSize, string? after, CancellationToken cancellationToken)
    {
        // Keyset paging on the agent id: stable while agents are added or removed between pages.
        const string sql = """
            SELECT a.id AS AgentId, a.email AS Email, a.display_name AS DisplayName, a.role AS Role, a.privileges AS Privileges
            FROM agents a
            LEFT JOIN seat_assignments s ON s.account_id = a.account_id AND s.agent_id = a.id AND s.product_code = @product
            WHERE a.account_id = @accountId
              AND (@after IS NULL OR a.id > @after)
              AND (@filter = 'ANY'
                   OR (@filter = 'NONE' AND s.agent_id IS NULL)
                   OR s.seat_type = @filter)
              AND (@pattern = '' OR a.id ILIKE @pattern OR a.email ILIKE @pattern OR a.display_name ILIKE @pattern)
            ORDER BY a.id
            LIMIT @limit
            """;
        const string seatsSql = """
            SELECT agent_id AS AgentId, product_code AS Product, seat_type AS SeatType
            FROM seat_assignments WHERE account_id = @accountId AND agent_id = ANY(@agentIds)
            """;
        var filterCode = filter switch
        {
            SeatFilter.Named => SeatTypeCodes.Named,
            SeatFilter.Concurrent => SeatTypeCodes.Concurrent,
            SeatFilter.None => "NONE",
            _ => "ANY",
        };

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var rows = (await connection.QueryAsync<AgentRow>(new CommandDefinition(
            sql, new { accountId, product = product ?? string.Empty, after, filter = filterCode, pattern = ContainsPattern(query), limit = pageSize + 1 }, cancellationToken: cancellationToken))).ToList();
        var page = rows.Take(pageSize).ToList();
        var seats = (await connection.QueryAsync<SeatRow>(new CommandDefinition(
                seatsSql, new { accountId, agentIds = page.Select(r => r.AgentId).ToArray() }, cancellationToken: cancellationToken)))
            .ToLookup(s => s.AgentId, StringComparer.Ordinal);
        var agents = page.Select(r => r.ToRecord(seats[r.AgentId].Select(s => s.ToHolding()).ToList())).ToList();
        return new AgentPage(agents, rows.Count > pageSize ? page[^1].AgentId : null);
    }

    public async Task<AssignOutcome> AssignSeatAsync(
        Actor actor, string accountId, string agentId, string product, SeatType seatType, CancellationToken cancellationToken) =>
        await InTransactionAsync(
            (connection, transaction) => AssignInTransactionAsync(connection, transaction, actor, accountId, agentId, product, seatType, cancellationToken),
            cancellationToken);

    public async Task<bool> UnassignSeatAsync(Actor actor, string accountId, string agentId, string product, CancellationToken cancellationToken) =>
        await InTransactionAsync(
            (connection, transaction) => UnassignInTransactionAsync(connection, transaction, actor, accountId, agentId, product, cancellationToken),
            cancellationToken);

    // Previews run the change itself, with its locks and checks, and roll it back: one path decides both.
    public async Task<AssignOutcome> PreviewAssignSeatAsync(
        Actor actor, string accountId, string agentId, string product, SeatType seatType, CancellationToken cancellationToken) =>
        await PostgresTransaction.RunAsync(
            _dataSource,
            _pipelines.PostgresWrites,
            (connection, transaction) => AssignInTransactionAsync(connection, transaction, actor, accountId, agentId, product, seatType, cancellationToken),
            static _ => true,
            cancellationToken);

    public async Task<bool> PreviewUnassignSeatAsync(Actor actor, string accountId, string agentId, string product, CancellationToken cancellationToken) =>
        await PostgresTransaction.RunAsync(
            _dataSource,
            _pipelines.PostgresWrites,
            (connection, transaction) => UnassignInTransactionAsync(connection, transaction, actor, accountId, agentId, product, cancellationToken),
            static _ => true,
            cancellationToken);

    public async Task<IReadOnlyList<BulkItemResult>> BulkAssignAsync(
        Actor actor, string accountId, IReadOnlyList<BulkAssignItem> items, bool allOrNothing, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        var results = new List<BulkItemResult>(items.Count);

        // Pools are locked in a fixed order first, so two bulk calls over the same pools cannot deadlock.
        foreach (var product in items.Select(i => i.Product).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "SELECT 1 FROM subscriptions WHERE account_id = @accountId AND product_code = @product FOR UPDATE",
                new { accountId, product }, transaction, cancellationToken: cancellationToken));
        }

        for (var index = 0; index < items.Count; index++)
        {
            var item = items[index];

            // Each item under its own savepoint: when items may fail alone, a failed one leaves no trace.
            await transaction.SaveAsync("item", cancellationToken);
            BulkItemResult result;
            if (item.SeatType is { } seatType)
            {
                var outcome = await AssignInTransactionAsync(connection, transaction, actor, accountId, item.AgentId, item.Product, seatType, cancellationToken);
                result = new BulkItemResult(index, outcome, Removed: false, Aborted: false);
            }
            else
            {
                var removed = await UnassignInTransactionAsync(connection, transaction, actor, accountId, item.AgentId, item.Product, cancellationToken);
                result = new BulkItemResult(index, null, removed, Aborted: false);
            }

            var failed = result.Outcome is not null and not AssignOutcome.Assigned;
            if (failed && allOrNothing)
            {
                await transaction.RollbackAsync(cancellationToken);
                var aborted = results.Select(r => r with { Aborted = true }).ToList();
                aborted.Add(result);
                aborted.AddRange(Enumerable.Range(index + 1, items.Count - index - 1).Select(i => new BulkItemResult(i, null, false, Aborted: true)));
                return aborted;
            }

            if (failed)
            {
                await transaction.RollbackAsync("item", cancellationToken);
            }

            results.Add(result);
        }

        await transaction.CommitAsync(cancellationToken);
        return results;
    }

    public async Task<DeviceOutcome> RegisterDeviceAsync(
        Actor actor, string accountId, string product, DeviceRegistration device, CancellationToken cancellationToken)
    {
        const string countSql = "SELECT count(*)::int FROM devices WHERE account_id = @accountId AND product_code = @product AND kind = @kind";
        const string insertSql = """
            INSERT INTO devices (account_id, product_code, id, kind, display_name, platform)
            VALUES (@accountId, @product, @deviceId, @kind, @displayName, @platform)
            """;
        return await InTransactionAsync<DeviceOutcome>(async (connection, transaction) =>
        {
            var pool = await LockPoolAsync(connection, transaction, accountId, product, cancellationToken);
            if (pool is not { IsActive: true })
            {
                return new DeviceOutcome.NoActiveSubscription();
            }

            if (pool.DeviceKind is not { } kind)
            {
                return new DeviceOutcome.ProductHasNoDevices();
            }

            int? limit = kind == "UNATTENDED" ? pool.UnattendedDeviceLimit : pool.MonitoredDeviceLimit;
            var inUse = await connection.QuerySingleAsync<int>(new CommandDefinition(countSql, new { accountId, product, kind }, transaction, cancellationToken: cancellationToken));
            if (await connection.QuerySingleOrDefaultAsync<bool>(new CommandDefinition(
                    "SELECT true FROM devices WHERE account_id = @accountId AND product_code = @product AND id = @deviceId",
                    new { accountId, product, deviceId = device.DeviceId }, transaction, cancellationToken: cancellationToken)))
            {
                return new DeviceOutcome.Registered(inUse, limit, Changed: false);
            }

            if (limit is { } max && inUse >= max)
            {
                return new DeviceOutcome.DeviceLimitReached(max);
            }

            await connection.ExecuteAsync(new CommandDefinition(
                insertSql,
                new { accountId, product, deviceId = device.DeviceId, kind, displayName = device.DisplayName, platform = device.Platform.ToString() },
                transaction,
                cancellationToken: cancellationToken));
            await AuditAsync(connection, transaction, accountId, product, actor, "device.register", device.DeviceId, null, device, cancellationToken);
            return new DeviceOutcome.Registered(inUse + 1, limit, Changed: true);
        }, cancellationToken);
    }

    public async Task<bool> UnregisterDeviceAsync(Actor actor, string accountId, string product, string deviceId, CancellationToken cancellationToken)
    {
        const string deleteSql = """
            DELETE FROM devices WHERE account_id = @accountId AND product_code = @product AND id = @deviceId
            RETURNING id AS DeviceId, kind AS Kind, display_name AS DisplayName, platform AS Platform
            """;
        return await InTransactionAsync(async (connection, transaction) =>
        {
            var before = await connection.QuerySingleOrDefaultAsync<DeviceRow>(
                new CommandDefinition(deleteSql, new { accountId, product, deviceId }, transaction, cancellationToken: cancellationToken));
            if (before is null)
            {
                return false;
            }

            await AuditAsync(connection, transaction, accountId, product, actor, "device.unregister", deviceId, before, null, cancellationToken);
            return true;
        }, cancellationToken);
    }

    public async Task<IReadOnlyList<string>> ProductCodesAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<string>(new CommandDefinition("SELECT code FROM products ORDER BY code", cancellationToken: cancellationToken))).ToList();
    }

    /// <summary>Gives a seat inside the caller's transaction (the pool row is locked here): also the path of provisioning.</summary>
    internal static async Task<AssignOutcome> AssignInTransactionAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Actor actor, string accountId, string agentId, string product, SeatType seatType, CancellationToken cancellationToken)
    {
        // One statement after the lock (its own snapshot, taken once the lock is held, so the count is current):
        // each round trip made while holding the pool's row is paid by every writer queued behind it.
        const string stateSql = """
            SELECT EXISTS (SELECT 1 FROM agents WHERE account_id = @accountId AND id = @agentId) AS AgentExists,
                   (SELECT seat_type FROM seat_assignments WHERE account_id = @accountId AND product_code = @product AND agent_id = @agentId) AS Current,
                   (SELECT count(*)::int FROM seat_assignments WHERE account_id = @accountId AND product_code = @product AND seat_type = 'NAMED') AS Named
            """;
        const string upsertSql = """
            INSERT INTO seat_assignments (account_id, agent_id, product_code, seat_type)
            VALUES (@accountId, @agentId, @product, @seatType)
            ON CONFLICT (account_id, product_code, agent_id) DO UPDATE SET seat_type = EXCLUDED.seat_type, assigned_at = now()
            """;

        var pool = await LockPoolAsync(connection, transaction, accountId, product, cancellationToken);
        if (pool is not { IsActive: true })
        {
            return new AssignOutcome.NoActiveSubscription();
        }

        if (SeatTypeCodes.ParseModel(pool.SeatModel, "PostgreSQL") == SeatModel.Unlimited)
        {
            return new AssignOutcome.ProductHasNoSeats();
        }

        var key = new { accountId, product, agentId, seatType = SeatTypeCodes.Code(seatType) };
        var state = await connection.QuerySingleAsync<AssignStateRow>(new CommandDefinition(stateSql, key, transaction, cancellationToken: cancellationToken));
        if (!state.AgentExists)
        {
            return new AssignOutcome.UnknownAgent();
        }

        var current = state.Current;
        if (current == key.seatType)
        {
            return new AssignOutcome.Assigned(seatType, Changed: false);
        }

        if (seatType == SeatType.Named && state.Named >= pool.NamedSeatLimit)
        {
            return new AssignOutcome.NamedSeatLimitReached(pool.NamedSeatLimit);
        }

        await connection.ExecuteAsync(new CommandDefinition(upsertSql, key, transaction, cancellationToken: cancellationToken));
        await AuditAsync(connection, transaction, accountId, product, actor, "seat.assign", agentId,
            current is null ? null : new { seat_type = current }, new { seat_type = key.seatType }, cancellationToken);
        return new AssignOutcome.Assigned(seatType, Changed: true);
    }

    private static async Task<bool> UnassignInTransactionAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Actor actor, string accountId, string agentId, string product, CancellationToken cancellationToken)
    {
        const string deleteSql = """
            DELETE FROM seat_assignments WHERE account_id = @accountId AND product_code = @product AND agent_id = @agentId
            RETURNING seat_type
            """;
        var before = await connection.QuerySingleOrDefaultAsync<string>(
            new CommandDefinition(deleteSql, new { accountId, product, agentId }, transaction, cancellationToken: cancellationToken));
        if (before is null)
        {
            return false;
        }

        await AuditAsync(connection, transaction, accountId, product, actor, "seat.unassign", agentId, new { seat_type = before }, null, cancellationToken);
        return true;
    }

    /// <summary>Locks the pool's subscription row; null when there is none.</summary>
    private static Task<PoolRow?> LockPoolAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string accountId, string product, CancellationToken cancellationToken) =>
        connection.QuerySingleOrDefaultAsync<PoolRow>(new CommandDefinition(LockSubscriptionSql, new { accountId, product }, transaction, cancellationToken: cancellationToken));

    /// <summary>Creates the account row when it does not exist yet (first subscription, token or SCIM write).</summary>
    internal static Task<int> EnsureAccountAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string accountId, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO accounts (id, name) VALUES (@accountId, @accountId) ON CONFLICT (id) DO NOTHING", new { accountId }, transaction, cancellationToken: cancellationToken));

    private static Task<bool> AccountExistsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string accountId, CancellationToken cancellationToken) =>
        connection.QuerySingleOrDefaultAsync<bool>(new CommandDefinition(
            "SELECT true FROM accounts WHERE id = @accountId", new { accountId }, transaction, cancellationToken: cancellationToken));

    private static async Task<IReadOnlyList<SeatHolding>> SeatsOfAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string accountId, string agentId, CancellationToken cancellationToken) =>
        (await connection.QueryAsync<SeatRow>(new CommandDefinition(
            "SELECT agent_id AS AgentId, product_code AS Product, seat_type AS SeatType FROM seat_assignments WHERE account_id = @accountId AND agent_id = @agentId ORDER BY product_code",
            new { accountId, agentId }, transaction, cancellationToken: cancellationToken)))
        .Select(s => s.ToHolding()).ToList();

    /// <summary>
    /// Writes one audit row in the caller's transaction: the one audit insert of every catalog and
    /// provisioning change; a seat given or taken also writes its agent.seat_changed webhook messages.
    /// </summary>
    internal static async Task AuditAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string accountId, string? product, Actor actor, string action, string? subject,
        object? before, object? after, CancellationToken cancellationToken)
    {
        await InsertAuditAsync(connection, transaction, accountId, product, actor, action, subject, before, after, cancellationToken);
        await RememberNameAsync(connection, transaction, accountId, actor.Id, actor.Name, cancellationToken);
        if (action is "seat.assign" or "seat.unassign" && subject is not null)
        {
            var seatType = after is null ? null : JsonSerializer.SerializeToElement(after).TryGetProperty("seat_type", out var type) ? type.ToString() : null;
            await WebhookOutbox.AddAgentSeatChangedAsync(
                connection, transaction, accountId, product, subject, actor.Id, action == "seat.assign" ? "assigned" : "removed", seatType, cancellationToken);
        }
    }

    /// <summary>
    /// Keeps a name for the audit log's readers (migration 0027): an actor's, as their token gave it, or a removed
    /// person's; a no-op without a name, when unchanged, or for an account that does not exist (nothing to name in it).
    /// </summary>
    internal static async Task RememberNameAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, string accountId, string id, string? name, CancellationToken cancellationToken)
    {
        const string sql = """
            INSERT INTO audit_names (account_id, id, name)
            SELECT @accountId, @id, @name WHERE EXISTS (SELECT 1 FROM accounts WHERE id = @accountId)
            ON CONFLICT (account_id, id) DO UPDATE SET name = EXCLUDED.name, updated_at = now()
            WHERE audit_names.name IS DISTINCT FROM EXCLUDED.name
            """;
        if (name is { Length: > 0 and <= 200 })
        {
            await connection.ExecuteAsync(new CommandDefinition(sql, new { accountId, id, name }, transaction, cancellationToken: cancellationToken));
        }
    }

    public async Task RememberActorNameAsync(string accountId, Actor actor, CancellationToken cancellationToken)
    {
        if (actor.Name is null)
        {
            return;
        }

        try
        {
            await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
            await RememberNameAsync(connection, null, accountId, actor.Id, actor.Name, cancellationToken);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            // The action it names has happened; the Activity page shows the actor's id until their next change.
        }
    }

    private static Task<int> InsertAuditAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string accountId, string? product, Actor actor, string action, string? subject,
        object? before, object? after, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(new CommandDefinition(
            InsertAuditSql,
            new
            {
                accountId,
                product,
                actor = actor.Id,
                action,
                subject,
                before = before is null ? null : JsonSerializer.Serialize(before),
                after = after is null ? null : JsonSerializer.Serialize(after),
            },
            transaction,
            cancellationToken: cancellationToken));

    private Task<T> InTransactionAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken cancellationToken) =>
        PostgresTransaction.RunAsync(_dataSource, _pipelines.PostgresWrites, work, static result => IsRefusal(result), cancellationToken);

    private static bool IsRefusal(object? result) => result is
        SubscriptionOutcome.LimitBelowUsage or SubscriptionOutcome.UnknownProduct
        or AgentOutcome.EmailTaken or AgentOutcome.UnknownAccount
        or AssignOutcome.NoActiveSubscription or AssignOutcome.ProductHasNoSeats or AssignOutcome.UnknownAgent or AssignOutcome.NamedSeatLimitReached
        or DeviceOutcome.DeviceLimitReached or DeviceOutcome.NoActiveSubscription or DeviceOutcome.ProductHasNoDevices;

    private sealed record AssignStateRow(bool AgentExists, string? Current, int Named);

    private sealed record PoolRow(
        string Plan, DateTime ValidUntil, int NamedSeatLimit, int UnattendedDeviceLimit, int? MonitoredDeviceLimit, string SeatModel, string? DeviceKind, bool IsActive);

    private sealed record UsageRow(int Named, int Unattended, int Monitored, int Reserved);

    private sealed record SeatRow(string AgentId, string Product, string SeatType)
    {
        public SeatHolding ToHolding() => new(Product, SeatTypeCodes.Parse(SeatType, "PostgreSQL"));
    }

    private sealed record DeviceRow(string DeviceId, string Kind, string DisplayName, string Platform);

    private sealed record SubscriptionRow(
        string AccountId, string Product, string Plan, DateTime ValidUntil, int NamedSeatLimit, int ConcurrentSeatLimit, int UnattendedDeviceLimit, int? MonitoredDeviceLimit,
        int PendingTimeoutSeconds, int IdleTimeoutSeconds, string? DisplayName, int ReviveWindowSeconds, int OutageGraceSeconds,
        string OverageMode, int OverageSeats, int OveragePercent, int? QueueMaxWaiters, int? QueueMaxWaitSeconds, int? QueueAgeStepSeconds)
    {
        public static SubscriptionRow From(SubscriptionRecord s) => new(
            s.AccountId, s.Product, s.Plan == Domain.Catalog.Plan.Paid ? "PAID" : "TRIAL", s.ValidUntil.UtcDateTime,
            s.NamedSeatLimit, s.ConcurrentSeatLimit, s.UnattendedDeviceLimit, s.MonitoredDeviceLimit,
            (int)s.IdleRules.PendingTimeout.TotalSeconds, (int)s.IdleRules.IdleTimeout.TotalSeconds, s.DisplayName,
            (int)(s.ReviveWindow ?? LeaseRecovery.Default.ReviveWindow).TotalSeconds, (int)(s.OutageGrace ?? LeaseRecovery.Default.OutageGrace).TotalSeconds,
            SeatTypeCodes.OverageModeCode(s.OverageMode ?? Domain.Seats.OverageMode.None), s.OverageSeats ?? 0, s.OveragePercent ?? 0,
            s.QueueMaxWaiters is > 0 ? s.QueueMaxWaiters : null, s.QueueMaxWaitSeconds is > 0 ? s.QueueMaxWaitSeconds : null,
            s.QueueAgeStepSeconds is > 0 ? s.QueueAgeStepSeconds : null);

        public SubscriptionRecord ToRecord() => new(
            AccountId, Product, Plan == "PAID" ? Domain.Catalog.Plan.Paid : Domain.Catalog.Plan.Trial, new DateTimeOffset(DateTime.SpecifyKind(ValidUntil, DateTimeKind.Utc)),
            NamedSeatLimit, ConcurrentSeatLimit, UnattendedDeviceLimit, MonitoredDeviceLimit)
        {
            IdleRules = new Domain.Seats.IdleRules(TimeSpan.FromSeconds(PendingTimeoutSeconds), TimeSpan.FromSeconds(IdleTimeoutSeconds)),
            DisplayName = DisplayName,
            ReviveWindow = TimeSpan.FromSeconds(ReviveWindowSeconds),
            OutageGrace = TimeSpan.FromSeconds(OutageGraceSeconds),
            OverageMode = SeatTypeCodes.ParseOverageMode(OverageMode, "PostgreSQL"),
            OverageSeats = OverageSeats,
            OveragePercent = OveragePercent,
            QueueMaxWaiters = QueueMaxWaiters ?? 0,
            QueueMaxWaitSeconds = QueueMaxWaitSeconds ?? 0,
            QueueAgeStepSeconds = QueueAgeStepSeconds ?? 0,
        };
    }

    // A class with settable properties, not a positional record: Npgsql reports text[] columns as
    // System.Array, which Dapper can assign to a string[] property but not match to a constructor.
    private sealed class AgentRow
    {
        public string AgentId { get; init; } = string.Empty;

        public string Email { get; init; } = string.Empty;

        public string DisplayName { get; init; } = string.Empty;

        public string Role { get; init; } = string.Empty;

        public string[] Privileges { get; init; } = [];

        public static AgentRow From(AgentRecord a) => new()
        {
            AgentId = a.AgentId,
            Email = a.Email,
            DisplayName = a.DisplayName,
            Role = a.Role.ToString().ToUpperInvariant(),
            Privileges = a.Privileges.Select(p => p == Privilege.ManageUsers ? "MANAGE_USERS" : "MANAGE_SEATS").Distinct().Order(StringComparer.Ordinal).ToArray(),
        };

        public AgentRecord ToRecord(IReadOnlyList<SeatHolding> seats) => new(
            AgentId, Email, DisplayName, Enum.Parse<AgentRole>(Role, ignoreCase: true),
            Privileges.Select(p => p == "MANAGE_USERS" ? Privilege.ManageUsers : Privilege.ManageSeats).ToList(), seats);
    }
}
