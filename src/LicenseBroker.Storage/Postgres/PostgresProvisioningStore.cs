using System.Text.Json;
using Dapper;
using LicenseBroker.Domain.Administration;
using LicenseBroker.Domain.Catalog;
using LicenseBroker.Domain.Provisioning;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Resilience;
using Npgsql;

namespace LicenseBroker.Storage.Postgres;

/// <summary>
/// SCIM users and groups, group-to-seat mappings, provisioning problems and tokens.
/// <para>
/// Every transaction that can move seats first locks the subscription rows of the account's
/// governed products (those with a group mapping), in product order, so provisioning and admin
/// changes of one pool queue on its row (as in <see cref="PostgresCatalogStore"/>) and never
/// deadlock. Then it changes users or groups and reconciles the seats of the agents concerned:
/// the strongest seat their groups give (named over concurrent) on each governed product; none for
/// a suspended agent. A named seat the limit refuses becomes a problem row, given (oldest first)
/// when a named seat frees. Each seat change is audited with the actor, like a console change.
/// </para>
/// </summary>
/// <remarks>Not wrapped in retries: these are writes, and a retried write could apply twice.</remarks>
public sealed class PostgresProvisioningStore : IProvisioningStore
{
    private const string UserColumns = """
        a.id AS Id, a.scim_id AS ScimId, a.user_name AS UserName, a.external_id AS ExternalId, a.given_name AS GivenName, a.family_name AS FamilyName,
        a.display_name AS DisplayName, a.email AS Email, a.scim_emails::text AS EmailsJson, a.scim_enterprise::text AS EnterpriseJson,
        a.active AS Active, a.created_at AS Created, a.updated_at AS LastModified
        """;

    private readonly NpgsqlDataSource _dataSource;
    private readonly BackendPipelines _pipelines;

    public PostgresProvisioningStore(NpgsqlDataSource dataSource, BackendPipelines pipelines)
    {
        _dataSource = dataSource;
        _pipelines = pipelines;
    }

    // ---- tokens -------------------------------------------------------------------------------

