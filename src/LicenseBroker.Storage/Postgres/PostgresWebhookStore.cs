using Dapper;
using LicenseBroker.Domain.Administration;
using LicenseBroker.Domain.Webhooks;
using LicenseBroker.Storage.Resilience;
using Npgsql;

namespace LicenseBroker.Storage.Postgres;

/// <summary>Webhook endpoints, the outbox's delivery side and the delivery log, in PostgreSQL.</summary>
/// <remarks>Writes are not retried (a retried write could apply twice); the dispatcher retries its own loop.</remarks>
public sealed class PostgresWebhookStore : IWebhookStore
{
    private const string EndpointColumns = """
        e.id AS EndpointId, e.url AS Url, e.event_types AS EventTypes, e.threshold_percent AS ThresholdPercent, e.state AS State, e.created_at AS CreatedAt,
        (SELECT count(*) FROM webhook_outbox o WHERE o.endpoint_id = e.id AND o.delivered_at IS NULL)::int AS Pending
        """;

    private readonly NpgsqlDataSource _dataSource;
    private readonly BackendPipelines _pipelines;

    public PostgresWebhookStore(NpgsqlDataSource dataSource, BackendPipelines pipelines)
    {
        _dataSource = dataSource;
        _pipelines = pipelines;
    }

    public async Task<WebhookEndpoint?> CreateAsync(Actor actor, string accountId, string endpointId, WebhookEndpointSettings settings, string secret, CancellationToken cancellationToken) =>
        await InTransactionAsync(async (connection, transaction) =>
        {
            await PostgresCatalogStore.EnsureAccountAsync(connection, transaction, accountId, cancellationToken);

            // The account row serializes endpoint creation of one account, so the count cannot be raced past.
            await connection.ExecuteAsync(new CommandDefinition("SELECT 1 FROM accounts WHERE id = @accountId FOR UPDATE", new { accountId }, transaction, cancellationToken: cancellationToken));
            var count = await connection.QuerySingleAsync<int>(new CommandDefinition(
                "SELECT count(*)::int FROM webhook_endpoints WHERE account_id = @accountId", new { accountId }, transaction, cancellationToken: cancellationToken));
            if (count >= IWebhookStore.MaxEndpointsPerAccount)
            {
                return null;
            }

            await connection.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO webhook_endpoints (id, account_id, url, event_types, threshold_percent, secret, created_by)
                VALUES (@endpointId, @accountId, @url, @types, @threshold, @secret, @actor)
                """,
                new { endpointId, accountId, url = settings.Url, types = settings.EventTypes.ToArray(), threshold = settings.ThresholdPercent, secret, actor = actor.Id },
                transaction,
                cancellationToken: cancellationToken));
            await PostgresCatalogStore.AuditAsync(connection, transaction, accountId, null, actor, "webhook.create", endpointId, null,
                new { url = settings.Url, event_types = settings.EventTypes, threshold_percent = settings.ThresholdPercent }, cancellationToken);
            return await GetAsync(connection, transaction, accountId, endpointId, cancellationToken);
        }, cancellationToken);

    public async Task<WebhookEndpoint?> UpdateAsync(
        Actor actor, string accountId, string endpointId, WebhookEndpointSettings settings, WebhookEndpointState? state, CancellationToken cancellationToken) =>
        await InTransactionAsync(async (connection, transaction) =>
        {
            var before = await GetAsync(connection, transaction, accountId, endpointId, cancellationToken); // the log's "before"
            var updated = await connection.ExecuteAsync(new CommandDefinition(
                """
                UPDATE webhook_endpoints SET url = @url, event_types = @types, threshold_percent = @threshold,
                       state = coalesce(@state, state), updated_at = now()
                WHERE account_id = @accountId AND id = @endpointId
                """,
                new { accountId, endpointId, url = settings.Url, types = settings.EventTypes.ToArray(), threshold = settings.ThresholdPercent, state = state is null ? null : StateCode(state.Value) },
                transaction,
                cancellationToken: cancellationToken));
            if (updated == 0)
            {
                return null;
            }

            if (state == WebhookEndpointState.Active)
            {
                // Enabled again (after failing): what waits is tried now, in order, with a fresh retry period.
                await connection.ExecuteAsync(new CommandDefinition(
                    """
                    UPDATE webhook_outbox SET attempts = 0, next_attempt_at = now(), occurred_at = now() WHERE endpoint_id = @endpointId AND delivered_at IS NULL;
                    UPDATE webhook_endpoints SET claimed_until = NULL,
                           next_attempt_at = CASE WHEN EXISTS (SELECT 1 FROM webhook_outbox WHERE endpoint_id = @endpointId AND delivered_at IS NULL) THEN now() END
                    WHERE id = @endpointId;
                    """,
                    new { endpointId }, transaction, cancellationToken: cancellationToken));
            }

            await PostgresCatalogStore.AuditAsync(connection, transaction, accountId, null, actor, "webhook.update", endpointId,
                before is null ? null : new { url = before.Url, event_types = before.EventTypes, threshold_percent = before.ThresholdPercent, state = before.State.ToString() },
                new { url = settings.Url, event_types = settings.EventTypes, threshold_percent = settings.ThresholdPercent, state = (state ?? before?.State)?.ToString() }, cancellationToken);
            return await GetAsync(connection, transaction, accountId, endpointId, cancellationToken);
        }, cancellationToken);

    public async Task<bool> DeleteAsync(Actor actor, string accountId, string endpointId, CancellationToken cancellationToken) =>
        await InTransactionAsync(async (connection, transaction) =>
        {
            // Its outbox and log go with it (ON DELETE CASCADE).
            var deleted = await connection.ExecuteAsync(new CommandDefinition(
                "DELETE FROM webhook_endpoints WHERE account_id = @accountId AND id = @endpointId", new { accountId, endpointId }, transaction, cancellationToken: cancellationToken)) == 1;
            if (deleted)
            {
                await PostgresCatalogStore.AuditAsync(connection, transaction, accountId, null, actor, "webhook.delete", endpointId, null, null, cancellationToken);
            }

            return deleted;
        }, cancellationToken);

    public async Task<IReadOnlyList<WebhookEndpoint>> ListAsync(string accountId, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<EndpointRow>(new CommandDefinition(
            $"SELECT {EndpointColumns} FROM webhook_endpoints e WHERE e.account_id = @accountId ORDER BY e.created_at, e.id",
            new { accountId },
            cancellationToken: cancellationToken))).Select(r => r.ToEndpoint()).ToList();
    }

    public async Task<bool> RotateSecretAsync(Actor actor, string accountId, string endpointId, string secret, DateTimeOffset previousValidUntil, CancellationToken cancellationToken) =>
        await InTransactionAsync(async (connection, transaction) =>
        {
            var rotated = await connection.ExecuteAsync(new CommandDefinition(
                """
                UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = @until, secret = @secret, updated_at = now()
                WHERE account_id = @accountId AND id = @endpointId
                """,
                new { accountId, endpointId, secret, until = previousValidUntil.UtcDateTime },
                transaction,
                cancellationToken: cancellationToken)) == 1;
            if (rotated)
            {
                await PostgresCatalogStore.AuditAsync(connection, transaction, accountId, null, actor, "webhook.rotate_secret", endpointId, null,
                    new { previous_valid_until = previousValidUntil }, cancellationToken);
            }

            return rotated;
        }, cancellationToken);

    public async Task<IReadOnlyList<WebhookDeliveryAttempt>?> ListDeliveriesAsync(string accountId, string endpointId, int pageSize, long? before, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        if (!await connection.QuerySingleOrDefaultAsync<bool>(new CommandDefinition(
                "SELECT true FROM webhook_endpoints WHERE account_id = @accountId AND id = @endpointId", new { accountId, endpointId }, cancellationToken: cancellationToken)))
        {
            return null;
        }

        return (await connection.QueryAsync<DeliveryRow>(new CommandDefinition(
            """
            SELECT id AS Id, message_id AS MessageId, event_type AS EventType, attempt AS Attempt, attempted_at AS AttemptedAt,
                   status_code AS StatusCode, error AS Error, duration_ms AS DurationMs
            FROM webhook_deliveries WHERE endpoint_id = @endpointId AND (@before::bigint IS NULL OR id < @before)
              AND attempted_at >= now() - make_interval(days => lb_event_retention_days(@accountId))
            ORDER BY id DESC LIMIT @pageSize
            """,
            new { accountId, endpointId, before, pageSize = Math.Clamp(pageSize, 1, 1000) },
            cancellationToken: cancellationToken))).Select(r => r.ToAttempt()).ToList();
    }

    public async Task<IReadOnlyList<WebhookMessage>> ClaimDueAsync(int max, int perEndpoint, TimeSpan claimFor, CancellationToken cancellationToken)
    {
        // The endpoints that are due (an index on next_attempt_at: only those, whatever other tenants'
        // backlogs), claimed with SKIP LOCKED so replicas take different ones; then each one's oldest
        // undelivered messages (its order). An endpoint stays claimed until its claim's last attempt is recorded.
        const string claimSql = """
            WITH due AS (
                SELECT id FROM webhook_endpoints
                WHERE state = 'ACTIVE' AND next_attempt_at <= now() AND (claimed_until IS NULL OR claimed_until < now())
                ORDER BY next_attempt_at
                LIMIT @max
                FOR UPDATE SKIP LOCKED
            ), claimed AS (
                UPDATE webhook_endpoints e SET claimed_until = now() + @claimFor
                FROM due WHERE e.id = due.id
                RETURNING e.id, e.url, e.secret, CASE WHEN e.previous_secret_until > now() THEN e.previous_secret END AS previous_secret
            )
            SELECT o.id AS OutboxId, c.id AS EndpointId, c.url AS Url, c.secret AS Secret, c.previous_secret AS PreviousSecret,
                   o.message_id AS MessageId, o.event_type AS EventType, o.payload::text AS Payload, o.occurred_at AS OccurredAt, o.attempts AS Attempts, o.created_at AS QueuedAt
            FROM claimed c
            JOIN LATERAL (
                SELECT * FROM webhook_outbox p WHERE p.endpoint_id = c.id AND p.delivered_at IS NULL ORDER BY p.id LIMIT @perEndpoint
            ) o ON true
            """;
        return await _pipelines.Postgres.ExecuteAsync(
            async ct =>
            {
                await using var connection = await _dataSource.OpenConnectionAsync(ct);
                return (IReadOnlyList<WebhookMessage>)(await connection.QueryAsync<ClaimRow>(new CommandDefinition(claimSql, new { max, perEndpoint, claimFor }, cancellationToken: ct)))
                    .OrderBy(r => r.OutboxId)
                    .Select(r => r.ToMessage())
                    .ToList();
            },
            cancellationToken);
    }

    public async Task RecordAttemptAsync(
        WebhookMessage message, int? statusCode, string? error, TimeSpan duration, bool delivered, DateTimeOffset? retryAt, CancellationToken cancellationToken, TimeSpan? keepClaimFor = null)
    {
        const string logSql = """
            INSERT INTO webhook_deliveries (endpoint_id, message_id, event_type, attempt, status_code, error, duration_ms, retention_days)
            SELECT @EndpointId, @MessageId, @EventType, @attempt, @statusCode, @error, @durationMs, lb_event_retention_days(e.account_id)
            FROM webhook_endpoints e WHERE e.id = @EndpointId
            """;
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            logSql,
            new { message.EndpointId, message.MessageId, message.EventType, attempt = message.Attempts + 1, statusCode, error, durationMs = (int)duration.TotalMilliseconds },
            transaction,
            cancellationToken: cancellationToken));
        if (delivered && keepClaimFor is { } claimFor)
        {
            // The endpoint stays claimed, a little longer: the claim's next message follows at once, from this
            // dispatcher. Renewed per message, so a dispatcher that dies leaves a claim that soon expires.
            await connection.ExecuteAsync(new CommandDefinition(
                """
                UPDATE webhook_outbox SET delivered_at = now(), attempts = attempts + 1 WHERE id = @OutboxId AND created_at = @QueuedAt;
                UPDATE webhook_endpoints SET claimed_until = now() + @claimFor WHERE id = @EndpointId;
                """,
                new { message.OutboxId, message.QueuedAt, message.EndpointId, claimFor }, transaction, cancellationToken: cancellationToken));
        }
        else if (delivered)
        {
            // The next message of the endpoint is due now (it waited behind this one); none: the endpoint
            // rests. The row lock first: an outbox write in flight for this endpoint finishes before the
            // next statement (a fresh snapshot) looks for waiting messages (see WebhookOutbox).
            await connection.ExecuteAsync(new CommandDefinition(
                """
                UPDATE webhook_outbox SET delivered_at = now(), attempts = attempts + 1 WHERE id = @OutboxId AND created_at = @QueuedAt;
                SELECT 1 FROM webhook_endpoints WHERE id = @EndpointId FOR UPDATE;
                UPDATE webhook_endpoints SET claimed_until = NULL,
                       next_attempt_at = CASE WHEN EXISTS (SELECT 1 FROM webhook_outbox WHERE endpoint_id = @EndpointId AND delivered_at IS NULL) THEN now() END
                WHERE id = @EndpointId;
                """,
                new { message.OutboxId, message.QueuedAt, message.EndpointId }, transaction, cancellationToken: cancellationToken));
        }
        else
        {
            // Failing for the whole retry period (no retry time): the endpoint pauses until an admin enables it again.
            await connection.ExecuteAsync(new CommandDefinition(
                """
                UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = coalesce(@retryAt, now()) WHERE id = @OutboxId AND created_at = @QueuedAt;
                UPDATE webhook_endpoints SET claimed_until = NULL, next_attempt_at = coalesce(@retryAt, now()),
                       state = CASE WHEN @retryAt::timestamptz IS NULL AND state = 'ACTIVE' THEN 'FAILING' ELSE state END, updated_at = now()
                WHERE id = @EndpointId;
                """,
                new { message.OutboxId, message.QueuedAt, message.EndpointId, retryAt = retryAt?.UtcDateTime }, transaction, cancellationToken: cancellationToken));
        }

        await transaction.CommitAsync(cancellationToken);
    }

    private static async Task<WebhookEndpoint?> GetAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string accountId, string endpointId, CancellationToken cancellationToken) =>
        (await connection.QuerySingleOrDefaultAsync<EndpointRow>(new CommandDefinition(
            $"SELECT {EndpointColumns} FROM webhook_endpoints e WHERE e.account_id = @accountId AND e.id = @endpointId",
            new { accountId, endpointId },
            transaction,
            cancellationToken: cancellationToken)))?.ToEndpoint();

    private static string StateCode(WebhookEndpointState state) => state switch
    {
        WebhookEndpointState.Active => "ACTIVE",
        WebhookEndpointState.Failing => "FAILING",
        _ => "DISABLED",
    };

    private Task<T> InTransactionAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken cancellationToken) =>
        PostgresTransaction.RunAsync(_dataSource, _pipelines.PostgresWrites, work, static _ => false, cancellationToken);

    // Settable properties: Npgsql reports text[] as System.Array, which Dapper assigns to a property but cannot match to a constructor.
    private sealed class EndpointRow
    {
        public string EndpointId { get; init; } = string.Empty;

        public string Url { get; init; } = string.Empty;

        public string[] EventTypes { get; init; } = [];

        public int? ThresholdPercent { get; init; }

        public string State { get; init; } = string.Empty;

        public DateTime CreatedAt { get; init; }

        public int Pending { get; init; }

        public WebhookEndpoint ToEndpoint() => new(
            EndpointId,
            Url,
            EventTypes,
            ThresholdPercent,
            State switch { "ACTIVE" => WebhookEndpointState.Active, "FAILING" => WebhookEndpointState.Failing, _ => WebhookEndpointState.Disabled },
            new DateTimeOffset(DateTime.SpecifyKind(CreatedAt, DateTimeKind.Utc)),
            Pending);
    }

    private sealed record DeliveryRow(long Id, string MessageId, string EventType, int Attempt, DateTime AttemptedAt, int? StatusCode, string? Error, int DurationMs)
    {
        public WebhookDeliveryAttempt ToAttempt() => new(Id, MessageId, EventType, Attempt, new DateTimeOffset(DateTime.SpecifyKind(AttemptedAt, DateTimeKind.Utc)), StatusCode, Error, DurationMs);
    }

    private sealed record ClaimRow(
        long OutboxId, string EndpointId, string Url, string Secret, string? PreviousSecret, string MessageId, string EventType, string Payload, DateTime OccurredAt, int Attempts, DateTime QueuedAt)
    {
        public WebhookMessage ToMessage() => new(
            OutboxId, EndpointId, Url, PreviousSecret is null ? [Secret] : [Secret, PreviousSecret], MessageId, EventType, Payload,
            new DateTimeOffset(DateTime.SpecifyKind(OccurredAt, DateTimeKind.Utc)), Attempts, new DateTimeOffset(DateTime.SpecifyKind(QueuedAt, DateTimeKind.Utc)));
    }
}
