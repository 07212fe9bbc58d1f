using System.CommandLine;
using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using LicenseBroker.Contracts.V1;

namespace LicenseBroker.Cli.Commands;

/// <summary>`plan seats`: how many shared seats a product needs, from its own history (PlanSeats).</summary>
internal static class PlanCommand
{
    public static Command Create() => new("plan", "What-if planning from the account's own history.") { Seats() };

    private static Command Seats()
    {
        var connection = new BrokerConnection();
        var product = new Option<string>("--product") { Description = "Product code.", DefaultValueFactory = _ => "remote-support" };
        var since = new Option<string>("--since") { Description = "How far back to replay, up to 400 days (e.g. 30d, 12h).", DefaultValueFactory = _ => "30d" };
        var candidates = new Option<int[]>("--seats") { Description = "Seat counts to try (default: the recorded peak - 10 to peak + 5).", AllowMultipleArgumentsPerToken = true };
        var maxUnserved = new Option<double?>("--max-unserved") { Description = "Largest acceptable share of the busiest hour's logins not served, in percent (default 1)." };
        var maxWait = new Option<string?>("--max-p95-wait") { Description = $"Longest acceptable 95th-percentile wait in the busiest hour (default 2m; {Durations.Help})." };
        var command = new Command("seats", "With N shared seats, how many logins would have been refused or would have waited, and how long?")
        {
            product, since, candidates, maxUnserved, maxWait,
        };
        connection.AddTo(command);
        command.Validators.Add(result =>
        {
            if (!Durations.TryParse(result.GetValue(since) ?? "", out _, out var error))
            {
                result.AddError($"--since: {error}");
            }

            if (result.GetValue(maxWait) is { } text && !Durations.TryParse(text, out _, out var waitError))
            {
                result.AddError($"--max-p95-wait: {waitError}");
            }
        });
        command.SetAction((parse, _) => connection.RunAsync(parse, async (channel, headers) =>
        {
            await BrokerConnection.RequireProductAsync(channel, headers, parse.GetValue(product)!);
            var back = Durations.TryParse(parse.GetValue(since)!, out var parsed, out string? _) ? parsed : TimeSpan.FromDays(30); // validated above
            var to = DateTimeOffset.UtcNow;
            var request = new PlanSeatsRequest
            {
                Product = parse.GetValue(product)!,
                From = Timestamp.FromDateTimeOffset(to - back),
                To = Timestamp.FromDateTimeOffset(to),
            };
            request.Candidates.AddRange(parse.GetValue(candidates) ?? []);
            if (parse.GetValue(maxUnserved) is { } percent)
            {
                request.MaxUnservedPercent = percent;
            }

            if (parse.GetValue(maxWait) is { } text && Durations.TryParse(text, out var wait, out string? _))
            {
                request.MaxP95Wait = Duration.FromTimeSpan(wait);
            }

            var plan = await new SeatAdminService.SeatAdminServiceClient(channel).PlanSeatsAsync(request, headers);
            return BrokerConnection.Print(connection.Json(parse), plan, () => Print(plan));
        }));
        return command;
    }

    private static void Print(PlanSeatsResponse plan)
    {
        Console.WriteLine($"{plan.Logins} logins replayed; {plan.SeatLimit} shared seats bought, recorded peak {plan.RecordedPeak}.");
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"Busiest hour: {plan.BusiestHour}, {plan.OfferedLoad:0.##} seats wanted on average (logins holding {Minutes(plan.MeanHold)}); {(plan.QueueAssumed ? "agents wait for a seat" : "agents without a seat leave")}."));
        Table.Print(
            ["SEATS", "REFUSED", "WAITED", "P95 WAIT", "MAX WAIT", "BUSIEST HOUR: UNSERVED", "P95 WAIT", ModelName(plan.Model), "IDLE SEAT-H", ""],
            plan.Candidates.Select(c => (IReadOnlyList<string>)[
                Text(c.Seats),
                Text(c.WholeRange.Refused + c.WholeRange.Abandoned),
                Text(c.WholeRange.Waited),
                Minutes(c.WholeRange.WaitP95),
                Minutes(c.WholeRange.WaitMax),
                string.Create(CultureInfo.InvariantCulture, $"{c.BusiestHour.UnservedPercent:0.##} %"),
                Minutes(c.BusiestHour.WaitP95),
                string.Create(CultureInfo.InvariantCulture, $"{c.ModelPercent:0.##} % (replay {c.ReplayPercent:0.##} %){(c.ModelDisagrees ? " differs" : "")}"),
                string.Create(CultureInfo.InvariantCulture, $"{c.WholeRange.IdleSeatHours:0.#}"),
                c.Recommended ? "<- recommended" : ""]));
        Console.WriteLine(plan.HasRecommendedSeats
            ? $"Recommended: {plan.RecommendedSeats} shared seats."
            : "None of these seat counts meets the thresholds in the busiest hour: try larger ones (--seats).");
    }

    private static string ModelName(PlanModel model) => model switch
    {
        PlanModel.ErlangC => "ERLANG C: NO SEAT AT ONCE",
        PlanModel.Engset => "ENGSET: NO SEAT AT ONCE",
        _ => "ERLANG B: NO SEAT AT ONCE",
    };

    private static string Minutes(Duration duration) =>
        string.Create(CultureInfo.InvariantCulture, $"{duration.ToTimeSpan().TotalMinutes:0.#} min");

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
