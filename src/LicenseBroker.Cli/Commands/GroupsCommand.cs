using System.CommandLine;
using System.Globalization;
using LicenseBroker.Contracts.V1;

namespace LicenseBroker.Cli.Commands;

/// <summary>`groups list|set|delete|reserve|unreserve`: agent groups and their shared seats.</summary>
internal static class GroupsCommand
{
    public static Command Create() =>
        new("groups", "Agent groups (teams) and the shared seats reserved or capped for them.") { List(), Set(), Delete(), Reserve(), Unreserve() };

    private static Command List()
    {
        var connection = new BrokerConnection();
        var group = new Option<string?>("--group") { Description = "One group, with its members." };
        var command = new Command("list", "List the account's groups with their seat rules.") { group };
        connection.AddTo(command);
        command.SetAction((parse, _) => connection.RunAsync(parse, async (channel, headers) =>
        {
            var response = await new SeatAdminService.SeatAdminServiceClient(channel).ListAgentGroupsAsync(
                new ListAgentGroupsRequest { GroupId = parse.GetValue(group) ?? string.Empty }, headers);
            return BrokerConnection.Print(connection.Json(parse), response, () =>
            {
                Table.Print(
                    ["GROUP", "NAME", "MEMBERS", "RULES"],
                    response.Groups.Select(g => (IReadOnlyList<string>)[g.GroupId, g.DisplayName, Text(g.MemberCount), Rules(g.Rules)]));
                foreach (var g in response.Groups.Where(g => g.MemberIds.Count > 0))
                {
                    Console.WriteLine($"{g.GroupId}: {string.Join(", ", g.MemberIds)}");
                }
            });
        }));
        return command;
    }

