using System.CommandLine;
using LicenseBroker.Contracts.V1;
using LicenseBroker.Cli;

namespace LicenseBroker.Cli.Commands;

/// <summary>`agents list`, `seats assign|unassign` and `subscription show|set`.</summary>
internal static class AgentsCommand
{
    public static Command Agents()
    {
        var connection = new BrokerConnection();
        var product = new Option<string?>("--product") { Description = "Product code to filter on." };
        var seatType = CommonOptions.Choice("--seat-type", "Only agents with this kind of seat of --product.", ["NAMED", "CONCURRENT", "NONE"]);
        var query = new Option<string?>("--query") { Description = "Only agents whose id, e-mail or name contains this text." };
        var list = new Command("list", "List agents with their seats.") { product, seatType, query };
        connection.AddTo(list);
        list.Validators.Add(result =>
        {
            if (result.GetValue(seatType) is { Length: > 0 } && result.GetValue(product) is null)
            {
                result.AddError("--seat-type needs --product");
            }
        });
        list.SetAction((parse, _) => connection.RunAsync(parse, async (channel, headers) =>
        {
            if (parse.GetValue(product) is { } code)
            {
                await BrokerConnection.RequireProductAsync(channel, headers, code);
            }

            var client = new SeatAdminService.SeatAdminServiceClient(channel);
            var all = new ListAgentsResponse();
            var token = string.Empty;
            do
            {
                var page = await client.ListAgentsAsync(
                    new ListAgentsRequest
                    {
                        Product = parse.GetValue(product) ?? string.Empty,
                        SeatFilter = parse.GetValue(seatType) switch
                        {
                            "NAMED" => SeatFilter.Named,
                            "CONCURRENT" => SeatFilter.Concurrent,
                            "NONE" => SeatFilter.None,
                            _ => SeatFilter.Unspecified,
                        },
                        Page = new PageRequest { PageSize = 500, PageToken = token },
                        Query = parse.GetValue(query) ?? string.Empty,
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
        return new Command("agents", "Agents of the account.") { list, Erase() };
    }

    /// <summary>`agents erase ID`: removes a person for good (their id, name and e-mail replaced everywhere), after a confirmation.</summary>
    private static Command Erase()
    {
        var connection = new BrokerConnection();
        var agent = new Argument<string>("agent-id") { Description = "The agent to erase." };
        var yes = new Option<bool>("--yes", "-y") { Description = "Do not ask for confirmation." };
        var erase = new Command("erase", "Erase a person for good: live sessions end, seats go, and their id, name and e-mail become an opaque id in every event (export them first: audit list --agent ID --json).") { agent, yes };
        connection.AddTo(erase);
        erase.SetAction((parse, _) =>
        {
            if (!parse.GetValue(yes)
                && !CommonOptions.Confirmed($"Erase {parse.GetValue(agent)} for good? Their sessions end and their name and e-mail are removed from every event; this cannot be undone.", "erased"))
            {
                return Task.FromResult(ExitCodes.NotConfirmed);
            }

            return connection.RunAsync(parse, async (channel, headers) =>
            {
                var response = await new SeatAdminService.SeatAdminServiceClient(channel).EraseAgentAsync(new EraseAgentRequest { AgentId = parse.GetValue(agent)! }, headers);
                return BrokerConnection.Print(connection.Json(parse), response, () =>
                    Console.WriteLine($"erased: now {response.ErasedId} in {response.EventsRewritten} event(s); {response.LeasesEnded} live session(s) ended"));
            });
        });
        return erase;
    }

    public static Command Seats()
    {
        var assignConnection = new BrokerConnection();
        var agent = new Option<string>("--agent-id") { Description = "Agent id.", Required = true };
        var product = new Option<string>("--product") { Description = "Product code.", DefaultValueFactory = _ => "remote-support" };
        var type = CommonOptions.Choice("--type", "The kind of seat.", ["NAMED", "CONCURRENT"]);
        type.Required = true;
        var dryRun = new Option<bool>("--dry-run") { Description = "Change nothing: say what the change would do and which live sessions it would end." };
        var assign = new Command("assign", "Give an agent a named or concurrent seat (switches type in one call; the agent's live sessions of the product end).") { agent, product, type, dryRun };
        assignConnection.AddTo(assign);
        assign.SetAction((parse, _) => assignConnection.RunAsync(parse, async (channel, headers) =>
        {
            await BrokerConnection.RequireProductAsync(channel, headers, parse.GetValue(product)!);
            var seatType = parse.GetValue(type) == "NAMED" ? SeatType.Named : SeatType.Concurrent;
            var response = await new SeatAdminService.SeatAdminServiceClient(channel).AssignSeatAsync(
                new AssignSeatRequest { AgentId = parse.GetValue(agent)!, Product = parse.GetValue(product)!, SeatType = seatType, ValidateOnly = parse.GetValue(dryRun) }, headers);
            return BrokerConnection.Print(assignConnection.Json(parse), response, () =>
            {
                if (parse.GetValue(dryRun))
                {
                    Console.WriteLine(response.Changed
                        ? $"would give {parse.GetValue(agent)} a {response.Assignment.SeatType} seat of {response.Assignment.Product}, ending {SessionsText(response.SessionsToEnd)}"
                        : "would change nothing");
                    return;
                }

                Console.WriteLine(response.Changed ? $"{parse.GetValue(agent)} now has a {response.Assignment.SeatType} seat of {response.Assignment.Product}" : "unchanged");
            });
        }));

        var unassignConnection = new BrokerConnection();
        var unassignAgent = new Option<string>("--agent-id") { Description = "Agent id.", Required = true };
        var unassignProduct = new Option<string>("--product") { Description = "Product code.", DefaultValueFactory = _ => "remote-support" };
        var unassignDryRun = new Option<bool>("--dry-run") { Description = "Change nothing: say whether a seat would be removed and which live sessions would end." };
        var unassign = new Command("unassign", "Remove an agent's seat; their live session ends.") { unassignAgent, unassignProduct, unassignDryRun };
        unassignConnection.AddTo(unassign);
        unassign.SetAction((parse, _) => unassignConnection.RunAsync(parse, async (channel, headers) =>
        {
            await BrokerConnection.RequireProductAsync(channel, headers, parse.GetValue(unassignProduct)!);
            var response = await new SeatAdminService.SeatAdminServiceClient(channel).UnassignSeatAsync(
                new UnassignSeatRequest { AgentId = parse.GetValue(unassignAgent)!, Product = parse.GetValue(unassignProduct)!, ValidateOnly = parse.GetValue(unassignDryRun) }, headers);
            if (!response.Removed)
            {
                throw new CliException(ExitCodes.NotFound, $"agent {parse.GetValue(unassignAgent)} has no seat of {parse.GetValue(unassignProduct)} (unknown agent, or no seat)");
            }

            return BrokerConnection.Print(unassignConnection.Json(parse), response, () =>
                Console.WriteLine(parse.GetValue(unassignDryRun)
                    ? $"would remove the seat, ending {SessionsText(response.SessionsToEnd)}"
                    : $"seat removed, {response.LeasesEnded} live {(response.LeasesEnded == 1 ? "session" : "sessions")} ended"));
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
        var plan = CommonOptions.Choice("--plan", "Plan (a new subscription: paid).", ["TRIAL", "PAID"]);
        var validDays = new Option<int?>("--valid-days") { Description = "Valid for this many days from now, 1 to 3650 (a new subscription: 365)." };
        validDays.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int?>() is < 1 or > 3650)
            {
                result.AddError("--valid-days must be between 1 and 3650");
            }
        });
        var named = new Option<int?>("--named") { Description = "Named-seat limit (a new subscription needs it)." };
        var concurrent = new Option<int?>("--concurrent") { Description = "Concurrent-seat limit (a new subscription needs it)." };
        var unattended = new Option<int?>("--unattended") { Description = "Unattended-machine limit (a new subscription: 0)." };
        var pendingTimeout = CommonOptions.TimeoutOrOff("--pending-timeout", "Take the seat back from a session still PENDING this long (a new subscription: off)");
        var idleTimeout = CommonOptions.TimeoutOrOff("--idle-timeout", "Take the seat back from a session whose user is idle this long (a new subscription: off)");
        var reviveWindow = CommonOptions.TimeoutOrOff("--revive-window", "Give an expired session back to its own app this long after it expired, when nobody needed the seat (0 to 15m; a new subscription: 5m)");
        var queueMax = new Option<int?>("--queue-max") { Description = "At most this many agents wait for a shared seat (0: twice the shared seats, at least 20)." };
        var queueMaxWait = CommonOptions.TimeoutOrOff("--queue-max-wait", "A wait for a seat ends after this long (QUEUE_TIMEOUT; up to 24h; 0: the broker's default, 10m)");
        var queueAgeStep = CommonOptions.TimeoutOrOff("--queue-age-step", "A waiter moves one priority class up per this long waited (up to 1h; 0: the broker's default, 2m)");
        var outageGrace = CommonOptions.TimeoutOrOff("--outage-grace", "Keep a running session valid this long past its expiry while the broker cannot be reached (0 to 15m; a new subscription: 5m)");
        var overageMode = new Option<string?>("--overage-mode") { Description = "Seats beyond --concurrent when all are taken: none, alert (newcomers), burst (waiters too)." };
        overageMode.AcceptOnlyFromAmong("none", "alert", "burst");
        var overageSeats = new Option<int?>("--overage-seats") { Description = "The overage allowance in seats (replaces a percent)." };
        var overagePercent = new Option<int?>("--overage-percent") { Description = "The overage allowance in percent of --concurrent, rounded up (replaces seats)." };
        var set = new Command(
            "set",
            "Create a subscription, or change only the options given of an existing one (back-office token).")
        {
            setProduct, plan, validDays, named, concurrent, unattended, pendingTimeout, idleTimeout, reviveWindow, outageGrace, overageMode, overageSeats, overagePercent,
            queueMax, queueMaxWait, queueAgeStep,
        };
        setConnection.AddTo(set);
        set.SetAction((parse, _) => setConnection.RunAsync(parse, async (channel, headers) =>
        {
            var client = new SubscriptionService.SubscriptionServiceClient(channel);
            Contracts.V1.Subscription subscription;
            try
            {
                subscription = (await client.GetSubscriptionAsync(
                    new GetSubscriptionRequest { AccountId = setConnection.Account(parse), Product = parse.GetValue(setProduct)! }, headers)).Subscription;
            }
            catch (Grpc.Core.RpcException ex) when (ex.StatusCode == Grpc.Core.StatusCode.NotFound)
            {
                if (parse.GetValue(named) is null || parse.GetValue(concurrent) is null)
                {
                    throw new CliException(ExitCodes.Usage, $"{setConnection.Account(parse)} has no subscription to {parse.GetValue(setProduct)} yet: give --named and --concurrent to create it");
                }

                subscription = new Contracts.V1.Subscription
                {
                    AccountId = setConnection.Account(parse),
                    Product = parse.GetValue(setProduct)!,
                    Plan = Plan.Paid,
                    ValidUntil = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(365)),
                };
            }

            // Only what was given changes; everything else is kept as it is.
            if (parse.GetValue(plan) is { Length: > 0 } planName)
            {
                subscription.Plan = planName == "TRIAL" ? Plan.Trial : Plan.Paid;
            }

            if (parse.GetValue(validDays) is { } days)
            {
                subscription.ValidUntil = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(days));
            }

            subscription.NamedSeatLimit = parse.GetValue(named) ?? subscription.NamedSeatLimit;
            subscription.ConcurrentSeatLimit = parse.GetValue(concurrent) ?? subscription.ConcurrentSeatLimit;
            subscription.UnattendedDeviceLimit = parse.GetValue(unattended) ?? subscription.UnattendedDeviceLimit;
            subscription.PendingTimeoutSeconds = parse.GetValue(pendingTimeout) is { } pending ? Durations.Seconds(pending) : subscription.PendingTimeoutSeconds;
            subscription.IdleTimeoutSeconds = parse.GetValue(idleTimeout) is { } idle ? Durations.Seconds(idle) : subscription.IdleTimeoutSeconds;

            // Unset on the wire keeps the stored value; the broker says when a value is out of range.
            if (parse.GetValue(reviveWindow) is { } revive)
            {
                subscription.ReviveWindowSeconds = Durations.Seconds(revive);
            }
            else
            {
                subscription.ClearReviveWindowSeconds();
            }

            // Queue terms: given, they change; not given, the stored ones stay.
            subscription.QueueMaxWaiters = parse.GetValue(queueMax) ?? subscription.QueueMaxWaiters;
            if (parse.GetValue(queueMaxWait) is { } maxWait)
            {
                subscription.QueueMaxWaitSeconds = Durations.Seconds(maxWait);
            }

            if (parse.GetValue(queueAgeStep) is { } ageStep)
            {
                subscription.QueueAgeStepSeconds = Durations.Seconds(ageStep);
            }

            if (parse.GetValue(overageMode) is { } mode)
            {
                subscription.OverageMode = mode switch { "alert" => OverageMode.Alert, "burst" => OverageMode.Burst, _ => OverageMode.None };
            }
            else
            {
                subscription.ClearOverageMode();
            }

            // One unit replaces the other; neither given keeps the stored allowance.
            subscription.ClearOverageSeats();
            subscription.ClearOveragePercent();
            if (parse.GetValue(overageSeats) is { } seats)
            {
                subscription.OverageSeats = seats;
                subscription.OveragePercent = 0;
            }

            if (parse.GetValue(overagePercent) is { } percent)
            {
                subscription.OveragePercent = percent;
                subscription.OverageSeats = parse.GetValue(overageSeats) ?? 0;
            }

            if (parse.GetValue(outageGrace) is { } grace)
            {
                subscription.OutageGraceSeconds = Durations.Seconds(grace);
            }
            else
            {
                subscription.ClearOutageGraceSeconds();
            }

            var response = await client.UpsertSubscriptionAsync(new UpsertSubscriptionRequest { Subscription = subscription }, headers);
            return BrokerConnection.Print(setConnection.Json(parse), response, () => PrintSubscription(response.Subscription));
        }, service: true));
        return new Command("subscription", "Subscriptions (billing / back office).") { show, set };
    }

    private static void PrintSubscription(Contracts.V1.Subscription s) => Table.Print(
        ["ACCOUNT", "PRODUCT", "PLAN", "VALID UNTIL", "NAMED", "CONCURRENT", "UNATTENDED", "PENDING TIMEOUT", "IDLE TIMEOUT", "REVIVE WINDOW", "OUTAGE GRACE", "OVERAGE", "QUEUE"],
        [[s.AccountId, s.Product, s.Plan.ToString(), Table.Time(s.ValidUntil), s.NamedSeatLimit.ToString(System.Globalization.CultureInfo.InvariantCulture),
            s.ConcurrentSeatLimit.ToString(System.Globalization.CultureInfo.InvariantCulture), s.UnattendedDeviceLimit.ToString(System.Globalization.CultureInfo.InvariantCulture),
            Durations.SecondsOrOff(s.PendingTimeoutSeconds), Durations.SecondsOrOff(s.IdleTimeoutSeconds), Durations.SecondsOrOff(s.ReviveWindowSeconds), Durations.SecondsOrOff(s.OutageGraceSeconds), OverageText(s), QueueText(s)]]);

    /// <summary>"default", or "at most 40, 5m max wait, 1m age step" (only the terms the subscription sets).</summary>
    private static string QueueText(Contracts.V1.Subscription s)
    {
        var parts = new List<string>();
        if (s.QueueMaxWaiters > 0)
        {
            parts.Add($"at most {s.QueueMaxWaiters.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        }

        if (s.QueueMaxWaitSeconds > 0)
        {
            parts.Add($"{Durations.SecondsOrOff(s.QueueMaxWaitSeconds)} max wait");
        }

        if (s.QueueAgeStepSeconds > 0)
        {
            parts.Add($"{Durations.SecondsOrOff(s.QueueAgeStepSeconds)} age step");
        }

        return parts.Count == 0 ? "default" : string.Join(", ", parts);
    }

    /// <summary>"none", "alert +3 seats", "burst +25 %".</summary>
    private static string OverageText(Contracts.V1.Subscription s) => s.OverageMode is OverageMode.Alert or OverageMode.Burst
        ? $"{s.OverageMode.ToString().ToLowerInvariant()} +{(s.OveragePercent > 0 ? $"{s.OveragePercent} %" : $"{s.OverageSeats} seats")}"
        : "none";

    /// <summary>"no live session", "1 live session (desk-7)", "2 live sessions (desk-7, phone-2)".</summary>
    private static string SessionsText(Google.Protobuf.Collections.RepeatedField<Contracts.V1.SharedSession> sessions) => sessions.Count switch
    {
        0 => "no live session",
        1 => $"1 live session ({sessions[0].Device.Id})",
        _ => $"{sessions.Count} live sessions ({string.Join(", ", sessions.Select(x => x.Device.Id))})",
    };

}
