using System.CommandLine;

namespace LicenseBroker.Cli.Commands;

/// <summary>Options shared by several commands.</summary>
internal static class CommonOptions
{
    /// <summary>
    /// Asks <paramref name="question"/> on the terminal (" [y/N] " added); true for y or yes. On any other answer it
    /// says on stderr that nothing was <paramref name="notDone"/> and returns false.
    /// </summary>
    public static bool Confirmed(string question, string notDone)
    {
        Console.Write(question + " [y/N] ");
        var answer = Console.ReadLine()?.Trim();
        if (string.Equals(answer, "y", StringComparison.OrdinalIgnoreCase) || string.Equals(answer, "yes", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        Console.Error.WriteLine($"not confirmed: nothing {notDone}");
        return false;
    }

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

    /// <summary>A timeout that may be switched off: a duration as <see cref="Duration"/> reads it, or "off" (zero).</summary>
    public static Option<TimeSpan?> TimeoutOrOff(string name, string description) => new(name)
    {
        Description = $"{description} ({Durations.Help}, or off).",
        CustomParser = result =>
        {
            var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
            if (string.Equals(text, "off", StringComparison.OrdinalIgnoreCase))
            {
                return TimeSpan.Zero;
            }

            if (Durations.TryParse(text, out var duration, out var error))
            {
                return duration;
            }

            result.AddError($"{name}: {error}");
            return null;
        },
    };

    /// <summary>A duration option that reads 90s, 2m, 1h30m (see <see cref="Durations"/>).</summary>
    public static Option<TimeSpan?> Duration(string name, string description, TimeSpan? defaultValue = null)
    {
        var option = new Option<TimeSpan?>(name)
        {
            Description = $"{description} ({Durations.Help}).",
            CustomParser = result =>
            {
                var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
                if (Durations.TryParse(text, out var duration, out var error))
                {
                    return duration;
                }

                result.AddError($"{name}: {error}");
                return null;
            },
        };
        if (defaultValue is { } value)
        {
            option.DefaultValueFactory = _ => value;
        }

        return option;
    }

    /// <summary>An option taking one of <paramref name="choices"/>, in any case; its value is upper-cased.</summary>
    public static Option<string> Choice(string name, string description, string[] choices, string? defaultValue = null)
    {
        var option = new Option<string>(name)
        {
            Description = $"{description} One of: {string.Join(", ", choices.Select(c => c.ToLowerInvariant()))}.",
            CustomParser = result =>
            {
                var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
                var match = choices.FirstOrDefault(c => string.Equals(c, text, StringComparison.OrdinalIgnoreCase));
                if (match is null)
                {
                    result.AddError($"{name}: '{text}' is not one of {string.Join(", ", choices.Select(c => c.ToLowerInvariant()))}");
                }

                return match ?? string.Empty;
            },
        };
        if (defaultValue is not null)
        {
            option.DefaultValueFactory = _ => defaultValue;
        }

        return option;
    }

    public static readonly string[] Roles = ["ADMIN", "MANAGER", "MEMBER"];
    public static readonly string[] Privileges = ["MANAGE_USERS", "MANAGE_SEATS"];

    /// <summary>--role for a development token.</summary>
    public static Option<string> Role(string? defaultValue) =>
        Choice("--role", "Role claim of the development token.", Roles, defaultValue);

    /// <summary>--privilege (repeatable) for a development token.</summary>
    public static Option<string[]> Privilege() => new("--privilege")
    {
        Description = "Privilege claim of the development token (repeatable). One of: manage_users, manage_seats.",
        AllowMultipleArgumentsPerToken = true,
        CustomParser = result =>
        {
            var values = result.Tokens.Select(t => Privileges.FirstOrDefault(p => string.Equals(p, t.Value, StringComparison.OrdinalIgnoreCase))).ToArray();
            if (values.Any(v => v is null))
            {
                result.AddError($"--privilege: '{result.Tokens[Array.IndexOf(values, null)].Value}' is not one of manage_users, manage_seats");
            }

            return values.OfType<string>().ToArray();
        },
    };

    /// <summary>Language of the broker's messages for the agent; by default from LC_ALL / LC_MESSAGES / LANG.</summary>
    public static Option<string> Language() => new("--lang")
    {
        Description = "Language of the messages an agent sees: en or fr (default: from LC_ALL, LC_MESSAGES or LANG).",
        DefaultValueFactory = _ => FromEnvironment(),
    };

    private static string FromEnvironment()
    {
        foreach (var variable in new[] { "LC_ALL", "LC_MESSAGES", "LANG" })
        {
            // POSIX locale names: fr_FR.UTF-8 -> fr-FR.
            if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value && value is not ("C" or "POSIX") && !value.StartsWith("C.", StringComparison.Ordinal))
            {
                return value.Split('.', '@')[0].Replace('_', '-');
            }
        }

        return "en";
    }

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
