using System.CommandLine;
using System.Globalization;
using LicenseBroker.Contracts.V1;

namespace LicenseBroker.Cli.Commands;

/// <summary>`webhooks create|list|update|delete|rotate-secret|deliveries`: signed webhooks of the account (admin).</summary>
internal static class WebhooksCommand
{
    private const string Types = "seat.granted, seat.released, seat.expired, seat.force_released, seat.idle_released, seat.revived, seat.refused, pool.full, pool.threshold, pool.overage_started, pool.overage_changed, pool.overage_ended, queue.joined, queue.cancelled, queue.timed_out, queue.abandoned, agent.seat_changed";

    public static Command Create() =>
        new("webhooks", "Signed webhooks (Standard Webhooks) of the account's seat events (admin).") { CreateEndpoint(), List(), Update(), Delete(), Rotate(), Deliveries(), WebhookListenCommand.Create() };

    private static Command CreateEndpoint()
    {
        var connection = new BrokerConnection();
        var url = new Option<string>("--url") { Description = "https URL outside internal networks.", Required = true };
        var events = new Option<string[]>("--events") { Description = "Event types: " + Types + ".", Required = true, AllowMultipleArgumentsPerToken = true };
        var threshold = new Option<int?>("--threshold") { Description = "With pool.threshold: the share of shared seats in use (percent) to report." };
        var command = new Command("create", "Create an endpoint; prints its signing secret, shown this once.") { url, events, threshold };
        connection.AddTo(command);
        command.SetAction((parse, _) => connection.RunAsync(parse, async (channel, headers) =>
        {
            var request = new CreateWebhookEndpointRequest { Url = parse.GetValue(url)! };
            request.EventTypes.AddRange(parse.GetValue(events)!.SelectMany(e => e.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)));
            if (parse.GetValue(threshold) is { } percent)
            {
                request.ThresholdPercent = percent;
            }

            var response = await new SeatAdminService.SeatAdminServiceClient(channel).CreateWebhookEndpointAsync(request, headers);
            return BrokerConnection.Print(connection.Json(parse), response, () =>
            {
                Print([response.Endpoint]);
                Console.WriteLine($"secret: {response.Secret}   (verify the webhook-signature header with it; it is not shown again)");
            });
        }));
        return command;
    }

    private static Command List()
    {
        var connection = new BrokerConnection();
        var command = new Command("list", "List the endpoints with their state and undelivered messages.");
        connection.AddTo(command);
        command.SetAction((parse, _) => connection.RunAsync(parse, async (channel, headers) =>
        {
            var response = await new SeatAdminService.SeatAdminServiceClient(channel).ListWebhookEndpointsAsync(new ListWebhookEndpointsRequest(), headers);
            return BrokerConnection.Print(connection.Json(parse), response, () => Print(response.Endpoints));
        }));
        return command;
    }

    private static Command Update()
    {
        var connection = new BrokerConnection();
        var endpoint = new Option<string>("--endpoint") { Description = "Endpoint id (whe_...).", Required = true };
        var url = new Option<string?>("--url") { Description = "New URL (default: keep)." };
        var events = new Option<string[]?>("--events") { Description = "New event types (default: keep).", AllowMultipleArgumentsPerToken = true };
        var threshold = new Option<int?>("--threshold") { Description = "New threshold percent (default: keep)." };
        var enable = new Option<bool>("--enable") { Description = "Deliver again (after FAILING or DISABLED): what waits is retried in order." };
        var disable = new Option<bool>("--disable") { Description = "Pause deliveries; messages keep accumulating." };
        var command = new Command("update", "Change an endpoint; only what is given changes.") { endpoint, url, events, threshold, enable, disable };
        connection.AddTo(command);
        command.SetAction((parse, _) => connection.RunAsync(parse, async (channel, headers) =>
        {
            var client = new SeatAdminService.SeatAdminServiceClient(channel);
            var id = parse.GetValue(endpoint)!;
            var current = (await client.ListWebhookEndpointsAsync(new ListWebhookEndpointsRequest(), headers)).Endpoints.FirstOrDefault(e => e.EndpointId == id)
                ?? throw new CliException(ExitCodes.Refused, $"no webhook endpoint {id} in the account");
            var request = new UpdateWebhookEndpointRequest
            {
                EndpointId = id,
                Url = parse.GetValue(url) ?? current.Url,
                State = parse.GetValue(enable) ? WebhookEndpointState.Active : parse.GetValue(disable) ? WebhookEndpointState.Disabled : WebhookEndpointState.Unspecified,
            };
            request.EventTypes.AddRange(parse.GetValue(events) is { Length: > 0 } given
                ? given.SelectMany(e => e.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                : current.EventTypes);
            if ((parse.GetValue(threshold) ?? (current.HasThresholdPercent ? current.ThresholdPercent : null)) is { } percent)
            {
                request.ThresholdPercent = percent;
            }

            var response = await client.UpdateWebhookEndpointAsync(request, headers);
            return BrokerConnection.Print(connection.Json(parse), response, () => Print([response.Endpoint]));
        }));
        return command;
    }

    private static Command Delete()
    {
        var connection = new BrokerConnection();
        var endpoint = new Option<string>("--endpoint") { Description = "Endpoint id (whe_...).", Required = true };
        var command = new Command("delete", "Delete an endpoint with its undelivered messages and its log.") { endpoint };
        connection.AddTo(command);
        command.SetAction((parse, _) => connection.RunAsync(parse, async (channel, headers) =>
        {
            var response = await new SeatAdminService.SeatAdminServiceClient(channel).DeleteWebhookEndpointAsync(new DeleteWebhookEndpointRequest { EndpointId = parse.GetValue(endpoint)! }, headers);
            return BrokerConnection.Print(connection.Json(parse), response, () => Console.WriteLine(response.Deleted ? "deleted" : "no such endpoint"));
        }));
        return command;
    }

    private static Command Rotate()
    {
        var connection = new BrokerConnection();
        var endpoint = new Option<string>("--endpoint") { Description = "Endpoint id (whe_...).", Required = true };
        var command = new Command("rotate-secret", "A new signing secret; messages carry both signatures for a day.") { endpoint };
        connection.AddTo(command);
        command.SetAction((parse, _) => connection.RunAsync(parse, async (channel, headers) =>
        {
            var response = await new SeatAdminService.SeatAdminServiceClient(channel).RotateWebhookSecretAsync(new RotateWebhookSecretRequest { EndpointId = parse.GetValue(endpoint)! }, headers);
            return BrokerConnection.Print(connection.Json(parse), response, () =>
                Console.WriteLine($"secret: {response.Secret}   (the previous one also signs until {Table.Time(response.PreviousValidUntil)})"));
        }));
        return command;
    }

    private static Command Deliveries()
    {
        var connection = new BrokerConnection();
        var endpoint = new Option<string>("--endpoint") { Description = "Endpoint id (whe_...).", Required = true };
        var limit = new Option<int>("--limit") { Description = "Most recent attempts to show (1-1000).", DefaultValueFactory = _ => 50 };
        var command = new Command("deliveries", "The endpoint's delivery attempts, newest first.") { endpoint, limit };
        connection.AddTo(command);
        command.SetAction((parse, _) => connection.RunAsync(parse, async (channel, headers) =>
        {
            var response = await new SeatAdminService.SeatAdminServiceClient(channel).ListWebhookDeliveriesAsync(
                new ListWebhookDeliveriesRequest { EndpointId = parse.GetValue(endpoint)!, Page = new PageRequest { PageSize = Math.Clamp(parse.GetValue(limit), 1, 1000) } }, headers);
            return BrokerConnection.Print(connection.Json(parse), response, () => Table.Print(
                ["WHEN", "MESSAGE", "EVENT", "ATTEMPT", "STATUS", "ERROR", "MS"],
                response.Deliveries.Select(d => (IReadOnlyList<string>)[Table.Time(d.AttemptedAt), d.MessageId, d.EventType, Text(d.Attempt),
                    d.StatusCode == 0 ? "-" : Text(d.StatusCode), d.Error, Text(d.DurationMs)])));
        }));
        return command;
    }

    private static void Print(IEnumerable<WebhookEndpoint> endpoints) => Table.Print(
        ["ENDPOINT", "URL", "EVENTS", "STATE", "PENDING", "CREATED"],
        endpoints.Select(e => (IReadOnlyList<string>)[e.EndpointId, e.Url, string.Join(",", e.EventTypes) + (e.HasThresholdPercent ? $" ({Text(e.ThresholdPercent)} %)" : string.Empty),
            e.State.ToString().ToUpperInvariant(), Text(e.PendingMessages), Table.Time(e.CreatedAt)]));

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
