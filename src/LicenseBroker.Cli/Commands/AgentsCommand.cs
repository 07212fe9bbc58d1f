using System.CommandLine;
using LicenseBroker.Contracts.V1;

namespace LicenseBroker.Cli.Commands;

/// <summary>`agents list`, `seats assign|unassign` and `subscription show|set`.</summary>
internal static class AgentsCommand
{
    public static Command Agents()
    {
        var connection = new BrokerConnection();
        var product = new Option<string?>("--product") { Description = "Product code to filter on." };
        var seatType = new Option<string?>("--seat-type") { Description = "named, concurrent or none (needs --product)." };
        var list = new Command("list", "List agents with their seats.") { product, seatType };
        connection.AddTo(list);
        list.SetAction((parse, _) => connection.RunAsync(parse, async (channel, headers) =>
        {
            var client = new SeatAdminService.SeatAdminServiceClient(channel);
            var all = new ListAgentsResponse();
            var token = string.Empty;
            do
            {
                var page = await client.ListAgentsAsync(
                    new ListAgentsRequest
                    {
                        Product = parse.GetValue(product) ?? string.Empty,
                        SeatFilter = parse.GetValue(seatType)?.ToUpperInvariant() switch
                        {
                            "NAMED" => SeatFilter.Named,
                            "CONCURRENT" => SeatFilter.Concurrent,
                            "NONE" => SeatFilter.None,
                            _ => SeatFilter.Unspecified,
                        },
                        Page = new PageRequest { PageSize = 500, PageToken = token },
                    },
                    headers);
                all.Agents.AddRange(page.Agents);
                token = page.NextPageToken;
            }
            while (token.Length > 0);
            return BrokerConnection.Print(connection.Json(parse), all, () => Table.Print(
                ["AGENT", "NAME", "EMAIL", "ROLE", "SEATS"],
                all.Agents.Select(a => (IReadOnlyList<string>)[a.AgentId, a.DisplayName, a.Email, a.Role.ToString(),
                    string.Join(", ", a.Seats.Select(s => $"{s.Product}:{s.SeatType}"))])));
        }));
        return new Command("agents", "Agents of the account.") { list };
    }

    public static Command Seats()
    {
        var assignConnection = new BrokerConnection();
        var agent = new Option<string>("--agent-id") { Description = "Agent id.", Required = true };
        var product = new Option<string>("--product") { Description = "Product code.", DefaultValueFactory = _ => "remote-support" };
        var type = new Option<string>("--type") { Description = "named or concurrent.", Required = true };
        var assign = new Command("assign", "Give an agent a named or concurrent seat (switches type in one call).") { agent, product, type };
        assignConnection.AddTo(assign);
        assign.SetAction((parse, _) => assignConnection.RunAsync(parse, async (channel, headers) =>
        {
            var seatType = parse.GetValue(type)!.ToUpperInvariant() switch
            {
                "NAMED" => SeatType.Named,
                "CONCURRENT" => SeatType.Concurrent,
                _ => SeatType.Unspecified,
            };
            var response = await new SeatAdminService.SeatAdminServiceClient(channel).AssignSeatAsync(
                new AssignSeatRequest { AgentId = parse.GetValue(agent)!, Product = parse.GetValue(product)!, SeatType = seatType }, headers);
            return BrokerConnection.Print(assignConnection.Json(parse), response, () =>
                Console.WriteLine(response.Changed ? $"{parse.GetValue(agent)} now has a {response.Assignment.SeatType} seat of {response.Assignment.Product}" : "unchanged"));
        }));

        var unassignConnection = new BrokerConnection();
        var unassignAgent = new Option<string>("--agent-id") { Description = "Agent id.", Required = true };
        var unassignProduct = new Option<string>("--product") { Description = "Product code.", DefaultValueFactory = _ => "remote-support" };
        var unassign = new Command("unassign", "Remove an agent's seat; their live session ends.") { unassignAgent, unassignProduct };
        unassignConnection.AddTo(unassign);
        unassign.SetAction((parse, _) => unassignConnection.RunAsync(parse, async (channel, headers) =>
        {
            var response = await new SeatAdminService.SeatAdminServiceClient(channel).UnassignSeatAsync(
                new UnassignSeatRequest { AgentId = parse.GetValue(unassignAgent)!, Product = parse.GetValue(unassignProduct)! }, headers);
            return BrokerConnection.Print(unassignConnection.Json(parse), response, () =>
                Console.WriteLine(response.Removed ? $"seat removed, {response.LeasesEnded} live session(s) ended" : "the agent had no seat of this product"));
        }));
        return new Command("seats", "Seat assignments.") { assign, unassign };
    }

