using Dapper;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Domain.Webhooks;
using Npgsql;

namespace LicenseBroker.Storage.Postgres;

/// <summary>
/// Writes webhook messages into the outbox, in the caller's transaction: the one that writes the
/// audit rows the messages come from, so a message exists exactly when its audit row does (a
/// broker restart between the two cannot lose one). One row per subscribed endpoint; the payload is
/// the Standard Webhooks shape {type, timestamp, data}. No endpoint subscribed: nothing is written.
/// </summary>
internal static class WebhookOutbox
{
    // Candidate messages (one per event and type it may raise) joined with the account's endpoints
    // that subscribe to the type; pool.full and pool.threshold only when the grant crossed the line.
    // Ordered by the candidates' order, so the outbox ids (delivery order) follow the events.
    // An endpoint with nothing waiting becomes due now; one with a backlog keeps its schedule (its oldest
    // message goes first). The rows are always locked (in id order: concurrent batches cannot deadlock),
    // so a dispatcher that decides "nothing waits" after a delivery (PostgresWebhookStore) waits for
    // this transaction and then sees its messages.
    // Dispatchers are woken at commit (OutboxSignal) when a message was written.
    private const string ScheduleSql = """
        , locked AS (
            SELECT id FROM webhook_endpoints WHERE id IN (SELECT endpoint_id FROM inserted) ORDER BY id FOR UPDATE),
        scheduled AS (
            UPDATE webhook_endpoints e SET next_attempt_at = coalesce(e.next_attempt_at, now())
            FROM locked WHERE e.id = locked.id
            RETURNING e.id)
        SELECT pg_notify('lb_webhook_outbox', '') FROM (SELECT 1 FROM scheduled LIMIT 1) AS any_scheduled
        """;

    private const string SeatEventsSql = """
        WITH inserted AS (
        INSERT INTO webhook_outbox (endpoint_id, message_id, event_type, payload, occurred_at, retention_days)
        SELECT e.id, 'msg_' || replace(gen_random_uuid()::text, '-', ''), c.type,
               jsonb_build_object(
                   'type', c.type,
                   'timestamp', to_char(c.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                   'data', jsonb_strip_nulls(jsonb_build_object(
                       'account_id', c.account, 'product', c.product, 'sequence', c.seq, 'agent_id', c.agent, 'lease_id', c.lease, 'actor', c.actor,
                       'seats_in_use', c.in_use, 'seat_limit', CASE WHEN c.in_use IS NULL THEN NULL ELSE s.concurrent_seat_limit END,
                       'threshold_percent', CASE WHEN c.type = 'pool.threshold' THEN e.threshold_percent END))),
               c.at, lb_event_retention_days(e.account_id)
        FROM unnest(@accounts, @products, @types, @agents, @leases, @actors, @ats, @inUse, @seqs) WITH ORDINALITY
             AS c(account, product, type, agent, lease, actor, at, in_use, seq, n)
        JOIN webhook_endpoints e ON e.account_id = c.account AND c.type = ANY(e.event_types) AND e.state <> 'DISABLED'
             AND NOT (c.type = 'seat.revoked' AND 'seat.force_released' = ANY(e.event_types))
        LEFT JOIN subscriptions s ON s.account_id = c.account AND s.product_code = c.product
        WHERE (c.type <> 'pool.full' OR c.in_use = s.concurrent_seat_limit)
          AND (c.type <> 'pool.threshold' OR (e.threshold_percent IS NOT NULL
               AND c.in_use * 100 >= e.threshold_percent * s.concurrent_seat_limit
               AND (c.in_use - 1) * 100 < e.threshold_percent * s.concurrent_seat_limit))
        ORDER BY c.n, e.id
        RETURNING endpoint_id)
        """ + ScheduleSql;

    private const string AgentSeatChangedSql = """
        WITH inserted AS (
        INSERT INTO webhook_outbox (endpoint_id, message_id, event_type, payload, occurred_at, retention_days)
        SELECT e.id, 'msg_' || replace(gen_random_uuid()::text, '-', ''), 'agent.seat_changed',
               jsonb_build_object(
                   'type', 'agent.seat_changed',
                   'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                   'data', jsonb_strip_nulls(jsonb_build_object(
                       'account_id', @accountId, 'product', @product, 'agent_id', @agentId, 'actor', @actor,
                       'change', @change, 'seat_type', @seatType))),
               now(), lb_event_retention_days(e.account_id)
        FROM webhook_endpoints e
        WHERE e.account_id = @accountId AND 'agent.seat_changed' = ANY(e.event_types) AND e.state <> 'DISABLED'
        ORDER BY e.id
        RETURNING endpoint_id)
        """ + ScheduleSql;

    /// <summary>The webhook type of a seat event; null for those no webhook reports.</summary>
    public static string? TypeOf(SeatEventKind kind) => SeatEventKinds.Of(kind).WebhookType;

    public static async Task AddSeatEventsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<SeatEvent> batch, CancellationToken cancellationToken)
    {
        var candidates = new List<(SeatEvent Event, string Type)>();
        foreach (var e in batch)
        {
            if (TypeOf(e.Kind) is not { } type)
            {
                continue;
            }

            candidates.Add((e, type));
            if (type == WebhookEventTypes.SeatForceReleased)
            {
                // The old name, for endpoints that subscribed to it and not to the new one (SeatEventsSql).
                candidates.Add((e, WebhookEventTypes.SeatRevokedAlias));
            }
            if (e.SeatsInUse is not null)
            {
                // A grant that took a shared seat: it may have filled the pool, or crossed an endpoint's threshold.
                candidates.Add((e, WebhookEventTypes.PoolFull));
                candidates.Add((e, WebhookEventTypes.PoolThreshold));
            }
        }

        if (candidates.Count == 0)
        {
            return;
        }

        await connection.ExecuteAsync(new CommandDefinition(
            SeatEventsSql,
            new
            {
                accounts = candidates.Select(c => c.Event.Pool.AccountId).ToArray(),
                products = candidates.Select(c => c.Event.Pool.Product).ToArray(),
                types = candidates.Select(c => c.Type).ToArray(),
                agents = candidates.Select(c => c.Event.AgentId).ToArray(),
                leases = candidates.Select(c => c.Event.LeaseId).ToArray(),
                actors = candidates.Select(c => c.Event.Actor).ToArray(),
                ats = candidates.Select(c => c.Event.At.UtcDateTime).ToArray(),
                inUse = candidates.Select(c => c.Event.SeatsInUse).ToArray(),
                seqs = candidates.Select(c => c.Event.Sequence).ToArray(),
            },
            transaction,
            cancellationToken: cancellationToken));
    }

    public static Task AddAgentSeatChangedAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string accountId, string? product, string agentId, string actor, string change, string? seatType, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(new CommandDefinition(
            AgentSeatChangedSql, new { accountId, product, agentId, actor, change, seatType }, transaction, cancellationToken: cancellationToken));
}
