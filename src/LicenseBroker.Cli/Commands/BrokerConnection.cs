using System.CommandLine;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace LicenseBroker.Cli.Commands;

/// <summary>
/// The options every admin command shares (server, identity, output) and the one place that turns
/// server errors into a message on stderr and a non-zero exit code.
/// </summary>
internal sealed class BrokerConnection
{
    public const int Ok = 0;
    public const int ServerError = 1;
    public const int Declined = 3;

    private readonly Option<string> _server = new("--server") { Description = "Broker address.", DefaultValueFactory = _ => "http://127.0.0.1:5080" };
    private readonly Option<string> _account = CommonOptions.Account();
    private readonly Option<string> _as = new("--as") { Description = "Admin id to act as (development token, role ADMIN).", DefaultValueFactory = _ => "alice" };
    private readonly Option<FileInfo> _keyFile = CommonOptions.SigningKeyFile();
    private readonly Option<string?> _token = new("--token") { Description = "Bearer token to use instead of minting one." };
    private readonly Option<bool> _json = new("--json") { Description = "Print JSON instead of a table." };

    /// <summary>Adds the shared options to a command.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(_server);
        command.Options.Add(_account);
        command.Options.Add(_as);
        command.Options.Add(_keyFile);
        command.Options.Add(_token);
        command.Options.Add(_json);
    }

    public bool Json(ParseResult parse) => parse.GetValue(_json);

    public string Account(ParseResult parse) => parse.GetValue(_account)!;

    /// <summary>Runs <paramref name="call"/> with a channel and admin (or, with <paramref name="service"/>, back-office) headers.</summary>
    public async Task<int> RunAsync(ParseResult parse, Func<GrpcChannel, Metadata, Task<int>> call, bool service = false)
    {
        var token = parse.GetValue(_token) ?? DevTokens.Mint(
            CommonOptions.ReadKey(parse.GetValue(_keyFile)!),
            parse.GetValue(_account)!,
            parse.GetValue(_as)!,
            TimeSpan.FromMinutes(10),
            extraClaims: DevTokens.Claims(role: service ? null : "ADMIN", service: service));
        using var channel = GrpcChannel.ForAddress(parse.GetValue(_server)!);
        try
        {
            return await call(channel, new Metadata { { "Authorization", "Bearer " + token } });
        }
        catch (RpcException ex)
        {
            Console.Error.WriteLine($"error: {ex.StatusCode}: {ex.Status.Detail}");
            return ServerError;
        }
    }

    /// <summary>Prints a message as JSON (for scripts) or hands it to the table printer.</summary>
    public static int Print(bool json, IMessage message, Action table)
    {
        if (json)
        {
            Console.WriteLine(new JsonFormatter(JsonFormatter.Settings.Default.WithFormatDefaultValues(true)).Format(message));
        }
        else
        {
            table();
        }

        return Ok;
    }
}

/// <summary>Plain aligned text tables.</summary>
internal static class Table
{
    public static void Print(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows)
    {
        var all = new List<IReadOnlyList<string>> { header };
        all.AddRange(rows);
        var widths = header.Select((_, i) => all.Max(r => r[i].Length)).ToArray();
        foreach (var row in all)
        {
            Console.WriteLine(string.Join("  ", row.Select((cell, i) => cell.PadRight(widths[i]))).TrimEnd());
        }
    }

    public static string Time(Google.Protobuf.WellKnownTypes.Timestamp? timestamp) =>
        timestamp is null ? string.Empty : timestamp.ToDateTimeOffset().ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture);
}
