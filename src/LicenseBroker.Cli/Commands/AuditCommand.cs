using System.CommandLine;
using Google.Protobuf.WellKnownTypes;
using LicenseBroker.Contracts.V1;

namespace LicenseBroker.Cli.Commands;

/// <summary>
/// `audit list`: the account's audit log, newest first (ListAuditEvents); `audit retention [--set DAYS]`: how long the
/// account's events are kept (Get/SetEventRetention). ADMIN only.
/// </summary>
internal static class AuditCommand
{
    public static Command Create()
    {
        var connection = new BrokerConnection();
        var product = new Option<string?>("--product") { Description = "Only events of this product." };
        var action = new Option<string[]>("--action")
        {
            Description = "Only this kind: a category (seat, agent, subscription, device, provisioning) or an action (seat.refused). Repeatable.",
            AllowMultipleArgumentsPerToken = false,
        };
        var since = new Option<string?>("--since") { Description = "Only events this long ago or later, e.g. 2h, 7d." };
        var limit = new Option<int>("--limit") { Description = "At most this many events (newest first).", DefaultValueFactory = _ => 100 };
        var agentFilter = new Option<string?>("--agent") { Description = "Only the events naming this agent (who did it or whom it concerns): an access request's export with --json." };
        var list = new Command("list", "List audit events, newest first.") { product, action, since, limit, agentFilter };
        connection.AddTo(list);
        limit.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() is < 1 or > 100_000)
            {
                result.AddError("--limit must be between 1 and 100000");
            }
        });
        list.Validators.Add(result =>
        {
            if (result.GetValue(since) is { } text && !Durations.TryParse(text, out _, out var error))
            {
                result.AddError($"--since: {error}");
            }
        });
        list.SetAction((parse, _) => connection.RunAsync(parse, async (channel, headers) =>
        {
            var client = new SeatAdminService.SeatAdminServiceClient(channel);
            var wanted = parse.GetValue(limit);
            var request = new ListAuditEventsRequest { Product = parse.GetValue(product) ?? string.Empty, AgentId = parse.GetValue(agentFilter) ?? string.Empty };
            request.Actions.AddRange(parse.GetValue(action) ?? []);
            if (parse.GetValue(since) is { } text && Durations.TryParse(text, out var ago, out string? _))
            {
                request.From = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow - ago);
            }

            var all = new ListAuditEventsResponse();
            do
            {
                request.Page = new PageRequest { PageSize = Math.Min(1000, wanted - all.Events.Count), PageToken = all.NextPageToken };
                var page = await client.ListAuditEventsAsync(request, headers);
                all.Events.AddRange(page.Events);
                all.NextPageToken = page.NextPageToken;
            }
            while (all.NextPageToken.Length > 0 && all.Events.Count < wanted);
            return BrokerConnection.Print(connection.Json(parse), all, () => Table.Print(
                ["WHEN (UTC)", "PRODUCT", "ACTOR", "ACTION", "SUBJECT"],
                all.Events.Select(e => (IReadOnlyList<string>)[
                    e.OccurredAt.ToDateTimeOffset().ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture),
                    e.Product, e.Actor, e.Action, e.Subject])));
        }));
        return new Command("audit", "The account's audit log.") { list, Retention() };
    }

    private static Command Retention()
    {
        var connection = new BrokerConnection();
        var set = new Option<int?>("--set") { Description = "Keep the account's events this many days from now on: 90, 180, 400 (default), 730 or 1825." };
        var retention = new Command("retention", "How long the account's events (audit log, webhook messages, deliveries) are kept; --set changes it.") { set };
        connection.AddTo(retention);
        retention.SetAction((parse, _) => connection.RunAsync(parse, async (channel, headers) =>
        {
            var client = new SeatAdminService.SeatAdminServiceClient(channel);
            var reply = parse.GetValue(set) is { } days
                ? await client.SetEventRetentionAsync(new SetEventRetentionRequest { RetentionDays = days }, headers)
                : await client.GetEventRetentionAsync(new GetEventRetentionRequest(), headers);
            return BrokerConnection.Print(connection.Json(parse), reply, () => Table.Print(
                ["RETENTION (DAYS)", "ALLOWED"],
                [[reply.RetentionDays.ToString(System.Globalization.CultureInfo.InvariantCulture), string.Join(", ", reply.AllowedDays)]]));
        }));
        return retention;
    }
}
