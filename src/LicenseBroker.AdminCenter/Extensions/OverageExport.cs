using System.Globalization;
using CsvHelper;
using LicenseBroker.AdminCenter.Auth;
using LicenseBroker.AdminCenter.Broker;
using LicenseBroker.Contracts.V1;

namespace LicenseBroker.AdminCenter.Extensions;

/// <summary>
/// GET /overage.csv?product=…&amp;month=YYYY-MM: a product's overage statement for one month (this month by default) as CSV,
/// through the public GetOverageStatement, so the broker checks the privilege (MANAGE_SEATS) and computes the figures;
/// one line per UTC day, then the month's total. The same columns as the CLI's and REST's CSV.
/// </summary>
public static class OverageExport
{
    public static void MapOverageExport(this WebApplication app) =>
        app.MapGet("/overage.csv", ExportAsync).RequireAuthorization(AdminClaims.AdminPolicy);

    private static async Task ExportAsync(HttpContext context, AdminBroker broker, string? product, string? month)
    {
        var cancellationToken = context.RequestAborted;
        var now = DateTimeOffset.UtcNow;
        var first = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        if (month is { Length: > 0 } && !DateTimeOffset.TryParseExact(month + "-01", "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out first))
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync("month must be YYYY-MM", cancellationToken);
            return;
        }

        first = new DateTimeOffset(first.Year, first.Month, 1, 0, 0, 0, TimeSpan.Zero);
        var request = new GetOverageStatementRequest
        {
            Product = product ?? string.Empty,
            From = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(first),
            To = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(first.AddMonths(1)),
        };
        var statement = await broker.CallAsync(async (admin, headers) => await admin.GetOverageStatementAsync(request, headers));
        if (statement.Problem is { } problem)
        {
            await ActivityExport.WriteProblemAsync(context, problem);
            return;
        }

        await using var csv = ActivityExport.StartCsv(context, $"overage-{request.Product}-{first:yyyy-MM}.csv");
        await csv.WriteRecordAsync(["kind", "period", "overage_seat_seconds", "overage_seat_hours", "peak_overage_seats"], cancellationToken);
        foreach (var (kind, period) in statement.Value!.Days.Select(d => ("day", d)).Concat(statement.Value.Months.Select(m => ("month", m))))
        {
            csv.WriteField(kind);
            csv.WriteField(period.Period);
            csv.WriteField(period.OverageSeatSeconds.ToString("0.###", CultureInfo.InvariantCulture));
            csv.WriteField(period.OverageSeatHours.ToString("0.######", CultureInfo.InvariantCulture));
            csv.WriteField(period.PeakOverageSeats.ToString(CultureInfo.InvariantCulture));
            await csv.EndRecordAsync(cancellationToken);
        }

        await csv.FlushAsync(cancellationToken);
    }
}
