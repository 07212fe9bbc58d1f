using System.CommandLine;

namespace LicenseBroker.Cli.Commands;

/// <summary>Options shared by several commands.</summary>
internal static class CommonOptions
{
    public static Option<string> Account() => new("--account")
    {
        Description = "Account id (the account_id claim).",
        DefaultValueFactory = _ => "demo",
    };

    public static Option<string> Agent() => new("--agent")
    {
        Description = "Agent id (the sub claim).",
        DefaultValueFactory = _ => "alice",
    };

    public static Option<FileInfo> SigningKeyFile() => new("--signing-key-file")
    {
        Description = "File holding the base64 development signing key (./scripts/run writes .local/dev-signing-key).",
        DefaultValueFactory = _ => new FileInfo(Path.Combine(".local", "dev-signing-key")),
    };

    public static string ReadKey(FileInfo file)
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("LICENSEBROKER_SIGNING_KEY");
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            return fromEnvironment;
        }

        if (!file.Exists)
        {
            throw new InvalidOperationException(
                $"No signing key at {file.FullName}. Start ./scripts/run once, pass --signing-key-file, or set LICENSEBROKER_SIGNING_KEY.");
        }

        return File.ReadAllText(file.FullName).Trim();
    }
}
