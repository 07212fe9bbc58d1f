using System.Text;
using Dapper;
using Npgsql;
using StackExchange.Redis;

namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>Everything a host has stored, as one comparable text: its database tables and its Redis keys.</summary>
internal static class StateSnapshot
{
    private static readonly string[] Tables = ["accounts", "subscriptions", "agents", "seat_assignments", "devices", "audit_events", "usage_daily", "pool_registry",
        "provisioning_tokens", "scim_groups", "scim_group_members", "scim_group_seats", "provisioning_problems"];

    /// <param name="host">The broker whose storage is read.</param>
    /// <param name="account">Only rows and keys of this account.</param>
    public static async Task<string> TakeAsync(BrokerTestHost host, string account)
    {
        var text = new StringBuilder();
        await using (var connection = new NpgsqlConnection(host.Database.ConnectionString))
        {
            foreach (var table in Tables)
            {
                var column = table == "accounts" ? "id" : "account_id";
                var rows = await connection.QueryAsync<string>($"SELECT t::text FROM {table} t WHERE {column} = @account ORDER BY t::text", new { account });
                text.AppendLine(table).AppendJoin('\n', rows).AppendLine();
            }
        }

        var multiplexer = host.Services.GetService(typeof(IConnectionMultiplexer)) as IConnectionMultiplexer;
        var prefix = host.Services.GetRequiredRedisPrefix();
        var database = multiplexer!.GetDatabase();
        foreach (var server in multiplexer.GetServers())
        {
            var keys = server.Keys(pattern: prefix + "{" + account + "/*").Select(k => k.ToString()).Order(StringComparer.Ordinal).ToList();
            foreach (var key in keys)
            {
                text.Append(key).Append(' ');
                switch (await database.KeyTypeAsync(key))
                {
                    case RedisType.Hash:
                        // The epoch's 'due' is a cache of the earliest time in the pool's timed sets, which any
                        // script may recompute (Scripts/library/): not state a call can change.
                        text.AppendJoin(',', (await database.HashGetAllAsync(key))
                            .Where(e => !(key.EndsWith(":epoch", StringComparison.Ordinal) && e.Name == "due"))
                            .Select(e => $"{e.Name}={e.Value}").Order(StringComparer.Ordinal));
                        break;
                    case RedisType.Stream:
                        // The seat event journal: the events not yet stored (the audit table holds the rest).
                        text.AppendJoin(',', (await database.StreamRangeAsync(key)).Select(e => $"{e["seq"]}={e["e"]}"));
                        break;
                    case RedisType.SortedSet:
                        text.AppendJoin(',', (await database.SortedSetRangeByRankWithScoresAsync(key)).Select(e => $"{e.Element}={e.Score}"));
                        break;
                    default:
                        text.Append(await database.StringGetAsync(key));
                        break;
                }

                text.AppendLine();
            }
        }

        return text.ToString();
    }
}
