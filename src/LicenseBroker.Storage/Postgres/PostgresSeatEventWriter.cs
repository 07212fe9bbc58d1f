using Dapper;
using LicenseBroker.Domain.Seats;
using Npgsql;

namespace LicenseBroker.Storage.Postgres;

/// <summary>
/// Writes a batch of seat events in one transaction: the audit rows, the webhook messages of the rows
/// that were new, then the daily counters. Idempotent: an event already stored (same pool and sequence)
/// is skipped with its messages, so the journal's drain may write a batch twice without a duplicate.
/// </summary>
public sealed class PostgresSeatEventWriter
{
    // In the batch's order (per pool, its sequence order): the audit ids, and so the webhook outbox's, follow it.
    // after: the lease, and on a grant the shared seats then in use (in_use) when it took one, else 0 (a named seat,
    // or another device of an agent already on a shared seat): the seat planner tells them apart by it. On the pool's
    // overage events, the overage seats after the change (overage_seats): the overage statement integrates them.
    // Each row carries its account's retention class (migration 0019), which is part of the unique key: NOT EXISTS
    // skips an event stored before the account changed class, ON CONFLICT one a concurrent writer is storing.
    private const string InsertSql = """
        INSERT INTO audit_events (occurred_at, account_id, product_code, actor, action, subject, after, event_seq, retention_days)
        SELECT at, account, product, actor, action, subject,
               jsonb_strip_nulls(jsonb_build_object('lease_id', lease, 'in_use', in_use, 'overage_seats', overage_seats)), seq, lb_event_retention_days(account)
        FROM unnest(@ats, @accounts, @products, @actors, @actions, @subjects, @leases, @seqs, @inUse, @overageSeats) WITH ORDINALITY
             AS e(at, account, product, actor, action, subject, lease, seq, in_use, overage_seats, n)
        WHERE NOT EXISTS (
            SELECT 1 FROM audit_events x
            WHERE x.account_id = e.account AND x.product_code = e.product AND x.event_seq = e.seq AND x.occurred_at = e.at)
        ORDER BY n
        ON CONFLICT (account_id, product_code, event_seq, occurred_at, retention_days) WHERE event_seq IS NOT NULL DO NOTHING
        RETURNING account_id, product_code, event_seq
        """;

    // GREATEST: the Redis counters only grow within a day, so the largest value seen is the true one,
    // whatever order batches from several replicas arrive in.
    private const string UsageSql = """
        INSERT INTO usage_daily (account_id, product_code, day, peak_concurrent, refused)
        SELECT * FROM unnest(@accounts, @products, @days, @peaks, @refused)
        ON CONFLICT (account_id, product_code, day) DO UPDATE SET
            peak_concurrent = GREATEST(usage_daily.peak_concurrent, EXCLUDED.peak_concurrent),
            refused = GREATEST(usage_daily.refused, EXCLUDED.refused)
        """;

    // The history's distinct agents per day (migration 0017): the day's first grant of an agent adds its row and
    // raises the day's count by one, in the transaction that stores the grant; a second grant, or the same batch
    // written twice, adds nothing.
    // Those on a named seat of the product are counted apart too (named_agents, migration 0029): the history shows named
    // seats beside the shared ones.
    private const string DistinctAgentsSql = """
        WITH added AS (
            INSERT INTO usage_daily_agents (account_id, product_code, day, agent_id)
            SELECT DISTINCT * FROM unnest(@accounts, @products, @days, @agents) ORDER BY 1, 2, 3, 4
            ON CONFLICT DO NOTHING
            RETURNING account_id, product_code, day, agent_id
        )
        INSERT INTO usage_daily (account_id, product_code, day, distinct_agents, named_agents)
        SELECT a.account_id, a.product_code, a.day, count(*), count(*) FILTER (WHERE s.seat_type = 'NAMED')
        FROM added a
        LEFT JOIN seat_assignments s ON s.account_id = a.account_id AND s.agent_id = a.agent_id AND s.product_code = a.product_code
        GROUP BY a.account_id, a.product_code, a.day ORDER BY 1, 2, 3
        ON CONFLICT (account_id, product_code, day) DO UPDATE SET
            distinct_agents = usage_daily.distinct_agents + EXCLUDED.distinct_agents,
            named_agents = usage_daily.named_agents + EXCLUDED.named_agents
        """;

