using System.CommandLine;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using LicenseBroker.Cli;

namespace LicenseBroker.Cli.Commands;

/// <summary>
/// The options every admin command shares (server, identity, output) and the one place that turns
/// server errors into a message on stderr and a non-zero exit code.
/// </summary>
internal sealed class BrokerConnection
{
    private readonly Option<string> _server = new("--server") { Description = "Broker address.", DefaultValueFactory = _ => "http://127.0.0.1:5080" };
    private readonly Option<string> _account = CommonOptions.Account();
    private readonly Option<string> _as = new("--as")
    {
        Description = "Act as this person: mints a development token from the local signing key for this id (sub), with the role of --role and the privileges of --privilege. Ignored with --token.",
        DefaultValueFactory = _ => "alice",
    };

    private readonly Option<string> _role = CommonOptions.Role("ADMIN");
    private readonly Option<string[]> _privileges = CommonOptions.Privilege();
    private readonly Option<FileInfo> _keyFile = CommonOptions.SigningKeyFile();
    private readonly Option<string?> _token = new("--token") { Description = "Bearer token to use instead of minting one." };
    private readonly Option<bool> _json = new("--json") { Description = "Print JSON instead of a table." };

    /// <summary>Adds the shared options to a command.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(_server);
        command.Options.Add(_account);
        command.Options.Add(_as);
        command.Options.Add(_role);
        command.Options.Add(_privileges);
        command.Options.Add(_keyFile);
        command.Options.Add(_token);
        command.Options.Add(_json);
    }

    public bool Json(ParseResult parse) => parse.GetValue(_json);

    public string Account(ParseResult parse) => parse.GetValue(_account)!;

    public string Server(ParseResult parse) => parse.GetValue(_server)!;

    /// <summary>
    /// Runs <paramref name="call"/> with a channel and admin (or, with <paramref name="service"/>,
    /// back-office) headers; the one place where failures become a message on stderr and an exit code.
    /// </summary>
    public async Task<int> RunAsync(ParseResult parse, Func<GrpcChannel, Metadata, Task<int>> call, bool service = false)
    {
        var server = parse.GetValue(_server)!;
        try
        {
            var token = parse.GetValue(_token) ?? DevTokens.Mint(
                CommonOptions.ReadKey(parse.GetValue(_keyFile)!),
                parse.GetValue(_account)!,
                parse.GetValue(_as)!,
                TimeSpan.FromMinutes(10),
                extraClaims: DevTokens.Claims(role: service ? null : parse.GetValue(_role), privileges: service ? null : parse.GetValue(_privileges), service: service));
            using var channel = GrpcChannel.ForAddress(server);
            return await call(channel, new Metadata { { "Authorization", "Bearer " + token } });
        }
        catch (Exception ex) when (ex is RpcException or CliException or InvalidOperationException)
        {
            return Fail(ex, server);
        }
    }

    /// <summary>Prints why a command failed and returns its exit code (see <see cref="ExitCodes"/>).</summary>
    public static int Fail(Exception failure, string server)
    {
        switch (failure)
        {
            case CliException cli:
                Console.Error.WriteLine("error: " + cli.Message);
                return cli.ExitCode;
            case RpcException { StatusCode: StatusCode.Unavailable or StatusCode.DeadlineExceeded } rpc when rpc.Status.DebugException is { } cause:
                // The transport failed: no broker answered at that address.
                Console.Error.WriteLine($"error: cannot reach the broker at {server}: {Innermost(cause).Message}");
                return ExitCodes.Unavailable;
            case RpcException rpc:
                var status = rpc.GetRpcStatus();
                var reason = status?.GetDetail<Google.Rpc.ErrorInfo>()?.Reason;
                var message = status?.GetDetail<Google.Rpc.LocalizedMessage>()?.Message ?? rpc.Status.Detail;
                Console.Error.WriteLine($"error: {rpc.StatusCode}{(reason is null ? string.Empty : " (" + reason + ")")}: {message}");
                foreach (var violation in status?.GetDetail<Google.Rpc.BadRequest>()?.FieldViolations ?? [])
                {
                    Console.Error.WriteLine($"  {violation.Field}: {violation.Description}");
                }

                return rpc.StatusCode switch
                {
                    StatusCode.NotFound => ExitCodes.NotFound,
                    StatusCode.Unavailable or StatusCode.DeadlineExceeded => ExitCodes.Unavailable,
                    _ => ExitCodes.Refused,
                };
            default:
                Console.Error.WriteLine("error: " + failure.Message);
                return ExitCodes.Usage;
        }
    }

    private static Exception Innermost(Exception exception) => exception.InnerException is { } inner ? Innermost(inner) : exception;

    /// <summary>Fails with <see cref="ExitCodes.NotFound"/> unless the account has <paramref name="product"/>.</summary>
    public static async Task RequireProductAsync(GrpcChannel channel, Metadata headers, string product)
    {
        var usage = await new Contracts.V1.SeatAdminService.SeatAdminServiceClient(channel).GetSeatUsageAsync(new Contracts.V1.GetSeatUsageRequest(), headers);
        if (!usage.Products.Any(p => p.Product == product))
        {
            throw new CliException(
                ExitCodes.NotFound,
                $"the account has no product '{product}' (it has: {string.Join(", ", usage.Products.Select(p => p.Product).DefaultIfEmpty("none"))})");
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

        return ExitCodes.Ok;
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