    public static Command Subscription()
    {
        var showConnection = new BrokerConnection();
        var product = new Option<string>("--product") { Description = "Product code.", DefaultValueFactory = _ => "remote-support" };
        var show = new Command("show", "Show the account's subscription to a product (back-office token).") { product };
        showConnection.AddTo(show);
        show.SetAction((parse, _) => showConnection.RunAsync(parse, async (channel, headers) =>
        {
            var response = await new SubscriptionService.SubscriptionServiceClient(channel).GetSubscriptionAsync(
                new GetSubscriptionRequest { AccountId = showConnection.Account(parse), Product = parse.GetValue(product)! }, headers);
            return BrokerConnection.Print(showConnection.Json(parse), response, () => PrintSubscription(response.Subscription));
        }, service: true));

        var setConnection = new BrokerConnection();
        var setProduct = new Option<string>("--product") { Description = "Product code.", DefaultValueFactory = _ => "remote-support" };
        var plan = new Option<string>("--plan") { Description = "trial or paid.", DefaultValueFactory = _ => "paid" };
        var validDays = new Option<int>("--valid-days") { Description = "Valid for this many days from now.", DefaultValueFactory = _ => 365 };
        var named = new Option<int>("--named") { Description = "Named-seat limit.", Required = true };
        var concurrent = new Option<int>("--concurrent") { Description = "Concurrent-seat limit.", Required = true };
        var unattended = new Option<int>("--unattended") { Description = "Unattended-machine limit.", DefaultValueFactory = _ => 0 };
        var set = new Command("set", "Create or change a subscription (back-office token).") { setProduct, plan, validDays, named, concurrent, unattended };
        setConnection.AddTo(set);
        set.SetAction((parse, _) => setConnection.RunAsync(parse, async (channel, headers) =>
        {
            var response = await new SubscriptionService.SubscriptionServiceClient(channel).UpsertSubscriptionAsync(
                new UpsertSubscriptionRequest
                {
                    Subscription = new Contracts.V1.Subscription
                    {
                        AccountId = setConnection.Account(parse),
                        Product = parse.GetValue(setProduct)!,
                        Plan = string.Equals(parse.GetValue(plan), "trial", StringComparison.OrdinalIgnoreCase) ? Plan.Trial : Plan.Paid,
                        ValidUntil = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(parse.GetValue(validDays))),
                        NamedSeatLimit = parse.GetValue(named),
                        ConcurrentSeatLimit = parse.GetValue(concurrent),
                        UnattendedDeviceLimit = parse.GetValue(unattended),
                    },
                },
                headers);
            return BrokerConnection.Print(setConnection.Json(parse), response, () => PrintSubscription(response.Subscription));
        }, service: true));
        return new Command("subscription", "Subscriptions (billing / back office).") { show, set };
    }

    private static void PrintSubscription(Contracts.V1.Subscription s) => Table.Print(
        ["ACCOUNT", "PRODUCT", "PLAN", "VALID UNTIL", "NAMED", "CONCURRENT", "UNATTENDED"],
        [[s.AccountId, s.Product, s.Plan.ToString(), Table.Time(s.ValidUntil), s.NamedSeatLimit.ToString(System.Globalization.CultureInfo.InvariantCulture),
            s.ConcurrentSeatLimit.ToString(System.Globalization.CultureInfo.InvariantCulture), s.UnattendedDeviceLimit.ToString(System.Globalization.CultureInfo.InvariantCulture)]]);
}
