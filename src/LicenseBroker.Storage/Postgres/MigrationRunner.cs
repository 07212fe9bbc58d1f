using System.Reflection;
using System.Text.RegularExpressions;
using Dapper;
using Npgsql;

namespace LicenseBroker.Storage.Postgres;

/// <summary>
/// Applies the numbered, forward-only SQL migrations embedded in this assembly. Runs under an advisory
/// lock, so replicas starting together apply each migration once.
/// </summary>
public sealed partial class MigrationRunner
{
    // Any constant shared by every replica works; this one spells "LBMIGRAT" in ASCII.
    private const long AdvisoryLockKey = 0x4C424D4947524154;

    private const string CreateHistorySql = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version     integer PRIMARY KEY,
            name        text NOT NULL,
            applied_at  timestamptz NOT NULL DEFAULT now()
        )
        """;

    private readonly NpgsqlDataSource _dataSource;

    public MigrationRunner(NpgsqlDataSource dataSource)
    {
        _dataSource = dataSource;
    }

    /// <summary>The migrations shipped with this build, in order.</summary>
    public static IReadOnlyList<Migration> Available { get; } = LoadEmbedded();

    /// <summary>Applies what is missing (up to <paramref name="upToVersion"/>, for tests); returns the versions applied by this call.</summary>
    /// <remarks>
    /// One transaction per migration, under a session advisory lock (replicas starting together wait, then find
    /// it applied). A migration whose first line is <c>-- lb:outside-transaction</c> runs step by step, each step
    /// (separated by <c>-- lb:step</c> lines) on its own: for work that must not hold its locks until the end
    /// (CREATE INDEX CONCURRENTLY, validating a constraint while writers continue). Its steps are idempotent, so
    /// a replica that died half-way is finished by the next one. A step holding a <c>-- lb:statements-from-query</c>
    /// line is a query whose rows are statements, each then run on its own (CONCURRENTLY on every partition there is).
    /// </remarks>
    public async Task<IReadOnlyList<int>> MigrateAsync(CancellationToken cancellationToken, int? upToVersion = null)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_lock(@key)", new { key = AdvisoryLockKey }, cancellationToken: cancellationToken));
        try
        {
            await connection.ExecuteAsync(new CommandDefinition(CreateHistorySql, cancellationToken: cancellationToken));
            var applied = (await connection.QueryAsync<int>(
                new CommandDefinition("SELECT version FROM schema_migrations", cancellationToken: cancellationToken))).ToHashSet();

            var newlyApplied = new List<int>();
            foreach (var migration in Available.Where(m => !applied.Contains(m.Version) && (upToVersion is null || m.Version <= upToVersion)))
            {
                if (migration.OutsideTransaction)
                {
                    foreach (var step in migration.Steps)
                    {
                        var statements = Migration.IsStatementsFromQuery(step)
                            ? (await connection.QueryAsync<string>(new CommandDefinition(step, commandTimeout: 0, cancellationToken: cancellationToken))).ToList()
                            : new List<string> { step };
                        foreach (var statement in statements)
                        {
                            await connection.ExecuteAsync(new CommandDefinition(statement, commandTimeout: 0, cancellationToken: cancellationToken));
                        }
                    }

                    await Record(connection, null, migration, cancellationToken);
                }
                else
                {
                    await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                    await connection.ExecuteAsync(new CommandDefinition(migration.Sql, transaction: transaction, commandTimeout: 0, cancellationToken: cancellationToken));
                    await Record(connection, transaction, migration, cancellationToken);
                    await transaction.CommitAsync(cancellationToken);
                }

                newlyApplied.Add(migration.Version);
            }

            return newlyApplied;
        }
        finally
        {
            await connection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_unlock(@key)", new { key = AdvisoryLockKey }, cancellationToken: CancellationToken.None));
        }

        static Task Record(NpgsqlConnection connection, NpgsqlTransaction? transaction, Migration migration, CancellationToken cancellationToken) =>
            connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO schema_migrations (version, name) VALUES (@Version, @Name)",
                new { migration.Version, migration.Name },
                transaction,
                cancellationToken: cancellationToken));
    }

    private static List<Migration> LoadEmbedded()
    {
        var assembly = Assembly.GetExecutingAssembly();
        const string prefix = "LicenseBroker.Storage.Postgres.Migrations.";
        var migrations = new List<Migration>();
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)))
        {
            var fileName = resource[prefix.Length..];
            var match = MigrationFileName().Match(fileName);
            if (!match.Success)
            {
                throw new InvalidOperationException($"Migration file '{fileName}' must be named NNNN_description.sql.");
            }

            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            migrations.Add(new Migration(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), match.Groups[2].Value, reader.ReadToEnd()));
        }

        migrations.Sort((a, b) => a.Version.CompareTo(b.Version));
        return migrations;
    }

    [GeneratedRegex(@"^(\d{4})_([a-z0-9_]+)\.sql$")]
    private static partial Regex MigrationFileName();
}

/// <summary>One migration file.</summary>
public sealed record Migration(int Version, string Name, string Sql)
{
    /// <summary>Runs step by step, each step on its own (see <see cref="MigrationRunner.MigrateAsync"/>).</summary>
    public bool OutsideTransaction => Sql.StartsWith("-- lb:outside-transaction", StringComparison.Ordinal);

    /// <summary>Whether a step is a query returning the statements to run (see <see cref="MigrationRunner.MigrateAsync"/>).</summary>
    public static bool IsStatementsFromQuery(string step) =>
        step.Split('\n').Any(line => line.Trim() == "-- lb:statements-from-query");

    /// <summary>The steps of an <see cref="OutsideTransaction"/> migration, in order.</summary>
    public IReadOnlyList<string> Steps =>
        Sql.Split("\n-- lb:step", StringSplitOptions.RemoveEmptyEntries)
            .Select(step => step.Trim())
            .Where(step => step.Split('\n').Any(line => line.Trim().Length > 0 && !line.TrimStart().StartsWith("--", StringComparison.Ordinal)))
            .ToList();
}