    // Waits begun and waits that ended without a seat, per day (migration 0025): counted from the events stored for the
    // first time (fresh), so a batch written twice counts once.
    private const string WaitsSql = """
        INSERT INTO usage_daily (account_id, product_code, day, queue_joins, queue_abandoned)
        SELECT * FROM unnest(@accounts, @products, @days, @joins, @abandoned)
        ON CONFLICT (account_id, product_code, day) DO UPDATE SET
            queue_joins = usage_daily.queue_joins + EXCLUDED.queue_joins,
            queue_abandoned = usage_daily.queue_abandoned + EXCLUDED.queue_abandoned
        """;

    private readonly NpgsqlDataSource _dataSource;

    public PostgresSeatEventWriter(NpgsqlDataSource dataSource)
    {
        _dataSource = dataSource;
    }

    // Agents erased (migration 0018) whose seat events were still in a pool's journal: they are stored, and sent,
    // under the opaque id that stands for the person now.
    private const string ErasedSql = """
        SELECT e.account_id AS AccountId, e.agent_hash AS AgentHash, e.erased_id AS ErasedId
        FROM erased_agents e JOIN unnest(@accounts, @hashes) AS b(account_id, agent_hash) USING (account_id, agent_hash)
        """;

    // An erasure of the account (PostgresCatalogStore.Erasure) holds this lock exclusively for its whole transaction; a
    // batch holds it shared from before its look-up of erased agents to its commit. So a batch either commits before
    // the erasure rewrites the account's rows (which then rewrites the batch's too), or looks up erased agents after the
    // erasure committed (and stores the opaque id): a seat event on its way during an erasure never keeps the name.
    // Its own statement: under READ COMMITTED the look-up's snapshot must be taken after the lock is granted.
    private const string ErasureLockSql = """
        SELECT pg_advisory_xact_lock_shared(hashtext('lb_erasure:' || a)) FROM (SELECT DISTINCT unnest(@accounts) AS a ORDER BY 1) AS x
        """;

