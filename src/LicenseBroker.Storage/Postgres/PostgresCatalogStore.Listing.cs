using Dapper;
using LicenseBroker.Domain.Administration;
using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Storage.Postgres;

/// <summary>The read-only lists of the Admin Center: devices and the audit log.</summary>
public sealed partial class PostgresCatalogStore
{
    public async Task<DevicePage?> ListDevicesAsync(string accountId, string product, int pageSize, string? after, CancellationToken cancellationToken)
    {
        const string poolSql = """
            SELECT p.device_kind AS Kind, s.unattended_device_limit AS UnattendedLimit, s.monitored_device_limit AS MonitoredLimit,
                   (SELECT count(*) FROM devices d WHERE d.account_id = s.account_id AND d.product_code = s.product_code AND d.kind = p.device_kind)::int AS InUse
            FROM subscriptions s JOIN products p ON p.code = s.product_code
            WHERE s.account_id = @accountId AND s.product_code = @product
            """;

        // Keyset paging on the device id, like the agents list.
        const string pageSql = """
            SELECT id AS DeviceId, display_name AS DisplayName, platform AS Platform, registered_at AS RegisteredAt
            FROM devices
            WHERE account_id = @accountId AND product_code = @product AND kind = @kind AND (@after::text IS NULL OR id > @after)
            ORDER BY id
            LIMIT @limit
            """;
        // Validated at the edge (RequestValidation.Page); checked again where it becomes a LIMIT.
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(pageSize, 1000);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var pool = await connection.QuerySingleOrDefaultAsync<DevicePoolRow>(new CommandDefinition(poolSql, new { accountId, product }, cancellationToken: cancellationToken));
        if (pool is null)
        {
            return null;
        }

        if (pool.Kind is null)
        {
            return new DevicePage([], null, 0, 0);
        }

        var rows = (await connection.QueryAsync<DeviceListRow>(new CommandDefinition(
            pageSql, new { accountId, product, kind = pool.Kind, after, limit = pageSize + 1 }, cancellationToken: cancellationToken))).ToList();
        var page = rows.Take(pageSize)
            .Select(r => new DeviceRecord(r.DeviceId, r.DisplayName, Enum.Parse<Platform>(r.Platform), new DateTimeOffset(r.RegisteredAt, TimeSpan.Zero)))
            .ToList();
        return new DevicePage(page, rows.Count > pageSize ? page[^1].DeviceId : null, pool.InUse, pool.Kind == "UNATTENDED" ? pool.UnattendedLimit : pool.MonitoredLimit);
    }

