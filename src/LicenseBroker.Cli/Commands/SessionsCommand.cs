using System.CommandLine;
using LicenseBroker.Contracts.V1;

namespace LicenseBroker.Cli.Commands;

/// <summary>`sessions list` and `sessions end`: the admin center's shared sessions.</summary>
internal static class SessionsCommand
{
    public static Command Create()
    {
        return new Command("sessions", "Live shared sessions of the account.") { List(), End(), Timeouts() };
    }

    private static Command List()
    {
        var connection = new BrokerConnection();
        var product = new Option<string>("--product") { Description = "Product code.", DefaultValueFactory = _ => "remote-support" };
        var command = new Command("list", "List every live shared session.") { product };
        connection.AddTo(command);
        command.SetAction((parse, _) => connection.RunAsync(parse, async (channel, headers) =>
        {
            await BrokerConnection.RequireProductAsync(channel, headers, parse.GetValue(product)!);
            var client = new SeatAdminService.SeatAdminServiceClient(channel);
            var all = new ListSharedSessionsResponse();
            var token = string.Empty;
            do
            {
                var page = await client.ListSharedSessionsAsync(
                    new ListSharedSessionsRequest { Product = parse.GetValue(product)!, Page = new PageRequest { PageSize = 500, PageToken = token } }, headers);
                all.Sessions.AddRange(page.Sessions);
                all.TotalSessions = page.TotalSessions;
                all.SeatsInUse = page.SeatsInUse;
                if (token.Length == 0)
                {
                    all.Queue.AddRange(page.Queue);
                    all.AgentsWaiting = page.AgentsWaiting;
                }

                token = page.NextPageToken;
            }
            while (token.Length > 0);

            return BrokerConnection.Print(connection.Json(parse), all, () =>
            {
                Table.Print(
                    ["LEASE", "AGENT", "NAME", "EMAIL", "DEVICE", "PLATFORM", "KIND", "GROUP", "STARTED", "LAST HEARTBEAT", "EXPIRES"],
                    all.Sessions.Select(s => (IReadOnlyList<string>)[s.LeaseId, s.AgentId, s.DisplayName, s.Email, s.Device.Id, s.Device.Platform.ToString(),
                        s.SessionKind.ToString(), s.GroupId.Length == 0 ? "-" : s.GroupId + (s.OnReservedSeat ? " (reserved)" : string.Empty),
                        Table.Time(s.StartedAt), Table.Time(s.LastHeartbeatAt), Table.Time(s.ExpiresAt)]));
                Console.WriteLine($"{all.TotalSessions} session(s), {all.SeatsInUse} shared seat(s) in use");
                if (all.AgentsWaiting > 0)
                {
                    Console.WriteLine();
                    Table.Print(
                        ["WAITING", "AGENT", "NAME", "EMAIL", "CLASS", "SINCE", "GIVES UP AT"],
                        all.Queue.Select(q => (IReadOnlyList<string>)[
                            q.Position.ToString(System.Globalization.CultureInfo.InvariantCulture), q.AgentId, q.DisplayName, q.Email, GroupsCommand.PriorityName(q.Priority),
                            Table.Time(q.WaitingSince), q.WaitDeadline is null ? "-" : Table.Time(q.WaitDeadline)]));
                    Console.WriteLine($"{all.AgentsWaiting} agent(s) waiting for a seat");
                }
            });
        }));
        return command;
    }

