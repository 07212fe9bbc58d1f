namespace LicenseBroker.Cli;

/// <summary>What licensebroker-cli's exit code means; listed in --help and the README.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>The broker refused the request (permission, limit, validation); its message is printed.</summary>
    public const int Refused = 1;

    /// <summary>The command line is wrong (unknown option, bad value, bad duration).</summary>
    public const int Usage = 2;

    /// <summary>Not confirmed at the [y/N] prompt: nothing changed.</summary>
    public const int NotConfirmed = 3;

    /// <summary>An unknown lease, agent or product.</summary>
    public const int NotFound = 4;

    /// <summary>The broker could not be reached, or a backend of it is down: try again later.</summary>
    public const int Unavailable = 5;

    /// <summary>`agent login`: the seat was lost (ended by an administrator, or expired).</summary>
    public const int SeatLost = 6;

    public const string Help =
        "Exit codes: 0 ok; 1 refused by the broker; 2 bad command line; 3 not confirmed; 4 unknown lease, agent or product; " +
        "5 broker unreachable or unavailable; 6 agent login: the seat was lost.";
}

/// <summary>A failure the CLI found itself (e.g. an unknown product), with its exit code.</summary>
internal sealed class CliException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
