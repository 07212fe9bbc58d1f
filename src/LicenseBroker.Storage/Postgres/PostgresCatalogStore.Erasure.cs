using System.Security.Cryptography;
using System.Text;
using Dapper;
using LicenseBroker.Domain.Administration;

namespace LicenseBroker.Storage.Postgres;

/// <summary>Erasure of a person (migration 0018).</summary>
public sealed partial class PostgresCatalogStore
{
    public async Task<ErasedAgent?> EraseAgentAsync(Actor actor, string accountId, string agentId, CancellationToken cancellationToken)
    {
        const string agentSql = "SELECT email AS Email, display_name AS DisplayName FROM agents WHERE account_id = @accountId AND id = @agentId FOR UPDATE";
        const string removeSql = "DELETE FROM agents WHERE account_id = @accountId AND id = @agentId"; // none left: a no-op
        const string mapSql = "INSERT INTO erased_agents (account_id, agent_hash, erased_id) VALUES (@accountId, @agentHash, @erasedId) ON CONFLICT DO NOTHING";

        // Every row of the account naming the person, as who did it, whom it concerns, or inside before/after
        // (lb_erased, migration 0018). Bounded by the account's own rows; other tenants' rows are never read.
        const string rewriteSql = """
            UPDATE audit_events SET
                subject = CASE WHEN subject = @agentId THEN @erasedId ELSE subject END,
                actor = CASE WHEN actor = @agentId THEN @erasedId ELSE actor END,
                before = lb_erased(before, @names, @erasedId),
                after = lb_erased(after, @names, @erasedId)
            WHERE account_id = @accountId
              AND (subject = @agentId OR actor = @agentId
                   OR lb_erased(before, @names, @erasedId) IS DISTINCT FROM before
                   OR lb_erased(after, @names, @erasedId) IS DISTINCT FROM after);
            """;
        const string rollupSql = """
            UPDATE usage_daily_agents SET agent_id = @erasedId WHERE account_id = @accountId AND agent_id = @agentId;
            DELETE FROM audit_names WHERE account_id = @accountId AND (id = @agentId OR name = ANY(@names));
            DELETE FROM admin_preferences WHERE account_id = @accountId AND person_id = @agentId;
            UPDATE webhook_outbox o SET payload = lb_erased(o.payload, @names, @erasedId)
            FROM webhook_endpoints w
            WHERE w.id = o.endpoint_id AND w.account_id = @accountId AND lb_erased(o.payload, @names, @erasedId) IS DISTINCT FROM o.payload;
            """;

        // Every name, e-mail and identifier the person was ever recorded under (a rename, a new address, what an
        // identity provider sent), from the agent's own agent.* rows: a person removed earlier (RemoveAgent, SCIM
        // DELETE) can still be erased, and an old name goes with the current one. Only these keys are taken (never
        // a role, a seat type or another person's id).
        const string recordedSql = """
            WITH RECURSIVE docs(doc) AS (
                SELECT d FROM audit_events, LATERAL (VALUES (before), (after)) AS v(d)
                WHERE account_id = @accountId AND subject = @agentId AND action LIKE 'agent.%' AND d IS NOT NULL
            ),
            walk(k, v) AS (
                SELECT NULL::text, doc FROM docs
                UNION ALL
                SELECT c.k, c.v FROM walk, LATERAL (
                    SELECT e.key, e.value FROM jsonb_each(CASE WHEN jsonb_typeof(walk.v) = 'object' THEN walk.v ELSE '{}'::jsonb END) AS e
                    UNION ALL
                    SELECT walk.k, a.value FROM jsonb_array_elements(CASE WHEN jsonb_typeof(walk.v) = 'array' THEN walk.v ELSE '[]'::jsonb END) AS a
                ) AS c(k, v)
            )
            SELECT DISTINCT v #>> '{}' FROM walk
            WHERE jsonb_typeof(v) = 'string'
              AND lower(replace(k, '_', '')) IN ('email', 'displayname', 'username', 'givenname', 'familyname', 'externalid', 'employeenumber')
            UNION
            SELECT DISTINCT x #>> '{}' FROM docs, jsonb_path_query(doc, 'lax $.Emails[*].Value') AS x WHERE jsonb_typeof(x) = 'string'
            """;
        const string anyRowSql = "SELECT EXISTS (SELECT 1 FROM audit_events WHERE account_id = @accountId AND subject = @agentId AND action LIKE 'agent.%')";

        return await InTransactionAsync<ErasedAgent?>(async (connection, transaction) =>
        {
            // Seat events being stored for the account finish first, or wait for this erasure (PostgresSeatEventWriter).
            await connection.ExecuteAsync(new CommandDefinition(
                "SELECT pg_advisory_xact_lock(hashtext('lb_erasure:' || @accountId))", new { accountId }, transaction, cancellationToken: cancellationToken));
            var contact = await connection.QuerySingleOrDefaultAsync<ErasedContact>(
                new CommandDefinition(agentSql, new { accountId, agentId }, transaction, cancellationToken: cancellationToken));
            if (contact is null && !await connection.ExecuteScalarAsync<bool>(new CommandDefinition(anyRowSql, new { accountId, agentId }, transaction, cancellationToken: cancellationToken)))
            {
                return null; // never an agent of this account
            }

            var recorded = await connection.QueryAsync<string>(new CommandDefinition(recordedSql, new { accountId, agentId }, transaction, cancellationToken: cancellationToken));
            var names = new[] { agentId, contact?.DisplayName, contact?.Email }.Concat(recorded)
                .Where(n => !string.IsNullOrEmpty(n)).Select(n => n!).Distinct(StringComparer.Ordinal).ToArray();
            var erasedId = "erased-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
            var parameters = new { accountId, agentId, erasedId, names, agentHash = AgentHash(agentId) };
            await connection.ExecuteAsync(new CommandDefinition(removeSql, parameters, transaction, cancellationToken: cancellationToken));
            await connection.ExecuteAsync(new CommandDefinition(mapSql, parameters, transaction, cancellationToken: cancellationToken));
            await connection.ExecuteAsync(new CommandDefinition("SELECT set_config('lb.erasing', 'on', true)", transaction: transaction, cancellationToken: cancellationToken));
            var rewritten = await connection.ExecuteAsync(new CommandDefinition(rewriteSql, parameters, transaction, commandTimeout: 0, cancellationToken: cancellationToken));
            await connection.ExecuteAsync(new CommandDefinition(rollupSql, parameters, transaction, cancellationToken: cancellationToken));
            await AuditAsync(connection, transaction, accountId, null, actor, "agent.erased", erasedId, null, null, cancellationToken);
            return new ErasedAgent(erasedId, rewritten);
        }, cancellationToken);
    }

    /// <summary>The key of an erased agent in erased_agents: hex SHA-256 of the id (the id itself is not kept).</summary>
    public static string AgentHash(string agentId) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(agentId)));

    private sealed class ErasedContact
    {
        public string Email { get; set; } = "";

        public string DisplayName { get; set; } = "";
    }
}