    private static Command End()
    {
        var connection = new BrokerConnection();
        var product = new Option<string>("--product") { Description = "Product code.", DefaultValueFactory = _ => "remote-support" };
        var leases = new Argument<string[]>("lease") { Description = "Lease ids to end.", Arity = ArgumentArity.ZeroOrMore };
        var agents = new Option<string[]>("--agent") { Description = "End every session of these agents (repeatable).", AllowMultipleArgumentsPerToken = true };
        var yes = new Option<bool>("--yes", "-y") { Description = "Do not ask for confirmation." };
        var command = new Command("end", "End sessions to free their seats (asks for confirmation).") { leases, product, agents, yes };
        connection.AddTo(command);
        command.SetAction((parse, _) =>
        {
            var leaseIds = parse.GetValue(leases) ?? [];
            var agentIds = parse.GetValue(agents) ?? [];
            if (leaseIds.Length + agentIds.Length == 0)
            {
                Console.Error.WriteLine("error: name lease ids, or --agent, to end.");
                return Task.FromResult(ExitCodes.Usage);
            }

            if (!parse.GetValue(yes)
                && !CommonOptions.Confirmed($"End {string.Join(", ", leaseIds.Concat(agentIds.Select(a => "every session of " + a)))}? The agents lose their seats.", "ended"))
            {
                return Task.FromResult(ExitCodes.NotConfirmed);
            }

            return connection.RunAsync(parse, async (channel, headers) =>
            {
                await BrokerConnection.RequireProductAsync(channel, headers, parse.GetValue(product)!);
                var request = new ForceReleaseRequest { Product = parse.GetValue(product)! };
                request.LeaseIds.AddRange(leaseIds);
                request.AgentIds.AddRange(agentIds);
                var response = await new SeatAdminService.SeatAdminServiceClient(channel).ForceReleaseAsync(request, headers);
                BrokerConnection.Print(connection.Json(parse), response, () =>
                {
                    foreach (var session in response.Released)
                    {
                        Console.WriteLine($"ended {session.LeaseId} ({session.AgentId} on {session.Device.Id})");
                    }

                    Console.WriteLine($"{response.Released.Count} session(s) ended");
                });

                // What was named but not ended was not live: say so, and exit non-zero, rather than "0 ended".
                var missing = leaseIds.Where(id => response.Released.All(s => s.LeaseId != id)).Select(id => $"lease {id}")
                    .Concat(agentIds.Where(id => response.Released.All(s => s.AgentId != id)).Select(id => $"agent {id}"))
                    .ToList();
                if (missing.Count > 0)
                {
                    throw new CliException(ExitCodes.NotFound, $"no live session of {string.Join(", ", missing)} in {parse.GetValue(product)} (unknown, or already ended)");
                }

                return ExitCodes.Ok;
            });
        });
        return command;
    }

    /// <summary>The account's own pending and idle timeouts of a product (admin token), the same fields the back office sets.</summary>
    private static Command Timeouts()
    {
        var connection = new BrokerConnection();
        var product = new Option<string>("--product") { Description = "Product code.", DefaultValueFactory = _ => "remote-support" };
        var pendingTimeout = CommonOptions.TimeoutOrOff("--pending-timeout", "Take the seat back from a session still PENDING this long");
        var idleTimeout = CommonOptions.TimeoutOrOff("--idle-timeout", "Take the seat back from a session whose user is idle this long");
        var command = new Command("timeouts", "Show, or change only what is given of, when seats are taken back from pending or idle sessions.") { product, pendingTimeout, idleTimeout };
        connection.AddTo(command);
        command.SetAction((parse, _) => connection.RunAsync(parse, async (channel, headers) =>
        {
            var client = new SeatAdminService.SeatAdminServiceClient(channel);
            var usage = (await client.GetSeatUsageAsync(new GetSeatUsageRequest { Product = parse.GetValue(product)! }, headers)).Products
                .SingleOrDefault() ?? throw new CliException(ExitCodes.NotFound, $"the account has no subscription to {parse.GetValue(product)}");
            var response = new SetSessionTimeoutsResponse { PendingTimeoutSeconds = usage.PendingTimeoutSeconds, IdleTimeoutSeconds = usage.IdleTimeoutSeconds };
            if (parse.GetValue(pendingTimeout) is not null || parse.GetValue(idleTimeout) is not null)
            {
                response = await client.SetSessionTimeoutsAsync(
                    new SetSessionTimeoutsRequest
                    {
                        Product = parse.GetValue(product)!,
                        PendingTimeoutSeconds = parse.GetValue(pendingTimeout) is { } pending ? Durations.Seconds(pending) : usage.PendingTimeoutSeconds,
                        IdleTimeoutSeconds = parse.GetValue(idleTimeout) is { } idle ? Durations.Seconds(idle) : usage.IdleTimeoutSeconds,
                    },
                    headers);
            }

            return BrokerConnection.Print(connection.Json(parse), response, () =>
                Console.WriteLine($"pending timeout: {Durations.SecondsOrOff(response.PendingTimeoutSeconds)}, idle timeout: {Durations.SecondsOrOff(response.IdleTimeoutSeconds)}"));
        }));
        return command;
    }
}
