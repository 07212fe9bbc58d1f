namespace LicenseBroker.Storage.Postgres;

/// <summary>Section "Postgres" of the settings.</summary>
public sealed class PostgresOptions
{
    public const string SectionName = "Postgres";

    /// <summary>Npgsql connection string.</summary>
    public string ConnectionString { get; set; } = "Host=127.0.0.1;Port=5432;Database=licensebroker;Username=licensebroker";

    /// <summary>Apply pending migrations when the server starts (the alternative is the `migrate` command).</summary>
    public bool MigrateOnStart { get; set; } = true;

    /// <summary>PostgreSQL's own limit on one report query (statement_timeout): it stops the work on the server, not only the wait.</summary>
    public TimeSpan ReportStatementTimeout { get; set; } = TimeSpan.FromSeconds(4);
}