    public async Task<AuditPage> ListAuditEventsAsync(string accountId, AuditQuery query, CancellationToken cancellationToken)
    {
        // Newest first by id (the index audit_events_by_account_id): a cursor on the id stays stable
        // while new rows are appended. The work is bounded by the page size and this account's own rows.
        // Names are looked up per row of the page (primary-key reads, at most 2 per row): the person who acted, and what
        // the action was about by its category (a team, a machine, a webhook address, a token, else a person). What is
        // gone is named as the event recorded it (the removed row in before), else left empty for the caller to say so.
        const string sql = """
            SELECT e.id AS Id, e.occurred_at AS OccurredAt, e.product_code AS Product, e.actor AS Actor, e.action AS Action, e.subject AS Subject,
                   e.before::text AS BeforeJson, e.after::text AS AfterJson,
                   coalesce((SELECT a.display_name FROM agents a WHERE a.account_id = e.account_id AND a.id = e.actor),
                            (SELECT n.name FROM audit_names n WHERE n.account_id = e.account_id AND n.id = e.actor)) AS ActorName,
                   coalesce(
                       CASE
                           WHEN e.action LIKE 'group.%' OR e.action IN ('provisioning.group.create', 'provisioning.group.change', 'provisioning.group.delete')
                               THEN (SELECT g.display_name FROM scim_groups g WHERE g.account_id = e.account_id AND g.id = e.subject)
                           WHEN e.action IN ('provisioning.group.map', 'provisioning.group.unmap') THEN e.subject
                           WHEN e.action LIKE 'device.%'
                               THEN (SELECT d.display_name FROM devices d WHERE d.account_id = e.account_id AND d.product_code = e.product_code AND d.id = e.subject)
                           WHEN e.action LIKE 'webhook.%' THEN (SELECT w.url FROM webhook_endpoints w WHERE w.account_id = e.account_id AND w.id = e.subject)
                           WHEN e.action LIKE 'provisioning.token.%' THEN (SELECT t.name FROM provisioning_tokens t WHERE t.account_id = e.account_id AND t.id = e.subject)
                           WHEN e.action = 'account.retention_set' THEN NULL
                           ELSE coalesce((SELECT a.display_name FROM agents a WHERE a.account_id = e.account_id AND a.id = e.subject),
                                         (SELECT n.name FROM audit_names n WHERE n.account_id = e.account_id AND n.id = e.subject))
                       END,
                       e.before->>'DisplayName', e.before->>'display_name', e.before->>'displayName',
                       e.after->>'DisplayName', e.after->>'display_name', e.after->>'displayName', e.after->>'url', e.after->>'name') AS SubjectName
            FROM audit_events e
            WHERE e.account_id = @accountId
              AND e.occurred_at >= now() - make_interval(days => lb_event_retention_days(@accountId))
              AND (@before::bigint IS NULL OR e.id < @before)
              AND (@product::text IS NULL OR e.product_code = @product)
              AND (@from::timestamptz IS NULL OR e.occurred_at >= @from)
              AND (@to::timestamptz IS NULL OR e.occurred_at < @to)
              AND (@agentId::text IS NULL OR e.subject = @agentId OR e.actor = @agentId)
              AND (cardinality(@actions::text[]) + cardinality(@categories::text[]) = 0
                   OR e.action = ANY(@actions::text[]) OR split_part(e.action, '.', 1) = ANY(@categories::text[]))
            ORDER BY e.id DESC
            LIMIT @limit
            """;
        ArgumentOutOfRangeException.ThrowIfLessThan(query.PageSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(query.PageSize, 1000);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var rows = (await connection.QueryAsync<AuditRow>(new CommandDefinition(
            sql,
            new
            {
                accountId,
                before = query.Before,
                product = query.Product,
                from = query.From?.UtcDateTime,
                to = query.To?.UtcDateTime,
                agentId = query.AgentId,
                actions = query.Actions.ToArray(),
                categories = query.Categories.ToArray(),
                limit = query.PageSize + 1,
            },
            cancellationToken: cancellationToken))).ToList();
        var page = rows.Take(query.PageSize)
            .Select(r => new AuditEntry(r.Id, new DateTimeOffset(r.OccurredAt, TimeSpan.Zero), r.Product, r.Actor, r.Action, r.Subject, r.BeforeJson, r.AfterJson, r.ActorName, r.SubjectName))
            .ToList();
        return new AuditPage(page, rows.Count > query.PageSize ? page[^1].Id : null);
    }

    /// <summary>An ILIKE pattern matching values that contain <paramref name="text"/> literally ('' matches nothing: the caller skips it).</summary>
    private static string ContainsPattern(string? text) =>
        string.IsNullOrEmpty(text) ? string.Empty : "%" + text.Replace(@"\", @"\\").Replace("%", @"\%").Replace("_", @"\_") + "%";

    private sealed record DevicePoolRow(string? Kind, int UnattendedLimit, int? MonitoredLimit, int InUse);

    private sealed record DeviceListRow(string DeviceId, string DisplayName, string Platform, DateTime RegisteredAt);

    private sealed record AuditRow(
        long Id, DateTime OccurredAt, string? Product, string Actor, string Action, string? Subject, string? BeforeJson, string? AfterJson, string? ActorName, string? SubjectName);
}
