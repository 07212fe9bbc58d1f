using System.Reflection;
using System.Text.RegularExpressions;
using Dapper;
using Npgsql;

namespace LicenseBroker.Storage.Postgres;

/// <summary>
/// Applies the numbered, forward-only SQL migrations embedded in this assembly. Runs under a
/// transaction-scoped advisory lock, so replicas starting together apply each migration once.
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

    /// <summary>Applies what is missing; returns the versions applied by this call.</summary>
    public async Task<IReadOnlyList<int>> MigrateAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await connection.ExecuteAsync(
            new CommandDefinition("SELECT pg_advisory_xact_lock(@key)", new { key = AdvisoryLockKey }, transaction, cancellationToken: cancellationToken));
        await connection.ExecuteAsync(new CommandDefinition(CreateHistorySql, transaction: transaction, cancellationToken: cancellationToken));

        var applied = (await connection.QueryAsync<int>(
            new CommandDefinition("SELECT version FROM schema_migrations", transaction: transaction, cancellationToken: cancellationToken))).ToHashSet();

        var newlyApplied = new List<int>();
        foreach (var migration in Available.Where(m => !applied.Contains(m.Version)))
        {
            await connection.ExecuteAsync(new CommandDefinition(migration.Sql, transaction: transaction, cancellationToken: cancellationToken));
            await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO schema_migrations (version, name) VALUES (@Version, @Name)",
                migration,
                transaction,
                cancellationToken: cancellationToken));
            newlyApplied.Add(migration.Version);
        }

        await transaction.CommitAsync(cancellationToken);
        return newlyApplied;
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
public sealed record Migration(int Version, string Name, string Sql);