    private static Command Set()
    {
        var connection = new BrokerConnection();
        var group = new Option<string>("--group") { Description = "Group id.", Required = true };
        var name = new Option<string?>("--name") { Description = "Name shown to admins (a new group: its id)." };
        var members = new Option<string[]?>("--members") { Description = "The group's members from now on (agent ids); --members with no id empties it.", AllowMultipleArgumentsPerToken = true, Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("set", "Create or rename a group, and set its members when --members is given (MANAGE_USERS).") { group, name, members };
        connection.AddTo(command);
        command.SetAction((parse, _) => connection.RunAsync(parse, async (channel, headers) =>
        {
            var client = new SeatAdminService.SeatAdminServiceClient(channel);
            var id = parse.GetValue(group)!;
            var displayName = parse.GetValue(name);
            if (displayName is null)
            {
                // Keep the current name of an existing group.
                try
                {
                    var current = await client.ListAgentGroupsAsync(new ListAgentGroupsRequest { GroupId = id }, headers);
                    displayName = current.Groups.FirstOrDefault()?.DisplayName;
                }
                catch (Grpc.Core.RpcException ex) when (ex.StatusCode == Grpc.Core.StatusCode.NotFound)
                {
                }
            }

            var request = new UpsertAgentGroupRequest { GroupId = id, DisplayName = displayName ?? id };
            if (parse.GetResult(members) is not null)
            {
                request.ReplaceMembers = true;
                request.MemberIds.AddRange(parse.GetValue(members) ?? []);
            }

            var response = await client.UpsertAgentGroupAsync(request, headers);
            return BrokerConnection.Print(connection.Json(parse), response, () =>
                Console.WriteLine($"{(response.Created ? "created" : "updated")} {response.Group.GroupId} ({response.Group.DisplayName}): {response.Group.MemberCount} member(s)"));
        }));
        return command;
    }

    private static Command Delete()
    {
        var connection = new BrokerConnection();
        var group = new Option<string>("--group") { Description = "Group id.", Required = true };
        var command = new Command("delete", "Delete a group with its memberships and seat rules (MANAGE_USERS).") { group };
        connection.AddTo(command);
        command.SetAction((parse, _) => connection.RunAsync(parse, async (channel, headers) =>
        {
            var response = await new SeatAdminService.SeatAdminServiceClient(channel).DeleteAgentGroupAsync(new DeleteAgentGroupRequest { GroupId = parse.GetValue(group)! }, headers);
            return BrokerConnection.Print(connection.Json(parse), response, () => Console.WriteLine(response.Deleted ? "deleted" : "no such group"));
        }));
        return command;
    }

    private static Command Reserve()
    {
        var connection = new BrokerConnection();
        var product = new Option<string>("--product") { Description = "Product code.", DefaultValueFactory = _ => "remote-support" };
        var group = new Option<string>("--group") { Description = "Group id.", Required = true };
        var seats = new Option<int>("--seats") { Description = "Shared seats only the group's members take (0 for none).", DefaultValueFactory = _ => 0 };
        var max = new Option<int?>("--max") { Description = "At most this many of its members hold a shared seat at once (default: no cap)." };
        var overageMax = new Option<int?>("--overage-max") { Description = "At most this many of its members on seats beyond the purchased ones (overage) at once (default: only the pool's allowance)." };
        var priority = new Option<string?>("--priority")
        {
            Description = "Its members' class in the wait queue: incident, high, standard or background (default: standard). A higher class is served first; everyone moves one class up per age step waited.",
        };
        priority.AcceptOnlyFromAmong("incident", "high", "standard", "background");
        var command = new Command("reserve", "Reserve shared seats for a group, cap it, and/or set its queue class, in one product (MANAGE_SEATS).") { product, group, seats, max, overageMax, priority };
        connection.AddTo(command);
        command.SetAction((parse, _) => connection.RunAsync(parse, async (channel, headers) =>
        {
            var request = new SetGroupSeatRuleRequest { Product = parse.GetValue(product)!, GroupId = parse.GetValue(group)!, ReservedSeats = parse.GetValue(seats) };
            if (parse.GetValue(max) is { } cap)
            {
                request.MaxSeats = cap;
            }

            if (parse.GetValue(overageMax) is { } overageCap)
            {
                request.OverageMaxSeats = overageCap;
            }

            request.QueuePriority = parse.GetValue(priority) switch
            {
                "incident" => QueuePriority.Incident,
                "high" => QueuePriority.High,
                "standard" => QueuePriority.Standard,
                "background" => QueuePriority.Background,
                _ => QueuePriority.Unspecified,
            };

            var response = await new SeatAdminService.SeatAdminServiceClient(channel).SetGroupSeatRuleAsync(request, headers);
            return BrokerConnection.Print(connection.Json(parse), response, () =>
            {
                Console.WriteLine($"{response.Rule.GroupId}: {Rules([response.Rule])}");
                foreach (var warning in response.Warnings)
                {
                    Console.WriteLine($"warning ({warning.Code}): {warning.Message}");
                }
            });
        }));
        return command;
    }

    private static Command Unreserve()
    {
        var connection = new BrokerConnection();
        var product = new Option<string>("--product") { Description = "Product code.", DefaultValueFactory = _ => "remote-support" };
        var group = new Option<string>("--group") { Description = "Group id.", Required = true };
        var command = new Command("unreserve", "Remove a group's reservation and cap in one product (MANAGE_SEATS).") { product, group };
        connection.AddTo(command);
        command.SetAction((parse, _) => connection.RunAsync(parse, async (channel, headers) =>
        {
            var response = await new SeatAdminService.SeatAdminServiceClient(channel).RemoveGroupSeatRuleAsync(
                new RemoveGroupSeatRuleRequest { Product = parse.GetValue(product)!, GroupId = parse.GetValue(group)! }, headers);
            return BrokerConnection.Print(connection.Json(parse), response, () => Console.WriteLine(response.Removed ? "removed" : "the group had no rule there"));
        }));
        return command;
    }

    private static string Rules(IEnumerable<GroupSeatRule> rules) => string.Join(
        "; ",
        rules.Select(r => $"{r.Product}: {Text(r.ReservedSeats)} reserved" + (r.HasMaxSeats ? $", at most {Text(r.MaxSeats)}" : string.Empty)
            + (r.HasOverageMaxSeats ? $", at most {Text(r.OverageMaxSeats)} beyond the purchased seats" : string.Empty)
            + (r.QueuePriority is QueuePriority.Unspecified or QueuePriority.Standard ? string.Empty : $", waits as {PriorityName(r.QueuePriority)}")));

    /// <summary>A queue class as the CLI's flags name it.</summary>
    internal static string PriorityName(QueuePriority priority) => priority switch
    {
        QueuePriority.Incident => "incident",
        QueuePriority.High => "high",
        QueuePriority.Background => "background",
        _ => "standard",
    };

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
