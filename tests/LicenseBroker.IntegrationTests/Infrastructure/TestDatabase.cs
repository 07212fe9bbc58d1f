using Npgsql;

namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>A database of its own for one test class (as npgsql's own tests do), dropped afterwards.</summary>
internal sealed class TestDatabase : IAsyncDisposable
{
    private readonly bool _owned;

    private TestDatabase(string name, string connectionString, bool owned = true)
    {
        Name = name;
        ConnectionString = connectionString;
        _owned = owned;
    }

    /// <summary>A database on a server of the test's own, left as it is afterwards.</summary>
    public static TestDatabase Existing(string connectionString) =>
        new(new NpgsqlConnectionStringBuilder(connectionString).Database!, connectionString, owned: false);

    public string Name { get; }

    public string ConnectionString { get; }

    public static async Task<TestDatabase> CreateAsync()
    {
        var name = "lbt_" + Guid.NewGuid().ToString("N")[..16];
        await using (var admin = new NpgsqlConnection(TestEnvironment.Postgres))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", admin);
            await create.ExecuteNonQueryAsync();
        }

        var builder = new NpgsqlConnectionStringBuilder(TestEnvironment.Postgres) { Database = name, Pooling = true };
        return new TestDatabase(name, builder.ConnectionString);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_owned)
        {
            return;
        }

        NpgsqlConnection.ClearAllPools();
        await using var admin = new NpgsqlConnection(TestEnvironment.Postgres);
        await admin.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {Name} WITH (FORCE)", admin);

        // FORCE ends our own sessions but not an autovacuum worker's (42501: another role's process),
        // which finishes by itself in a moment: try again while it runs. Cleanup is not what a test
        // checks, and ./scripts/test throws the whole server away, so a database still busy after
        // that is left behind rather than failing the test that used it.
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            try
            {
                await drop.ExecuteNonQueryAsync();
                return;
            }
            catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.InsufficientPrivilege or PostgresErrorCodes.ObjectInUse)
            {
                if (DateTime.UtcNow > deadline)
                {
                    return;
                }

                await Task.Delay(200);
            }
        }
    }
}
