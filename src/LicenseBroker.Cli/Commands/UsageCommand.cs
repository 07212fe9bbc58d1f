using System.CommandLine;
using System.Globalization;
using CsvHelper;
using LicenseBroker.Contracts.V1;

namespace LicenseBroker.Cli.Commands;

/// <summary>`usage`, `usage history` and `usage overage`: the Seats &amp; Devices numbers and the overage statement.</summary>
internal static class UsageCommand
{
    public static Command Create()
    {
        var connection = new BrokerConnection();
        var product = new Option<string?>("--product") { Description = "Product code (default: every product)." };
        var command = new Command("usage", "Seats & Devices: seats used and bought, machines, today's peak and refusals.") { product, History(), Overage() };
        connection.AddTo(command);
        command.SetAction((parse, _) => connection.RunAsync(parse, async (channel, headers) =>
        {
            if (parse.GetValue(product) is { } code)
            {
                await BrokerConnection.RequireProductAsync(channel, headers, code);
            }

            var response = await new SeatAdminService.SeatAdminServiceClient(channel).GetSeatUsageAsync(
                new GetSeatUsageRequest { Product = parse.GetValue(product) ?? string.Empty }, headers);
            return BrokerConnection.Print(connection.Json(parse), response, () =>
            {
                Table.Print(
                    ["PRODUCT", "CODE", "NAMED", "CONCURRENT IN USE", "WAITING", "ELIGIBLE", "PEAK TODAY", "REFUSED TODAY", "RECLAIMED TODAY", "UNATTENDED", "MONITORED"],
                    response.Products.Select(p => (IReadOnlyList<string>)[
                        p.DisplayName, p.Product,
                        p.Unlimited ? "unlimited" : $"{p.NamedSeatsAssigned}/{p.NamedSeatLimit}", p.Unlimited ? "unlimited" : $"{p.ConcurrentSeatsInUse}/{p.ConcurrentSeatLimit}", Text(p.AgentsWaiting),
                        Text(p.ConcurrentEligibleAgents), Text(p.ConcurrentPeakToday), Text(p.RefusalsToday), Text(p.SeatsReclaimedToday),
                        $"{p.UnattendedDevicesInUse}/{p.UnattendedDeviceLimit}", Text(p.MonitoredDevices)]));

                // Why new sessions are refused while seats look free: said under the table, which keeps its columns.
                foreach (var p in response.Products.Where(p => p.RecoveringUntil is not null))
                {
                    Console.WriteLine(
                        $"{p.DisplayName} is rebuilding after Redis lost its live data: sessions in progress come back by themselves, new ones are refused until {p.RecoveringUntil.ToDateTimeOffset():yyyy-MM-dd HH:mm:ss} UTC.");
                }
            });
        }));
        return command;
    }

    private static Command History()
    {
        var connection = new BrokerConnection();
        var product = new Option<string>("--product") { Description = "Product code.", DefaultValueFactory = _ => "remote-support" };
        var days = new Option<int>("--days") { Description = "How many days back from today (UTC), 1 to 366.", DefaultValueFactory = _ => 7 };
        days.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() is < 1 or > 366)
            {
                result.AddError("--days must be between 1 and 366");
            }
        });
        var command = new Command("history", "Per-day peak of shared seats, refusals and distinct agents.") { product, days };
        connection.AddTo(command);
        command.SetAction((parse, _) => connection.RunAsync(parse, async (channel, headers) =>
        {
            await BrokerConnection.RequireProductAsync(channel, headers, parse.GetValue(product)!);
            var to = DateTime.UtcNow.Date;
            var from = to.AddDays(1 - parse.GetValue(days));
            var response = await new SeatAdminService.SeatAdminServiceClient(channel).GetUsageHistoryAsync(
                new GetUsageHistoryRequest
                {
                    Product = parse.GetValue(product)!,
                    From = from.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
                    To = to.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
                },
                headers);
            return BrokerConnection.Print(connection.Json(parse), response, () => Table.Print(
                ["DAY", "PEAK", "NAMED", "REFUSED", "AGENTS", "WAITS", "GAVE UP"],
                response.Days.Select(d => (IReadOnlyList<string>)[d.Day, Text(d.PeakConcurrent), Text(d.NamedAgents), Text(d.Refused), Text(d.DistinctAgents), Text(d.QueueJoins), Text(d.QueueAbandoned)])));
        }));
        return command;
    }

    /// <summary>`usage overage`: the overage statement (GetOverageStatement), a table, JSON, or CSV for a billing system.</summary>
    private static Command Overage()
    {
        var connection = new BrokerConnection();
        var product = new Option<string>("--product") { Description = "Product code.", DefaultValueFactory = _ => "remote-support" };
        var from = new Option<DateOnly?>("--from") { Description = "First day (UTC, YYYY-MM-DD; default: the first of this month)." };
        var to = new Option<DateOnly?>("--to") { Description = "Last day (UTC, YYYY-MM-DD, inclusive; default: today)." };
        var csv = new Option<bool>("--csv") { Description = "CSV (RFC 4180): one line per day, then one per month." };
        var command = new Command("overage", "Overage statement: seat-hours beyond the purchased shared seats and peak overage seats, per day and month.")
        {
            product, from, to, csv,
        };
        connection.AddTo(command);
        command.SetAction((parse, _) => connection.RunAsync(parse, async (channel, headers) =>
        {
            await BrokerConnection.RequireProductAsync(channel, headers, parse.GetValue(product)!);
            var today = DateOnly.FromDateTime(DateTime.UtcNow);
            var first = parse.GetValue(from) ?? new DateOnly(today.Year, today.Month, 1);
            var last = parse.GetValue(to) ?? today;
            var response = await new SeatAdminService.SeatAdminServiceClient(channel).GetOverageStatementAsync(
                new GetOverageStatementRequest
                {
                    Product = parse.GetValue(product)!,
                    From = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTime(first.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc)),
                    To = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTime(last.AddDays(1).ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc)),
                },
                headers);
            var periods = response.Days.Select(d => ("day", d)).Concat(response.Months.Select(m => ("month", m))).ToList();
            if (parse.GetValue(csv))
            {
                await using var stdout = Console.OpenStandardOutput();
                await using var writer = CsvWriter.Create(stdout, new CsvWriterOptions { Injection = CsvInjection.Escape }, leaveOpen: true);
                await writer.WriteRecordAsync(["kind", "period", "overage_seat_seconds", "overage_seat_hours", "peak_overage_seats"], CancellationToken.None);
                foreach (var (kind, p) in periods)
                {
                    writer.WriteField(kind);
                    writer.WriteField(p.Period);
                    writer.WriteField(p.OverageSeatSeconds.ToString("0.###", CultureInfo.InvariantCulture));
                    writer.WriteField(p.OverageSeatHours.ToString("0.######", CultureInfo.InvariantCulture));
                    writer.WriteField(Text(p.PeakOverageSeats));
                    await writer.EndRecordAsync(CancellationToken.None);
                }

                await writer.FlushAsync(CancellationToken.None);
                return ExitCodes.Ok;
            }

            return BrokerConnection.Print(connection.Json(parse), response, () => Table.Print(
                ["PERIOD", "OVERAGE SEAT-HOURS", "PEAK OVERAGE SEATS"],
                periods.Select(x => (IReadOnlyList<string>)[x.Item2.Period, x.Item2.OverageSeatHours.ToString("0.###", CultureInfo.InvariantCulture), Text(x.Item2.PeakOverageSeats)])));
        }));
        return command;
    }

    private static string Text(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
