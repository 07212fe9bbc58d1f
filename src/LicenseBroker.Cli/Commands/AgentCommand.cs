using System.CommandLine;
using Grpc.Core;
using LicenseBroker.Client;
using LicenseBroker.Contracts.V1;

namespace LicenseBroker.Cli.Commands;

/// <summary>
/// `agent login`: plays an agent app with the agent SDK (LicenseBroker.Client) — acquire or wait,
/// heartbeats, revocation, release on Ctrl-C — exactly as an app built on the SDK behaves.
/// </summary>
internal static class AgentCommand
{
    public static Command Create()
    {
        var server = new Option<string>("--server")
        {
            Description = "Broker address.",
            DefaultValueFactory = _ => "http://127.0.0.1:5080",
        };
        var product = new Option<string>("--product") { Description = "Product code.", DefaultValueFactory = _ => "remote-support" };
        var account = CommonOptions.Account();
        var agent = CommonOptions.Agent();
        var keyFile = CommonOptions.SigningKeyFile();
        var token = new Option<string?>("--token") { Description = "Bearer token to use instead of minting one." };
        var device = new Option<string>("--device") { Description = "Device id.", DefaultValueFactory = _ => Environment.MachineName.ToLowerInvariant() };
        var platform = new Option<Platform>("--platform") { Description = "Device platform.", DefaultValueFactory = _ => Platform.Linux };
        var kind = new Option<SessionKind>("--session-kind") { Description = "Session kind.", DefaultValueFactory = _ => SessionKind.Pending };
        var duration = CommonOptions.Duration("--for", "Release after this long (default: until Ctrl-C)");
        var wait = new Option<bool>("--wait") { Description = "When all shared seats are in use, wait in the queue for one (WaitForSeat) instead of giving up." };
        var language = CommonOptions.Language();

        var login = new Command("login", "Take a seat, keep it with heartbeats, release it on Ctrl-C (or after --for).")
        {
            server, product, account, agent, keyFile, token, device, platform, kind, duration, wait, language,
        };
        login.SetAction(async (parse, cancellationToken) =>
        {
            var address = parse.GetValue(server)!;
            try
            {
                var bearer = parse.GetValue(token) ?? DevTokens.Mint(
                    CommonOptions.ReadKey(parse.GetValue(keyFile)!), parse.GetValue(account)!, parse.GetValue(agent)!, TimeSpan.FromHours(8));
                using var broker = new LicenseBrokerClient(new LicenseBrokerClientOptions
                {
                    Address = new Uri(address),
                    AccessTokenProvider = _ => ValueTask.FromResult(bearer),
                    Language = parse.GetValue(language),

                    // A person at a terminal: say so after a few seconds rather than the SDK's 30.
                    AcquireRetryLimit = TimeSpan.FromSeconds(3),
                });

                using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                if (parse.GetValue(duration) is { } limit)
                {
                    stop.CancelAfter(limit);
                }

                return await RunAsync(
                    broker,
                    parse.GetValue(product)!,
                    new Device { Id = parse.GetValue(device)!, Platform = parse.GetValue(platform) },
                    parse.GetValue(kind),
                    parse.GetValue(wait),
                    stop.Token);
            }
            catch (LicenseBrokerException ex)
            {
                return BrokerConnection.Fail((RpcException)ex.InnerException!, address);
            }
            catch (Exception ex) when (ex is InvalidOperationException or UriFormatException or ArgumentException)
            {
                return BrokerConnection.Fail(ex, address);
            }
        });

        return new Command("agent", "Act as an agent app.") { login };
    }

    private static async Task<int> RunAsync(LicenseBrokerClient broker, string product, Device device, SessionKind kind, bool wait, CancellationToken stop)
    {
        SeatLease seat;
        try
        {
            seat = wait
                ? await broker.WaitForSeatAsync(product, device, kind, new Progress(position => Console.WriteLine(
                    position.LocalizedMessage.Length > 0
                        ? "waiting: " + position.LocalizedMessage
                        : $"waiting: position {position.Position} of {position.Waiting}, {position.SeatsInUse} seat(s) in use")), stop)
                : await broker.AcquireSeatAsync(product, device, kind, stop);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("stopped before a seat was granted");
            return ExitCodes.Ok;
        }

        await using (seat)
        {
            var lease = seat.Lease;
            Console.WriteLine($"seat acquired: {lease.SeatType} lease {lease.LeaseId} fencing token {lease.FencingToken}, expires {seat.ExpiresAt:O}; heartbeat every {lease.HeartbeatIntervalSeconds}s (Ctrl-C releases)");
            seat.Renewed += (_, renewed) => Console.WriteLine($"heartbeat ok: expires {renewed.ExpiresAt.ToDateTimeOffset():O}");
            using var either = CancellationTokenSource.CreateLinkedTokenSource(stop, seat.LossToken);
            try
            {
                await Task.Delay(Timeout.Infinite, either.Token);
            }
            catch (OperationCanceledException) when (seat.Loss is { } loss)
            {
                Console.Error.WriteLine(loss.Reason == SeatLossReason.Revoked
                    ? $"lease revoked by {loss.RevokedBy}: {loss.Message}"
                    : $"lease lost ({loss.Reason}): {loss.Message}");
                return ExitCodes.SeatLost;
            }
            catch (OperationCanceledException)
            {
                // Ctrl-C or --for elapsed: disposing the seat gives it back.
            }
        }

        Console.WriteLine("seat released");
        return ExitCodes.Ok;
    }

    /// <summary>Reports queue progress as it comes (Progress&lt;T&gt; would post to a context a console app has not).</summary>
    private sealed class Progress(Action<QueuePosition> report) : IProgress<QueuePosition>
    {
        public void Report(QueuePosition value) => report(value);
    }
}
