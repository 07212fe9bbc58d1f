using System.CommandLine;
using Grpc.Core;
using Grpc.Net.Client;
using LicenseBroker.Contracts.V1;

namespace LicenseBroker.Cli.Commands;

/// <summary>`agent login`: plays an agent app — acquire, heartbeat at the server's interval, release on Ctrl-C.</summary>
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
        var session = new Option<string>("--session") { Description = "Session id (reuse it to resume).", DefaultValueFactory = _ => "cli-" + Guid.NewGuid().ToString("N")[..12] };
        var duration = new Option<TimeSpan?>("--for") { Description = "Release after this long (default: until Ctrl-C)." };
        var wait = new Option<bool>("--wait") { Description = "When all shared seats are in use, wait in the queue for one (WaitForSeat) instead of giving up." };

        var login = new Command("login", "Take a seat, keep it with heartbeats, release it on Ctrl-C.")
        {
            server, product, account, agent, keyFile, token, device, platform, kind, session, duration, wait,
        };
        login.SetAction(async (parse, cancellationToken) =>
        {
            var bearer = parse.GetValue(token) ?? DevTokens.Mint(
                CommonOptions.ReadKey(parse.GetValue(keyFile)!), parse.GetValue(account)!, parse.GetValue(agent)!, TimeSpan.FromHours(8));
            using var channel = GrpcChannel.ForAddress(parse.GetValue(server)!);
            var client = new SeatService.SeatServiceClient(channel);
            var headers = new Metadata { { "Authorization", "Bearer " + bearer } };

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            if (parse.GetValue(duration) is { } limit)
            {
                stop.CancelAfter(limit);
            }

            return await RunAsync(
                client,
                headers,
                new AcquireSeatRequest
                {
                    Product = parse.GetValue(product)!,
                    SessionId = parse.GetValue(session)!,
                    Device = new Device { Id = parse.GetValue(device)!, Platform = parse.GetValue(platform) },
                    SessionKind = parse.GetValue(kind),
                },
                parse.GetValue(wait),
                stop.Token);
        });

        return new Command("agent", "Act as an agent app.") { login };
    }

    private static async Task<Lease> WaitAsync(SeatService.SeatServiceClient client, Metadata headers, AcquireSeatRequest request, CancellationToken stop)
    {
        using var call = client.WaitForSeat(
            new WaitForSeatRequest { Product = request.Product, SessionId = request.SessionId, Device = request.Device, SessionKind = request.SessionKind },
            headers,
            cancellationToken: stop);
        while (await call.ResponseStream.MoveNext(stop))
        {
            var update = call.ResponseStream.Current;
            if (update.UpdateCase == WaitForSeatResponse.UpdateOneofCase.Granted)
            {
                return update.Granted;
            }

            Console.WriteLine($"waiting: position {update.Position.Position} of {update.Position.Waiting}, {update.Position.SeatsInUse} seat(s) in use");
        }

        throw new RpcException(new Status(StatusCode.Unavailable, "the wait ended without a seat"));
    }

    /// <summary>Cancels <paramref name="revoked"/> when an admin ends the lease; returns who did, or null.</summary>
    private static async Task<string?> WatchAsync(SeatService.SeatServiceClient client, Metadata headers, Lease lease, CancellationTokenSource revoked)
    {
        string? revokedBy = null;
        try
        {
            using var call = client.WatchLease(new WatchLeaseRequest { Product = lease.Product, LeaseId = lease.LeaseId }, headers, cancellationToken: revoked.Token);
            while (await call.ResponseStream.MoveNext(revoked.Token))
            {
                if (call.ResponseStream.Current.Status == LeaseStatus.Revoked)
                {
                    revokedBy = call.ResponseStream.Current.RevokedBy;
                    await revoked.CancelAsync();
                }
            }
        }
        catch (RpcException)
        {
            // Watching is a convenience: the heartbeats still tell the truth.
        }
        catch (OperationCanceledException)
        {
        }

        return revokedBy;
    }

    private static async Task<int> RunAsync(SeatService.SeatServiceClient client, Metadata headers, AcquireSeatRequest request, bool wait, CancellationToken stop)
    {
        Lease lease;
        try
        {
            lease = wait ? await WaitAsync(client, headers, request, stop) : (await client.AcquireSeatAsync(request, headers, cancellationToken: stop)).Lease;
        }
        catch (RpcException ex)
        {
            Console.Error.WriteLine($"acquire refused: {ex.StatusCode}: {ex.Status.Detail}");
            return 2;
        }

        // Learn at once when an admin ends the session, not only at the next heartbeat.
        var userStop = stop;
        using var revoked = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var watch = WatchAsync(client, headers, lease, revoked);
        stop = revoked.Token;

        Console.WriteLine($"seat acquired: {lease.SeatType} lease {lease.LeaseId} fencing token {lease.FencingToken}, expires {lease.ExpiresAt.ToDateTimeOffset():O}; heartbeat every {lease.HeartbeatIntervalSeconds}s (Ctrl-C releases)");
        var interval = TimeSpan.FromSeconds(Math.Max(1, lease.HeartbeatIntervalSeconds));
        try
        {
            while (true)
            {
                await Task.Delay(interval, stop);
                try
                {
                    lease = (await client.HeartbeatAsync(
                        new HeartbeatRequest
                        {
                            Product = lease.Product, LeaseId = lease.LeaseId, SessionId = lease.SessionId, FencingToken = lease.FencingToken, LeaseProof = lease.LeaseProof,
                            Device = request.Device, SessionKind = request.SessionKind,
                        },
                        headers,
                        cancellationToken: stop)).Lease;
                    Console.WriteLine($"heartbeat ok: expires {lease.ExpiresAt.ToDateTimeOffset():O}");
                }
                catch (RpcException ex) when (ex.StatusCode is StatusCode.NotFound or StatusCode.FailedPrecondition)
                {
                    Console.Error.WriteLine($"lease lost: {ex.StatusCode}: {ex.Status.Detail}");
                    return 3;
                }
                catch (RpcException ex)
                {
                    // A transient failure: keep the lease and try at the next beat (the TTL leaves room for it).
                    Console.Error.WriteLine($"heartbeat failed, will retry: {ex.StatusCode}: {ex.Status.Detail}");
                }
            }
        }
        catch (OperationCanceledException) when (!userStop.IsCancellationRequested)
        {
            // Neither Ctrl-C nor --for: the watch ended the session because an admin revoked it.
            Console.Error.WriteLine($"lease revoked by {await watch}");
            return 3;
        }
        catch (OperationCanceledException)
        {
            // Ctrl-C or --for elapsed: give the seat back.
        }

        var released = await client.ReleaseSeatAsync(new ReleaseSeatRequest { Product = lease.Product, LeaseId = lease.LeaseId }, headers, deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: CancellationToken.None);
        Console.WriteLine(released.Released ? "seat released" : "seat was already released");
        return 0;
    }
}