    /// <summary>Stores the events not stored yet; returns how many were new.</summary>
    public async Task<int> WriteAsync(IReadOnlyList<SeatEvent> batch, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // One order for every writer (pool by pool, each in its sequence order): replicas storing the same pools at once
        // take their row locks (audit rows' unique keys, usage rows) in that order, so none waits on another in a cycle.
        batch = (await WithoutErasedAgentsAsync(connection, transaction, batch, cancellationToken))
            .OrderBy(e => e.Pool.AccountId, StringComparer.Ordinal).ThenBy(e => e.Pool.Product, StringComparer.Ordinal).ThenBy(e => e.Sequence)
            .ToList();
        var inserted = (await connection.QueryAsync<(string Account, string Product, long Seq)>(new CommandDefinition(
            InsertSql,
            new
            {
                ats = batch.Select(e => e.At.UtcDateTime).ToArray(),
                accounts = batch.Select(e => e.Pool.AccountId).ToArray(),
                products = batch.Select(e => e.Pool.Product).ToArray(),
                actors = batch.Select(e => e.Actor).ToArray(),
                actions = batch.Select(e => ActionOf(e.Kind)).ToArray(),
                subjects = batch.Select(e => e.AgentId).ToArray(),
                leases = batch.Select(e => e.LeaseId).ToArray(),
                seqs = batch.Select(e => e.Sequence).ToArray(),
                inUse = batch.Select(e => e.Kind == SeatEventKind.Granted ? e.SeatsInUse ?? 0 : (int?)null).ToArray(),
                overageSeats = batch.Select(e => e.Kind is SeatEventKind.OverageStarted or SeatEventKind.OverageChanged or SeatEventKind.OverageEnded ? e.SeatsInUse ?? 0 : (int?)null).ToArray(),
            },
            transaction,
            cancellationToken: cancellationToken))).ToHashSet();
        var fresh = batch.Where(e => inserted.Contains((e.Pool.AccountId, e.Pool.Product, e.Sequence))).ToList();

        // Webhook messages are written with the audit rows they come from: both or neither, once.
        await WebhookOutbox.AddSeatEventsAsync(connection, transaction, fresh, cancellationToken);

        var granted = fresh.Where(e => e.Kind == SeatEventKind.Granted).ToList();
        if (granted.Count > 0)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                DistinctAgentsSql,
                new
                {
                    accounts = granted.Select(e => e.Pool.AccountId).ToArray(),
                    products = granted.Select(e => e.Pool.Product).ToArray(),
                    days = granted.Select(e => DateOnly.FromDateTime(e.At.UtcDateTime)).ToArray(),
                    agents = granted.Select(e => e.AgentId).ToArray(),
                },
                transaction,
                cancellationToken: cancellationToken));
        }

        var waits = fresh
            .Where(e => e.Kind == SeatEventKind.Queued || SeatEventKinds.WaitsEndedWithoutSeat.Contains(e.Kind))
            .GroupBy(e => (e.Pool, Day: DateOnly.FromDateTime(e.At.UtcDateTime)))
            .Select(g => (g.Key.Pool, g.Key.Day, Joins: g.Count(e => e.Kind == SeatEventKind.Queued), Abandoned: g.Count(e => e.Kind != SeatEventKind.Queued)))
            .OrderBy(u => u.Pool.AccountId, StringComparer.Ordinal).ThenBy(u => u.Pool.Product, StringComparer.Ordinal).ThenBy(u => u.Day)
            .ToList();
        if (waits.Count > 0)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                WaitsSql,
                new
                {
                    accounts = waits.Select(w => w.Pool.AccountId).ToArray(),
                    products = waits.Select(w => w.Pool.Product).ToArray(),
                    days = waits.Select(w => w.Day).ToArray(),
                    joins = waits.Select(w => w.Joins).ToArray(),
                    abandoned = waits.Select(w => w.Abandoned).ToArray(),
                },
                transaction,
                cancellationToken: cancellationToken));
        }

        var usage = batch
            .Where(e => e.PeakToday is not null || e.RefusedToday is not null)
            .GroupBy(e => (e.Pool, Day: DateOnly.FromDateTime(e.At.UtcDateTime)))
            .Select(g => (g.Key.Pool, g.Key.Day, Peak: g.Max(e => e.PeakToday ?? 0), Refused: g.Max(e => e.RefusedToday ?? 0)))
            .OrderBy(u => u.Pool.AccountId, StringComparer.Ordinal).ThenBy(u => u.Pool.Product, StringComparer.Ordinal).ThenBy(u => u.Day)
            .ToList();
        if (usage.Count > 0)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                UsageSql,
                new
                {
                    accounts = usage.Select(u => u.Pool.AccountId).ToArray(),
                    products = usage.Select(u => u.Pool.Product).ToArray(),
                    days = usage.Select(u => u.Day).ToArray(),
                    peaks = usage.Select(u => u.Peak).ToArray(),
                    refused = usage.Select(u => u.Refused).ToArray(),
                },
                transaction,
                cancellationToken: cancellationToken));
        }

        await transaction.CommitAsync(cancellationToken);
        return fresh.Count;
    }

    private static async Task<IReadOnlyList<SeatEvent>> WithoutErasedAgentsAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<SeatEvent> batch, CancellationToken cancellationToken)
    {
        // Each agent of the batch hashed once; the erased ones come back keyed by that hash.
        var hashes = batch.Select(e => (e.Pool.AccountId, e.AgentId)).Distinct()
            .ToDictionary(agent => agent, agent => PostgresCatalogStore.AgentHash(agent.AgentId));
        await connection.ExecuteAsync(new CommandDefinition(
            ErasureLockSql, new { accounts = hashes.Keys.Select(k => k.AccountId).Distinct().ToArray() }, transaction, cancellationToken: cancellationToken));
        var erased = (await connection.QueryAsync<ErasedRow>(new CommandDefinition(
            ErasedSql,
            new { accounts = hashes.Keys.Select(k => k.AccountId).ToArray(), hashes = hashes.Values.ToArray() },
            transaction,
            cancellationToken: cancellationToken))).ToDictionary(r => (r.AccountId, r.AgentHash), r => r.ErasedId);
        if (erased.Count == 0)
        {
            return batch;
        }

        return batch.Select(e => erased.TryGetValue((e.Pool.AccountId, hashes[(e.Pool.AccountId, e.AgentId)]), out var id)
            ? e with { AgentId = id, Actor = e.Actor == e.AgentId ? id : e.Actor }
            : e).ToList();
    }

    private sealed class ErasedRow
    {
        public string AccountId { get; set; } = "";

        public string AgentHash { get; set; } = "";

        public string ErasedId { get; set; } = "";
    }

    public static string ActionOf(SeatEventKind kind) => SeatEventKinds.Of(kind).AuditAction;
}
