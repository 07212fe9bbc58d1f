using Dapper;
using Npgsql;

namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>Writes catalog rows directly (the admin write paths come later); each test uses accounts of its own.</summary>
internal sealed class CatalogSeeder
{
    private readonly string _connectionString;

    public CatalogSeeder(TestDatabase database)
    {
        _connectionString = database.ConnectionString;
    }

    public static string NewAccountId() => "acct-" + Guid.NewGuid().ToString("N")[..12];

    public async Task<string> AccountAsync(
        string product = "remote-support",
        int concurrentSeats = 10,
        int namedSeats = 5,
        DateTimeOffset? validUntil = null,
        string plan = "PAID")
    {
        var accountId = NewAccountId();
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.ExecuteAsync("INSERT INTO accounts (id, name) VALUES (@accountId, @accountId)", new { accountId });
        await connection.ExecuteAsync(
            """
            INSERT INTO subscriptions (account_id, product_code, plan, valid_until, named_seat_limit, concurrent_seat_limit)
            VALUES (@accountId, @product, @plan, @validUntil, @namedSeats, @concurrentSeats)
            """,
            new { accountId, product, plan, validUntil = (validUntil ?? DateTimeOffset.UtcNow.AddDays(30)).UtcDateTime, namedSeats, concurrentSeats });
        return accountId;
    }

    /// <summary>Subscribes an existing account to one more product (Monitoring: for everyone, no seats), for 30 days.</summary>
    public async Task SubscribeAsync(string accountId, string product = "monitoring")
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.ExecuteAsync(
            "INSERT INTO subscriptions (account_id, product_code, plan, valid_until, named_seat_limit, concurrent_seat_limit) VALUES (@accountId, @product, 'PAID', now() + interval '30 days', 0, 0)",
            new { accountId, product });
    }

    /// <summary>Adds agents; <paramref name="seatType"/> NAMED, CONCURRENT or null for none.</summary>
    public async Task<IReadOnlyList<string>> AgentsAsync(string accountId, int count, string? seatType, string product = "remote-support", string prefix = "agent")
    {
        var ids = Enumerable.Range(1, count).Select(i => $"{prefix}-{i:D3}").ToList();
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.ExecuteAsync(
            "INSERT INTO agents (account_id, id, email, display_name) VALUES (@accountId, @id, @email, @id)",
            ids.Select(id => new { accountId, id, email = id + "@example.test" }));
        if (seatType is not null)
        {
            await connection.ExecuteAsync(
                "INSERT INTO seat_assignments (account_id, agent_id, product_code, seat_type) VALUES (@accountId, @id, @product, @seatType)",
                ids.Select(id => new { accountId, id, product, seatType }));
        }

        return ids;
    }
}

/// <summary>A seeder over a host's database.</summary>
internal static class HostSeeding
{
    public static CatalogSeeder Seeder(this BrokerTestHost host) => new(host.Database);
}
