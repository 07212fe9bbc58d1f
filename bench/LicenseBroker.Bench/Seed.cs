using Dapper;
using Npgsql;

namespace LicenseBroker.Bench;

/// <summary>Bulk-loads the accounts and agents the scenarios use (idempotent).</summary>
internal static class Seed
{
    public static async Task AccountsAsync(NpgsqlDataSource db, string prefix, int accounts, int agentsPerAccount, int concurrent)
    {
        await using var connection = await db.OpenConnectionAsync();
        var ids = Enumerable.Range(0, accounts).Select(i => $"{prefix}-{i}").ToArray();
        await connection.ExecuteAsync("INSERT INTO accounts (id, name) SELECT id, id FROM unnest(@ids) AS id ON CONFLICT DO NOTHING", new { ids });
        await connection.ExecuteAsync(
            """
            INSERT INTO subscriptions (account_id, product_code, plan, valid_until, named_seat_limit, concurrent_seat_limit)
            SELECT id, 'remote-support', 'PAID', now() + interval '1 day', 0, @concurrent FROM unnest(@ids) AS id ON CONFLICT DO NOTHING
            """,
            new { ids, concurrent });
        var accountIds = ids.SelectMany(id => Enumerable.Range(0, agentsPerAccount).Select(_ => id)).ToArray();
        var agentIds = ids.SelectMany(_ => Enumerable.Range(0, agentsPerAccount).Select(a => $"a{a}")).ToArray();
        await InsertAgentsAsync(connection, accountIds, agentIds);
    }

    /// <param name="queueMaxWaiters">The subscription's queue length (null: the broker's automatic one, twice the limit and at least 20).</param>
    /// <param name="agentName">Agent i's id (default "a" and i).</param>
    public static async Task AccountAsync(NpgsqlDataSource db, string account, int agents, int concurrent, int? queueMaxWaiters = null, Func<int, string>? agentName = null)
    {
        await AccountsAsync(db, account, 0, 0, 0);
        await using var connection = await db.OpenConnectionAsync();
        await connection.ExecuteAsync("INSERT INTO accounts (id, name) VALUES (@account, @account) ON CONFLICT DO NOTHING", new { account });
        await connection.ExecuteAsync(
            """
            INSERT INTO subscriptions (account_id, product_code, plan, valid_until, named_seat_limit, concurrent_seat_limit)
            VALUES (@account, 'remote-support', 'PAID', now() + interval '1 day', 0, @concurrent) ON CONFLICT DO NOTHING
            """,
            new { account, concurrent });
        if (queueMaxWaiters is { } waiters)
        {
            await connection.ExecuteAsync(
                "UPDATE subscriptions SET queue_max_waiters = @waiters WHERE account_id = @account AND product_code = 'remote-support'", new { account, waiters });
        }

        await InsertAgentsAsync(connection, Enumerable.Repeat(account, agents).ToArray(), Enumerable.Range(0, agents).Select(agentName ?? (a => $"a{a}")).ToArray());
    }

    /// <summary>The comparison design: leases as rows, admission under a row lock of the pool.</summary>
    public static async Task PostgresDesignAsync(NpgsqlDataSource db)
    {
        await using var connection = await db.OpenConnectionAsync();
        await connection.ExecuteAsync(
            """
            CREATE TABLE IF NOT EXISTS bench_pg_pools (id int PRIMARY KEY, seat_limit int NOT NULL);
            CREATE TABLE IF NOT EXISTS bench_pg_leases (id bigserial PRIMARY KEY, pool int NOT NULL, agent int NOT NULL, expires_at timestamptz NOT NULL);
            CREATE INDEX IF NOT EXISTS bench_pg_leases_pool ON bench_pg_leases (pool, expires_at);
            TRUNCATE bench_pg_leases;
            INSERT INTO bench_pg_pools VALUES (1, 10) ON CONFLICT DO NOTHING;
            """);
    }

    private static async Task InsertAgentsAsync(NpgsqlConnection connection, string[] accounts, string[] agents)
    {
        if (accounts.Length == 0)
        {
            return;
        }

        // Each agent may take a seat from several workers: bench agents are concurrent-seat holders.
        await connection.ExecuteAsync(
            """
            INSERT INTO agents (account_id, id, email, display_name)
            SELECT a, g, a || '.' || g || '@bench.test', g FROM unnest(@accounts, @agents) AS t(a, g) ON CONFLICT DO NOTHING;
            INSERT INTO seat_assignments (account_id, agent_id, product_code, seat_type)
            SELECT a, g, 'remote-support', 'CONCURRENT' FROM unnest(@accounts, @agents) AS t(a, g) ON CONFLICT DO NOTHING;
            """,
            new { accounts, agents });
    }
}