    public Task CreateTokenAsync(Actor actor, string accountId, string tokenId, string name, byte[] secretHash, CancellationToken cancellationToken) =>
        InTransactionAsync<bool>(async (connection, transaction) =>
        {
            await PostgresCatalogStore.EnsureAccountAsync(connection, transaction, accountId, cancellationToken);
            await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO provisioning_tokens (account_id, id, name, secret_hash, created_by) VALUES (@accountId, @tokenId, @name, @secretHash, @createdBy)",
                new { accountId, tokenId, name, secretHash, createdBy = actor.Id }, transaction, cancellationToken: cancellationToken));
            await AuditAsync(connection, transaction, accountId, null, actor, "provisioning.token.create", tokenId, null, new { name }, cancellationToken);
            return true;
        }, cancellationToken);

    public async Task<IReadOnlyList<ProvisioningTokenInfo>> ListTokensAsync(string accountId, CancellationToken cancellationToken)
    {
        const string sql = """
            SELECT id AS Id, name AS Name, created_by AS CreatedBy, created_at AS CreatedAt, last_used_at AS LastUsedAt, revoked_at AS RevokedAt
            FROM provisioning_tokens WHERE account_id = @accountId ORDER BY created_at, id
            """;
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<TokenRow>(new CommandDefinition(sql, new { accountId }, cancellationToken: cancellationToken)))
            .Select(r => new ProvisioningTokenInfo(r.Id, r.Name, r.CreatedBy, Utc(r.CreatedAt), Utc(r.LastUsedAt), Utc(r.RevokedAt))).ToList();
    }

    public Task<bool> RevokeTokenAsync(Actor actor, string accountId, string tokenId, CancellationToken cancellationToken) =>
        InTransactionAsync(async (connection, transaction) =>
        {
            var revoked = await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE provisioning_tokens SET revoked_at = now() WHERE account_id = @accountId AND id = @tokenId AND revoked_at IS NULL",
                new { accountId, tokenId }, transaction, cancellationToken: cancellationToken)) == 1;
            if (revoked)
            {
                await AuditAsync(connection, transaction, accountId, null, actor, "provisioning.token.revoke", tokenId, null, null, cancellationToken);
            }

            return revoked;
        }, cancellationToken);

    public async Task<ProvisioningTokenRecord?> FindTokenAsync(string tokenId, CancellationToken cancellationToken)
    {
        const string sql = """
            SELECT id AS Id, account_id AS AccountId, name AS Name, secret_hash AS SecretHash, last_used_at AS LastUsedAt, revoked_at AS RevokedAt
            FROM provisioning_tokens WHERE id = @tokenId
            """;
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<TokenSecretRow>(new CommandDefinition(sql, new { tokenId }, cancellationToken: cancellationToken));
        return row is null ? null : new ProvisioningTokenRecord(row.Id, row.AccountId, row.Name, row.SecretHash, Utc(row.LastUsedAt), Utc(row.RevokedAt));
    }

    public async Task TouchTokenAsync(string tokenId, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition("UPDATE provisioning_tokens SET last_used_at = now() WHERE id = @tokenId", new { tokenId }, cancellationToken: cancellationToken));
    }

    // ---- mappings and problems ----------------------------------------------------------------

    public Task<MappingOutcome> MapGroupAsync(Actor actor, string accountId, string groupName, string product, SeatType seatType, CancellationToken cancellationToken) =>
        InTransactionAsync<MappingOutcome>(async (connection, transaction) =>
        {
            var model = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                "SELECT seat_model FROM products WHERE code = @product", new { product }, transaction, cancellationToken: cancellationToken));
            if (model is null)
            {
                return new MappingOutcome.UnknownProduct();
            }

            if (SeatTypeCodes.ParseModel(model, "PostgreSQL") == SeatModel.Unlimited)
            {
                return new MappingOutcome.ProductHasNoSeats();
            }

            await PostgresCatalogStore.EnsureAccountAsync(connection, transaction, accountId, cancellationToken);

            // The product may become governed by this mapping: lock its pool as well, in order.
            await LockGovernedPoolsAsync(connection, transaction, accountId, product, cancellationToken);
            var seat = SeatTypeCodes.Code(seatType);
            await connection.ExecuteAsync(new CommandDefinition(
                """
                DELETE FROM scim_group_seats WHERE account_id = @accountId AND product_code = @product AND lower(group_name) = lower(@groupName);
                INSERT INTO scim_group_seats (account_id, group_name, product_code, seat_type) VALUES (@accountId, @groupName, @product, @seat);
                """,
                new { accountId, groupName, product, seat }, transaction, cancellationToken: cancellationToken));
            await AuditAsync(connection, transaction, accountId, product, actor, "provisioning.group.map", groupName, null, new { seat_type = seat }, cancellationToken);
            var changes = await ReconcileAsync(connection, transaction, actor, accountId, await MembersOfNamedGroupAsync(connection, transaction, accountId, groupName, cancellationToken), cancellationToken);
            return new MappingOutcome.Mapped(new GroupSeatMapping(groupName, product, seatType, DateTimeOffset.UtcNow), changes);
        }, cancellationToken);

    public Task<(bool Removed, SeatChanges Seats)> UnmapGroupAsync(Actor actor, string accountId, string groupName, string product, CancellationToken cancellationToken) =>
        InTransactionAsync(async (connection, transaction) =>
        {
            await LockGovernedPoolsAsync(connection, transaction, accountId, null, cancellationToken);
            var removed = await connection.ExecuteAsync(new CommandDefinition(
                "DELETE FROM scim_group_seats WHERE account_id = @accountId AND product_code = @product AND lower(group_name) = lower(@groupName)",
                new { accountId, groupName, product }, transaction, cancellationToken: cancellationToken)) > 0;
            if (!removed)
            {
                return (false, SeatChanges.None);
            }

            await AuditAsync(connection, transaction, accountId, product, actor, "provisioning.group.unmap", groupName, null, null, cancellationToken);

            // The product stays governed while another mapping names it: members of this group lose what only it gave.
            // When it was the last mapping, the product is no longer governed and seats stay as they are.
            var members = await MembersOfNamedGroupAsync(connection, transaction, accountId, groupName, cancellationToken);
            var changes = await ReconcileAsync(connection, transaction, actor, accountId, members, cancellationToken);
            await connection.ExecuteAsync(new CommandDefinition(
                "DELETE FROM provisioning_problems p WHERE account_id = @accountId AND product_code = @product AND NOT EXISTS (SELECT 1 FROM scim_group_seats m WHERE m.account_id = p.account_id AND m.product_code = p.product_code)",
                new { accountId, product }, transaction, cancellationToken: cancellationToken));
            return (true, changes);
        }, cancellationToken);

    public async Task<IReadOnlyList<GroupSeatMapping>> ListMappingsAsync(string accountId, CancellationToken cancellationToken)
    {
        const string sql = """
            SELECT group_name AS GroupName, product_code AS Product, seat_type AS SeatType, created_at AS CreatedAt
            FROM scim_group_seats WHERE account_id = @accountId ORDER BY product_code, lower(group_name)
            """;
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<MappingRow>(new CommandDefinition(sql, new { accountId }, cancellationToken: cancellationToken)))
            .Select(r => new GroupSeatMapping(r.GroupName, r.Product, SeatTypeCodes.Parse(r.SeatType, "PostgreSQL"), Utc(r.CreatedAt))).ToList();
    }

    public async Task<IReadOnlyList<ProvisioningProblem>> ListProblemsAsync(string accountId, CancellationToken cancellationToken)
    {
        const string sql = """
            SELECT p.agent_id AS AgentId, p.product_code AS Product, p.reason AS Reason, p.detail AS Detail, p.first_seen AS FirstSeen,
                   a.display_name AS DisplayName, a.email AS Email
            FROM provisioning_problems p LEFT JOIN agents a ON a.account_id = p.account_id AND a.id = p.agent_id
            WHERE p.account_id = @accountId ORDER BY p.first_seen, p.agent_id
            """;
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<ProblemRow>(new CommandDefinition(sql, new { accountId }, cancellationToken: cancellationToken)))
            .Select(r => new ProvisioningProblem(r.AgentId, r.Product, r.Reason, r.Detail, Utc(r.FirstSeen), r.DisplayName, r.Email)).ToList();
    }

    public Task<SeatChanges> ResolveProblemsAsync(Actor actor, string accountId, string product, CancellationToken cancellationToken) =>
        InTransactionAsync(async (connection, transaction) =>
        {
            await LockGovernedPoolsAsync(connection, transaction, accountId, null, cancellationToken);
            var changed = new List<(string, string)>();
            await ResolveProblemsInTransactionAsync(connection, transaction, actor, accountId, [product], changed, cancellationToken);
            return new SeatChanges(changed);
        }, cancellationToken);

    // ---- users --------------------------------------------------------------------------------

    public async Task<ScimPage<ScimUser>> ListUsersAsync(string accountId, ScimQuery query, int startIndex, int count, CancellationToken cancellationToken)
    {
        // SCIM pages by 1-based index; the filters are equalities on indexed columns.
        const string where = """
            WHERE a.account_id = @accountId
              AND (@userName IS NULL OR lower(coalesce(a.user_name, a.id)) = lower(@userName))
              AND (@externalId IS NULL OR a.external_id = @externalId)
              AND (@email IS NULL OR lower(a.email) = lower(@email))
              AND (@id IS NULL OR a.scim_id = @id)
              AND (@employeeNumber IS NULL OR a.scim_enterprise ->> 'employeeNumber' = @employeeNumber)
            """;
        var parameters = new { accountId, query.UserName, query.ExternalId, query.Email, query.Id, query.EmployeeNumber, offset = startIndex - 1, count };
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var total = await connection.QuerySingleAsync<int>(new CommandDefinition($"SELECT count(*)::int FROM agents a {where}", parameters, cancellationToken: cancellationToken));
        List<UserRow> rows = count == 0 ? [] : (await connection.QueryAsync<UserRow>(new CommandDefinition(
            $"SELECT {UserColumns} FROM agents a {where} ORDER BY a.created_at, a.id OFFSET @offset LIMIT @count", parameters, cancellationToken: cancellationToken))).ToList();
        var groups = await GroupsOfAsync(connection, null, accountId, rows.Select(r => r.Id).ToArray(), cancellationToken);
        return new ScimPage<ScimUser>(total, startIndex, rows.Select(r => r.ToUser(groups[r.Id].ToList())).ToList());
    }

    public async Task<ScimUser?> GetUserAsync(string accountId, string id, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        return await UserAsync(connection, null, accountId, id, cancellationToken);
    }

    private static object UserValues(string accountId, string agentId, ScimUserInput input) => new
    {
        accountId,
        id = agentId,
        email = input.EffectiveEmail,
        displayName = input.EffectiveDisplayName,
        input.UserName,
        input.ExternalId,
        input.GivenName,
        input.FamilyName,
        input.Active,
        emails = input.Emails.Count == 0 ? null : JsonSerializer.Serialize(input.Emails.Select(e => new EmailJson(e.Value, e.Type, e.Primary)), StoredJson),
        enterprise = input.Enterprise is not { IsEmpty: false } enterprise ? null : JsonSerializer.Serialize(enterprise, StoredJson),
    };

    public Task<ScimOutcome<ScimUser>> CreateUserAsync(Actor actor, string accountId, ScimUserInput input, CancellationToken cancellationToken) =>
        InTransactionAsync<ScimOutcome<ScimUser>>(async (connection, transaction) =>
        {
            await PostgresCatalogStore.EnsureAccountAsync(connection, transaction, accountId, cancellationToken);
            if (await TakenAsync(connection, transaction, accountId, null, input, cancellationToken) is { } taken)
            {
                return new ScimOutcome<ScimUser>.Conflict(taken);
            }

            // The agent id is the userName when it can be one (tokens' sub is usually the sign-in name), else generated.
            var id = System.Text.RegularExpressions.Regex.IsMatch(input.UserName, "^[A-Za-z0-9._:@-]{1,128}$")
                && !await ExistsAsync(connection, transaction, "SELECT true FROM agents WHERE account_id = @accountId AND id = @id", new { accountId, id = input.UserName }, cancellationToken)
                    ? input.UserName
                    : "u-" + Guid.NewGuid().ToString("N");
            // The SCIM id comes from the column's default: random, never an id another user had.
            var scimId = await connection.QuerySingleAsync<string>(new CommandDefinition(
                """
                INSERT INTO agents (account_id, id, email, display_name, user_name, external_id, given_name, family_name, active, scim_emails, scim_enterprise)
                VALUES (@accountId, @id, @email, @displayName, @UserName, @ExternalId, @GivenName, @FamilyName, @Active, @emails::jsonb, @enterprise::jsonb)
                RETURNING scim_id
                """,
                UserValues(accountId, id, input),
                transaction,
                cancellationToken: cancellationToken));
            await AuditAsync(connection, transaction, accountId, null, actor, "agent.upsert", id, null, input, cancellationToken);
            return new ScimOutcome<ScimUser>.Done((await UserAsync(connection, transaction, accountId, scimId, cancellationToken))!, SeatChanges.None);
        }, cancellationToken);

    public Task<ScimOutcome<ScimUser>> ReplaceUserAsync(Actor actor, string accountId, string id, ScimUserInput input, CancellationToken cancellationToken) =>
        InTransactionAsync<ScimOutcome<ScimUser>>(async (connection, transaction) =>
        {
            await LockGovernedPoolsAsync(connection, transaction, accountId, null, cancellationToken);
            var before = await connection.QuerySingleOrDefaultAsync<UserRow>(new CommandDefinition(
                $"SELECT {UserColumns} FROM agents a WHERE a.account_id = @accountId AND a.scim_id = @id FOR UPDATE", new { accountId, id }, transaction, cancellationToken: cancellationToken));
            if (before is null)
            {
                return new ScimOutcome<ScimUser>.NotFound();
            }

            var agentId = before.Id;
            if (await TakenAsync(connection, transaction, accountId, agentId, input, cancellationToken) is { } taken)
            {
                return new ScimOutcome<ScimUser>.Conflict(taken);
            }

            await connection.ExecuteAsync(new CommandDefinition(
                """
                UPDATE agents SET email = @email, display_name = @displayName, user_name = @UserName, external_id = @ExternalId,
                                  given_name = @GivenName, family_name = @FamilyName, active = @Active,
                                  scim_emails = @emails::jsonb, scim_enterprise = @enterprise::jsonb, updated_at = now()
                WHERE account_id = @accountId AND id = @id
                """,
                UserValues(accountId, agentId, input),
                transaction,
                cancellationToken: cancellationToken));
            await AuditAsync(connection, transaction, accountId, null, actor, input.Active == before.Active ? "agent.upsert" : input.Active ? "agent.activate" : "agent.suspend", agentId, before, input, cancellationToken);
            var changes = await ReconcileAsync(connection, transaction, actor, accountId, [agentId], cancellationToken);
            return new ScimOutcome<ScimUser>.Done((await UserAsync(connection, transaction, accountId, id, cancellationToken))!, changes);
        }, cancellationToken);

    public Task<ScimOutcome<bool>> DeleteUserAsync(Actor actor, string accountId, string id, CancellationToken cancellationToken) =>
        InTransactionAsync<ScimOutcome<bool>>(async (connection, transaction) =>
        {
            await LockGovernedPoolsAsync(connection, transaction, accountId, null, cancellationToken);
            var found = await connection.QuerySingleOrDefaultAsync<(string AgentId, string DisplayName)?>(new CommandDefinition(
                "SELECT id, display_name FROM agents WHERE account_id = @accountId AND scim_id = @id FOR UPDATE", new { accountId, id }, transaction, cancellationToken: cancellationToken));
            if (found is not { AgentId: var agentId, DisplayName: var displayName })
            {
                return new ScimOutcome<bool>.NotFound();
            }

            // The seats first: they go with the agent (ON DELETE CASCADE).
            var seats = (await connection.QueryAsync<(string Product, string SeatType)>(new CommandDefinition(
                "SELECT product_code, seat_type FROM seat_assignments WHERE account_id = @accountId AND agent_id = @agentId", new { accountId, agentId }, transaction, cancellationToken: cancellationToken))).ToList();
            await connection.ExecuteAsync(new CommandDefinition(
                "DELETE FROM agents WHERE account_id = @accountId AND id = @agentId", new { accountId, agentId }, transaction, cancellationToken: cancellationToken));
            await AuditAsync(connection, transaction, accountId, null, actor, "agent.remove", agentId, new { seats }, null, cancellationToken);
            await PostgresCatalogStore.RememberNameAsync(connection, transaction, accountId, agentId, displayName, cancellationToken);
            var changed = seats.Select(s => (agentId, s.Product)).ToList();
            await ResolveProblemsInTransactionAsync(connection, transaction, actor, accountId, seats.Where(s => s.SeatType == SeatTypeCodes.Named).Select(s => s.Product), changed, cancellationToken);
            return new ScimOutcome<bool>.Done(true, new SeatChanges(changed));
        }, cancellationToken);

    // ---- groups -------------------------------------------------------------------------------

    public async Task<ScimPage<ScimGroup>> ListGroupsAsync(string accountId, ScimQuery query, int startIndex, int count, CancellationToken cancellationToken)
    {
        const string where = """
            WHERE g.account_id = @accountId
              AND (@displayName IS NULL OR lower(g.display_name) = lower(@displayName))
              AND (@externalId IS NULL OR g.external_id = @externalId)
              AND (@id IS NULL OR g.id = @id)
            """;
        var parameters = new { accountId, query.DisplayName, query.ExternalId, query.Id, offset = startIndex - 1, count };
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var total = await connection.QuerySingleAsync<int>(new CommandDefinition($"SELECT count(*)::int FROM scim_groups g {where}", parameters, cancellationToken: cancellationToken));
        List<GroupRow> rows = count == 0 ? [] : (await connection.QueryAsync<GroupRow>(new CommandDefinition(
            $"SELECT g.id AS Id, g.display_name AS DisplayName, g.external_id AS ExternalId, g.created_at AS Created, g.updated_at AS LastModified FROM scim_groups g {where} ORDER BY g.created_at, g.id OFFSET @offset LIMIT @count",
            parameters, cancellationToken: cancellationToken))).ToList();
        var members = await MembersAsync(connection, null, accountId, rows.Select(r => r.Id).ToArray(), cancellationToken);
        return new ScimPage<ScimGroup>(total, startIndex, rows.Select(r => r.ToGroup(members[r.Id].ToList())).ToList());
    }

    public async Task<ScimGroup?> GetGroupAsync(string accountId, string id, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        return await GroupAsync(connection, null, accountId, id, cancellationToken);
    }

    public Task<ScimOutcome<ScimGroup>> CreateGroupAsync(Actor actor, string accountId, string displayName, string? externalId, IReadOnlyList<string> members, CancellationToken cancellationToken) =>
        InTransactionAsync<ScimOutcome<ScimGroup>>(async (connection, transaction) =>
        {
            await PostgresCatalogStore.EnsureAccountAsync(connection, transaction, accountId, cancellationToken);
            await LockGovernedPoolsAsync(connection, transaction, accountId, null, cancellationToken);
            if (await ExistsAsync(connection, transaction, "SELECT true FROM scim_groups WHERE account_id = @accountId AND lower(display_name) = lower(@displayName)", new { accountId, displayName }, cancellationToken))
            {
                return new ScimOutcome<ScimGroup>.Conflict("displayName");
            }

            var (agents, unknown) = await AgentsOfAsync(connection, transaction, accountId, members, cancellationToken);
            if (unknown is not null)
            {
                return new ScimOutcome<ScimGroup>.Invalid($"member {unknown} is not a user of this account");
            }

            var id = Guid.NewGuid().ToString("N");
            await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO scim_groups (account_id, id, display_name, external_id) VALUES (@accountId, @id, @displayName, @externalId)",
                new { accountId, id, displayName, externalId }, transaction, cancellationToken: cancellationToken));
            await AddMembersAsync(connection, transaction, accountId, id, agents, cancellationToken);
            await AuditAsync(connection, transaction, accountId, null, actor, "provisioning.group.create", id, null, new { displayName, members = agents }, cancellationToken);
            var changes = await ReconcileAsync(connection, transaction, actor, accountId, agents, cancellationToken);
            return new ScimOutcome<ScimGroup>.Done((await GroupAsync(connection, transaction, accountId, id, cancellationToken))!, changes);
        }, cancellationToken);

    public Task<ScimOutcome<ScimGroup>> ChangeGroupAsync(Actor actor, string accountId, string id, GroupChange change, CancellationToken cancellationToken) =>
        InTransactionAsync<ScimOutcome<ScimGroup>>(async (connection, transaction) =>
        {
            await LockGovernedPoolsAsync(connection, transaction, accountId, null, cancellationToken);
            var before = await GroupAsync(connection, transaction, accountId, id, cancellationToken, forUpdate: true);
            if (before is null)
            {
                return new ScimOutcome<ScimGroup>.NotFound();
            }

            var affected = new HashSet<string>(StringComparer.Ordinal);
            if (change.DisplayName is { } name && !string.Equals(name, before.DisplayName, StringComparison.Ordinal))
            {
                if (await ExistsAsync(connection, transaction, "SELECT true FROM scim_groups WHERE account_id = @accountId AND lower(display_name) = lower(@name) AND id <> @id", new { accountId, name, id }, cancellationToken))
                {
                    return new ScimOutcome<ScimGroup>.Conflict("displayName");
                }

                // A rename can move the group in or out of a mapping: every member is reconciled.
                affected.UnionWith((await AgentsOfAsync(connection, transaction, accountId, before.Members.Select(m => m.Id).ToList(), cancellationToken)).Agents);
                await connection.ExecuteAsync(new CommandDefinition(
                    "UPDATE scim_groups SET display_name = @name, updated_at = now() WHERE account_id = @accountId AND id = @id", new { accountId, id, name }, transaction, cancellationToken: cancellationToken));
            }

            if (change.ExternalId is not null || change.ClearExternalId)
            {
                await connection.ExecuteAsync(new CommandDefinition(
                    "UPDATE scim_groups SET external_id = @externalId, updated_at = now() WHERE account_id = @accountId AND id = @id",
                    new { accountId, id, externalId = change.ClearExternalId ? null : change.ExternalId }, transaction, cancellationToken: cancellationToken));
            }

            var toAdd = (change.AddMembers ?? []).ToList();
            var toRemove = (change.RemoveMembers ?? []).ToList();
            if (change.SetMembers is { } set)
            {
                toRemove.AddRange(before.Members.Select(m => m.Id).Except(set, StringComparer.Ordinal));
                toAdd.AddRange(set.Except(before.Members.Select(m => m.Id), StringComparer.Ordinal));
            }

            // Members are named by their SCIM ids: the agents they are. An unknown one to remove is already not a member.
            var (adding, unknown) = await AgentsOfAsync(connection, transaction, accountId, toAdd, cancellationToken);
            if (unknown is not null)
            {
                return new ScimOutcome<ScimGroup>.Invalid($"member {unknown} is not a user of this account");
            }

            toAdd = adding.ToList();
            toRemove = (await AgentsOfAsync(connection, transaction, accountId, toRemove, cancellationToken)).Agents.ToList();

            await AddMembersAsync(connection, transaction, accountId, id, toAdd, cancellationToken);
            if (toRemove.Count > 0)
            {
                await connection.ExecuteAsync(new CommandDefinition(
                    "DELETE FROM scim_group_members WHERE account_id = @accountId AND group_id = @id AND agent_id = ANY(@toRemove)",
                    new { accountId, id, toRemove = toRemove.ToArray() }, transaction, cancellationToken: cancellationToken));
            }

            if (toAdd.Count + toRemove.Count > 0)
            {
                await connection.ExecuteAsync(new CommandDefinition(
                    "UPDATE scim_groups SET updated_at = now() WHERE account_id = @accountId AND id = @id", new { accountId, id }, transaction, cancellationToken: cancellationToken));
            }

            affected.UnionWith(toAdd);
            affected.UnionWith(toRemove);
            await AuditAsync(connection, transaction, accountId, null, actor, "provisioning.group.change", id,
                new { before.DisplayName }, new { change.DisplayName, added = toAdd, removed = toRemove }, cancellationToken);
            var changes = await ReconcileAsync(connection, transaction, actor, accountId, affected.ToList(), cancellationToken);
            return new ScimOutcome<ScimGroup>.Done((await GroupAsync(connection, transaction, accountId, id, cancellationToken))!, changes);
        }, cancellationToken);

    public Task<ScimOutcome<bool>> DeleteGroupAsync(Actor actor, string accountId, string id, CancellationToken cancellationToken) =>
        InTransactionAsync<ScimOutcome<bool>>(async (connection, transaction) =>
        {
            await LockGovernedPoolsAsync(connection, transaction, accountId, null, cancellationToken);
            var members = (await connection.QueryAsync<string>(new CommandDefinition(
                "SELECT agent_id FROM scim_group_members WHERE account_id = @accountId AND group_id = @id", new { accountId, id }, transaction, cancellationToken: cancellationToken))).ToList();
            if (await connection.ExecuteAsync(new CommandDefinition(
                    "DELETE FROM scim_groups WHERE account_id = @accountId AND id = @id", new { accountId, id }, transaction, cancellationToken: cancellationToken)) == 0)
            {
                return new ScimOutcome<bool>.NotFound();
            }

            await AuditAsync(connection, transaction, accountId, null, actor, "provisioning.group.delete", id, new { members }, null, cancellationToken);
            return new ScimOutcome<bool>.Done(true, await ReconcileAsync(connection, transaction, actor, accountId, members, cancellationToken));
        }, cancellationToken);

    // ---- reconciliation -----------------------------------------------------------------------

    /// <summary>
    /// Brings the seats of <paramref name="agentIds"/> to what their groups give, on every governed
    /// product (pools already locked by the caller). Returns the (agent, product) pairs that changed.
    /// </summary>
    private static async Task<SeatChanges> ReconcileAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Actor actor, string accountId, IReadOnlyCollection<string> agentIds, CancellationToken cancellationToken)
    {
        const string wantedSql = """
            SELECT gm.agent_id AS AgentId, m.product_code AS Product,
                   bool_or(m.seat_type = 'NAMED') AS Named, bool_or(m.seat_type = 'CONCURRENT') AS Concurrent
            FROM scim_group_members gm
            JOIN scim_groups g ON g.account_id = gm.account_id AND g.id = gm.group_id
            JOIN scim_group_seats m ON m.account_id = g.account_id AND lower(m.group_name) = lower(g.display_name)
            WHERE gm.account_id = @accountId AND gm.agent_id = ANY(@agentIds)
            GROUP BY gm.agent_id, m.product_code
            """;
        var changed = new List<(string, string)>();
        if (agentIds.Count == 0)
        {
            return SeatChanges.None;
        }

        var ids = agentIds.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        var governed = (await connection.QueryAsync<string>(new CommandDefinition(
            "SELECT DISTINCT product_code FROM scim_group_seats WHERE account_id = @accountId ORDER BY product_code", new { accountId }, transaction, cancellationToken: cancellationToken))).ToList();
        var agents = (await connection.QueryAsync<(string Id, bool Active)>(new CommandDefinition(
            "SELECT id, active FROM agents WHERE account_id = @accountId AND id = ANY(@ids)", new { accountId, ids }, transaction, cancellationToken: cancellationToken)))
            .ToDictionary(a => a.Id, a => a.Active, StringComparer.Ordinal);
        var wanted = (await connection.QueryAsync<WantedRow>(new CommandDefinition(wantedSql, new { accountId, agentIds = ids }, transaction, cancellationToken: cancellationToken)))
            .ToDictionary(w => (w.AgentId, w.Product));
        var current = (await connection.QueryAsync<(string AgentId, string Product, string SeatType)>(new CommandDefinition(
                "SELECT agent_id, product_code, seat_type FROM seat_assignments WHERE account_id = @accountId AND agent_id = ANY(@ids)",
                new { accountId, ids }, transaction, cancellationToken: cancellationToken)))
            .ToDictionary(c => (c.AgentId, c.Product), c => c.SeatType);
        var freedNamed = new HashSet<string>(StringComparer.Ordinal);

        foreach (var agentId in ids.Where(agents.ContainsKey))
        {
            // A suspended agent holds no seat of any product, governed or not.
            var products = agents[agentId] ? governed : current.Keys.Where(k => k.AgentId == agentId).Select(k => k.Product).Union(governed).Order(StringComparer.Ordinal).ToList();
            foreach (var product in products)
            {
                current.TryGetValue((agentId, product), out var have);
                wanted.TryGetValue((agentId, product), out var want);
                var target = !agents[agentId] || want is null ? null : want.Named ? SeatTypeCodes.Named : SeatTypeCodes.Concurrent;
                if (target == have)
                {
                    await ClearProblemAsync(connection, transaction, accountId, agentId, product, cancellationToken);
                    continue;
                }

                if (target is null)
                {
                    await UnassignAsync(connection, transaction, actor, accountId, agentId, product, cancellationToken);
                    await ClearProblemAsync(connection, transaction, accountId, agentId, product, cancellationToken);
                    changed.Add((agentId, product));
                    if (have == SeatTypeCodes.Named)
                    {
                        freedNamed.Add(product);
                    }

                    continue;
                }

                var outcome = await PostgresCatalogStore.AssignInTransactionAsync(
                    connection, transaction, actor, accountId, agentId, product, SeatTypeCodes.Parse(target, "the provisioning plan"), cancellationToken);
                switch (outcome)
                {
                    case AssignOutcome.Assigned:
                        await ClearProblemAsync(connection, transaction, accountId, agentId, product, cancellationToken);
                        changed.Add((agentId, product));
                        if (have == SeatTypeCodes.Named)
                        {
                            freedNamed.Add(product);
                        }

                        break;
                    case AssignOutcome.NamedSeatLimitReached full:
                        // Not the identity provider's failure to retry: listed for admins, given when a named seat frees.
                        // Meanwhile the agent gets the concurrent seat another of their groups gives, if any.
                        await RecordProblemAsync(connection, transaction, accountId, agentId, product, "NAMED_SEAT_LIMIT_REACHED",
                            $"All {full.Limit} named seats of {product} are assigned; the seat is given when one frees.", cancellationToken);
                        var fallback = want!.Concurrent ? SeatTypeCodes.Concurrent : null;
                        if (fallback != have)
                        {
                            if (fallback is null)
                            {
                                await UnassignAsync(connection, transaction, actor, accountId, agentId, product, cancellationToken);
                            }
                            else
                            {
                                await PostgresCatalogStore.AssignInTransactionAsync(connection, transaction, actor, accountId, agentId, product, SeatType.Concurrent, cancellationToken);
                            }

                            changed.Add((agentId, product));
                        }

                        break;
                    default:
                        await RecordProblemAsync(connection, transaction, accountId, agentId, product, outcome.GetType().Name switch
                        {
                            nameof(AssignOutcome.NoActiveSubscription) => "NO_ACTIVE_SUBSCRIPTION",
                            nameof(AssignOutcome.ProductHasNoSeats) => "PRODUCT_HAS_NO_SEATS",
                            _ => "NOT_ASSIGNED",
                        }, $"The seat of {product} could not be given ({outcome.GetType().Name}).", cancellationToken);
                        break;
                }
            }
        }

        await ResolveProblemsInTransactionAsync(connection, transaction, actor, accountId, freedNamed, changed, cancellationToken);
        return new SeatChanges(changed);
    }

    /// <summary>Named seats free on these products go to the oldest problems, while there are free ones.</summary>
    private static async Task ResolveProblemsInTransactionAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Actor actor, string accountId, IEnumerable<string> products, List<(string, string)> changed, CancellationToken cancellationToken)
    {
        foreach (var product in products.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            var waiting = (await connection.QueryAsync<string>(new CommandDefinition(
                """
                SELECT p.agent_id FROM provisioning_problems p JOIN agents a ON a.account_id = p.account_id AND a.id = p.agent_id
                WHERE p.account_id = @accountId AND p.product_code = @product AND p.reason = 'NAMED_SEAT_LIMIT_REACHED' AND a.active
                ORDER BY p.first_seen, p.agent_id LIMIT 1000
                """,
                new { accountId, product }, transaction, cancellationToken: cancellationToken))).ToList();
            foreach (var agentId in waiting)
            {
                var outcome = await PostgresCatalogStore.AssignInTransactionAsync(connection, transaction, actor, accountId, agentId, product, SeatType.Named, cancellationToken);
                if (outcome is not AssignOutcome.Assigned)
                {
                    break;
                }

                await ClearProblemAsync(connection, transaction, accountId, agentId, product, cancellationToken);
                changed.Add((agentId, product));
            }
        }
    }

    /// <summary>Locks the subscription rows of the governed products (and <paramref name="also"/>), in product order.</summary>
    private static Task<int> LockGovernedPoolsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string accountId, string? also, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(new CommandDefinition(
            """
            SELECT 1 FROM subscriptions
            WHERE account_id = @accountId
              AND (product_code = @also OR product_code IN (SELECT product_code FROM scim_group_seats WHERE account_id = @accountId))
            ORDER BY product_code
            FOR UPDATE
            """,
            new { accountId, also }, transaction, cancellationToken: cancellationToken));

    private static async Task UnassignAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Actor actor, string accountId, string agentId, string product, CancellationToken cancellationToken)
    {
        var before = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "DELETE FROM seat_assignments WHERE account_id = @accountId AND product_code = @product AND agent_id = @agentId RETURNING seat_type",
            new { accountId, product, agentId }, transaction, cancellationToken: cancellationToken));
        if (before is not null)
        {
            await AuditAsync(connection, transaction, accountId, product, actor, "seat.unassign", agentId, new { seat_type = before }, null, cancellationToken);
        }
    }

    private static Task<int> RecordProblemAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string accountId, string agentId, string product, string reason, string detail, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO provisioning_problems (account_id, agent_id, product_code, reason, detail) VALUES (@accountId, @agentId, @product, @reason, @detail)
            ON CONFLICT (account_id, product_code, agent_id) DO UPDATE SET reason = EXCLUDED.reason, detail = EXCLUDED.detail
            """,
            new { accountId, agentId, product, reason, detail }, transaction, cancellationToken: cancellationToken));

    private static Task<int> ClearProblemAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string accountId, string agentId, string product, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM provisioning_problems WHERE account_id = @accountId AND product_code = @product AND agent_id = @agentId",
            new { accountId, agentId, product }, transaction, cancellationToken: cancellationToken));

    // ---- helpers ------------------------------------------------------------------------------

    private static async Task<IReadOnlyList<string>> MembersOfNamedGroupAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string accountId, string groupName, CancellationToken cancellationToken) =>
        (await connection.QueryAsync<string>(new CommandDefinition(
            """
            SELECT gm.agent_id FROM scim_group_members gm JOIN scim_groups g ON g.account_id = gm.account_id AND g.id = gm.group_id
            WHERE gm.account_id = @accountId AND lower(g.display_name) = lower(@groupName)
            """,
            new { accountId, groupName }, transaction, cancellationToken: cancellationToken))).ToList();

    private static async Task<string?> TakenAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string accountId, string? id, ScimUserInput input, CancellationToken cancellationToken)
    {
        var self = id ?? string.Empty;
        if (await ExistsAsync(connection, transaction, "SELECT true FROM agents WHERE account_id = @accountId AND lower(coalesce(user_name, id)) = lower(@userName) AND id <> @self", new { accountId, userName = input.UserName, self }, cancellationToken))
        {
            return "userName";
        }

        if (input.ExternalId is { } externalId
            && await ExistsAsync(connection, transaction, "SELECT true FROM agents WHERE account_id = @accountId AND external_id = @externalId AND id <> @self", new { accountId, externalId, self }, cancellationToken))
        {
            return "externalId";
        }

        return await ExistsAsync(connection, transaction, "SELECT true FROM agents WHERE account_id = @accountId AND lower(email) = lower(@email) AND id <> @self", new { accountId, email = input.EffectiveEmail, self }, cancellationToken)
            ? "emails"
            : null;
    }

    /// <summary>The agent ids of users named by SCIM id; the first id that names no user of the account, if any.</summary>
    private static async Task<(IReadOnlyList<string> Agents, string? Unknown)> AgentsOfAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string accountId, IReadOnlyList<string> scimIds, CancellationToken cancellationToken)
    {
        if (scimIds.Count == 0)
        {
            return ([], null);
        }

        var known = (await connection.QueryAsync<(string ScimId, string AgentId)>(new CommandDefinition(
                "SELECT scim_id, id FROM agents WHERE account_id = @accountId AND scim_id = ANY(@scimIds)",
                new { accountId, scimIds = scimIds.Distinct(StringComparer.Ordinal).ToArray() }, transaction, cancellationToken: cancellationToken)))
            .ToDictionary(r => r.ScimId, r => r.AgentId, StringComparer.Ordinal);
        return (known.Values.ToList(), scimIds.FirstOrDefault(m => !known.ContainsKey(m)));
    }

    private static Task AddMembersAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string accountId, string groupId, IReadOnlyList<string> members, CancellationToken cancellationToken) =>
        members.Count == 0
            ? Task.CompletedTask
            : connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO scim_group_members (account_id, group_id, agent_id) SELECT @accountId, @groupId, unnest(@members) ON CONFLICT DO NOTHING",
                new { accountId, groupId, members = members.Distinct(StringComparer.Ordinal).ToArray() }, transaction, cancellationToken: cancellationToken));

    private static async Task<bool> ExistsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, object parameters, CancellationToken cancellationToken) =>
        await connection.QuerySingleOrDefaultAsync<bool>(new CommandDefinition(sql, parameters, transaction, cancellationToken: cancellationToken));

    /// <summary>A user by SCIM id.</summary>
    private static async Task<ScimUser?> UserAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string accountId, string scimId, CancellationToken cancellationToken)
    {
        var row = await connection.QuerySingleOrDefaultAsync<UserRow>(new CommandDefinition(
            $"SELECT {UserColumns} FROM agents a WHERE a.account_id = @accountId AND a.scim_id = @scimId", new { accountId, scimId }, transaction, cancellationToken: cancellationToken));
        return row?.ToUser((await GroupsOfAsync(connection, transaction, accountId, [row.Id], cancellationToken))[row.Id].ToList());
    }

    private static async Task<ILookup<string, ScimMember>> GroupsOfAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string accountId, string[] agentIds, CancellationToken cancellationToken) =>
        (await connection.QueryAsync<(string AgentId, string Id, string Name)>(new CommandDefinition(
            """
            SELECT gm.agent_id, g.id, g.display_name FROM scim_group_members gm JOIN scim_groups g ON g.account_id = gm.account_id AND g.id = gm.group_id
            WHERE gm.account_id = @accountId AND gm.agent_id = ANY(@agentIds) ORDER BY g.display_name
            """,
            new { accountId, agentIds }, transaction, cancellationToken: cancellationToken)))
        .ToLookup(r => r.AgentId, r => new ScimMember(r.Id, r.Name), StringComparer.Ordinal);

    private static async Task<ScimGroup?> GroupAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string accountId, string id, CancellationToken cancellationToken, bool forUpdate = false)
    {
        var row = await connection.QuerySingleOrDefaultAsync<GroupRow>(new CommandDefinition(
            "SELECT id AS Id, display_name AS DisplayName, external_id AS ExternalId, created_at AS Created, updated_at AS LastModified FROM scim_groups WHERE account_id = @accountId AND id = @id" + (forUpdate ? " FOR UPDATE" : string.Empty),
            new { accountId, id }, transaction, cancellationToken: cancellationToken));
        return row?.ToGroup((await MembersAsync(connection, transaction, accountId, [id], cancellationToken))[id].ToList());
    }

    private static async Task<ILookup<string, ScimMember>> MembersAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string accountId, string[] groupIds, CancellationToken cancellationToken) =>
        (await connection.QueryAsync<(string GroupId, string Id, string Name)>(new CommandDefinition(
            """
            SELECT gm.group_id, a.scim_id, a.display_name FROM scim_group_members gm JOIN agents a ON a.account_id = gm.account_id AND a.id = gm.agent_id
            WHERE gm.account_id = @accountId AND gm.group_id = ANY(@groupIds) ORDER BY a.id
            """,
            new { accountId, groupIds }, transaction, cancellationToken: cancellationToken)))
        .ToLookup(r => r.GroupId, r => new ScimMember(r.Id, r.Name), StringComparer.Ordinal);

    private static Task AuditAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string accountId, string? product, Actor actor, string action, string? subject,
        object? before, object? after, CancellationToken cancellationToken) =>
        PostgresCatalogStore.AuditAsync(connection, transaction, accountId, product, actor, action, subject, before, after, cancellationToken);

    private Task<T> InTransactionAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken cancellationToken) =>
        PostgresTransaction.RunAsync(
            _dataSource,
            _pipelines.PostgresWrites,
            async (connection, transaction) =>
            {
                try
                {
                    return await work(connection, transaction);
                }
                catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation && typeof(T).IsGenericType
                    && typeof(T).GetGenericTypeDefinition() == typeof(ScimOutcome<>))
                {
                    // Two creations of the same userName (or group) raced past the checks: the index decides.
                    return (T)Activator.CreateInstance(typeof(T).GetNestedType("Conflict")!.MakeGenericType(typeof(T).GetGenericArguments()), ex.ConstraintName ?? "unique")!;
                }
            },
            static result => IsRefusal(result),
            cancellationToken);

    private static bool IsRefusal(object? result) =>
        result?.GetType() is { IsNested: true, DeclaringType: { IsGenericTypeDefinition: true } outer } type
        && outer == typeof(ScimOutcome<>) && !type.Name.StartsWith("Done", StringComparison.Ordinal);

    private static DateTimeOffset Utc(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));

    private static DateTimeOffset? Utc(DateTime? value) => value is { } v ? Utc(v) : null;

    private sealed record TokenRow(string Id, string Name, string CreatedBy, DateTime CreatedAt, DateTime? LastUsedAt, DateTime? RevokedAt);

    private sealed record TokenSecretRow(string Id, string AccountId, string Name, byte[] SecretHash, DateTime? LastUsedAt, DateTime? RevokedAt);

    private sealed record MappingRow(string GroupName, string Product, string SeatType, DateTime CreatedAt);

    private sealed record ProblemRow(string AgentId, string Product, string Reason, string Detail, DateTime FirstSeen, string? DisplayName, string? Email);

    private sealed record WantedRow(string AgentId, string Product, bool Named, bool Concurrent);

    private sealed record UserRow(
        string Id, string ScimId, string? UserName, string? ExternalId, string? GivenName, string? FamilyName, string DisplayName, string Email,
        string? EmailsJson, string? EnterpriseJson, bool Active, DateTime Created, DateTime LastModified)
    {
        public ScimUser ToUser(IReadOnlyList<ScimMember> groups) =>
            new(ScimId, Id, UserName ?? Id, ExternalId, GivenName, FamilyName, DisplayName, Emails(), Enterprise(), Active, Utc(Created), Utc(LastModified), groups);

        // An agent made by an admin (or before 0013) has one e-mail: its work and primary one.
        private List<ScimEmail> Emails() => EmailsJson is null
            ? [new ScimEmail(Email, "work", true)]
            : JsonSerializer.Deserialize<List<EmailJson>>(EmailsJson, StoredJson)!.Select(e => new ScimEmail(e.Value, e.Type, e.Primary)).ToList();

        private EnterpriseAttributes? Enterprise() => EnterpriseJson is null ? null : JsonSerializer.Deserialize<EnterpriseAttributes>(EnterpriseJson, StoredJson);
    }

    /// <summary>An e-mail as stored in agents.scim_emails.</summary>
    private sealed record EmailJson(string Value, string? Type, bool Primary);

    private static readonly JsonSerializerOptions StoredJson = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };

    private sealed record GroupRow(string Id, string DisplayName, string? ExternalId, DateTime Created, DateTime LastModified)
    {
        public ScimGroup ToGroup(IReadOnlyList<ScimMember> members) => new(Id, DisplayName, ExternalId, members, Utc(Created), Utc(LastModified));
    }
}
