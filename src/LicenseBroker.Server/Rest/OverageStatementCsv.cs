using System.Globalization;
using CsvHelper;
using LicenseBroker.Domain.Administration;
using LicenseBroker.Server.Grpc;
using LicenseBroker.Server.Identity;

namespace LicenseBroker.Server.Rest;

/// <summary>
/// GET /v1/admin/products/{product}/overage-statement.csv?from=…&amp;to=…: the overage statement (GetOverageStatement)
/// as CSV (RFC 4180, CsvHelper) for a billing system: one line per UTC day, then one per month. Same token, privilege
/// (MANAGE_SEATS), validation and reports' limit as the RPC; from and to are RFC 3339 instants.
/// </summary>
internal static class OverageStatementCsv
{
    public const string Path = "/v1/admin/products/{product}/overage-statement.csv";

    public static void MapOverageStatementCsv(this WebApplication app) =>
        app.MapGet(Path, ExportAsync).RequireAuthorization(BrokerPolicies.ManageSeats);

    private static async Task<IResult> ExportAsync(
        HttpContext context, UsageReports reports, ReportAdmission admission, string product, string? from, string? to)
    {
        var accountId = CallerIdentity.Agent(context).AccountId;
        var problems = new Dictionary<string, string[]>();
        if (!RequestValidation.IsProduct(product))
        {
            problems["product"] = ["must be a product code"];
        }

        DateTimeOffset Instant(string? text, string field)
        {
            if (text is { Length: > 0 and <= 64 } && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var instant)
                && instant.Year is >= 2000 and < 2200)
            {
                return instant;
            }

            problems[field] = ["must be an RFC 3339 instant, e.g. 2026-12-01T00:00:00Z"];
            return default;
        }

        var start = Instant(from, "from");
        var end = Instant(to, "to");
        if (problems.Count == 0 && (end <= start || end - start > OverageStatement.MaxRange))
        {
            problems["to"] = ["must be after from, at most 400 days later"];
        }

        if (problems.Count > 0)
        {
            return Results.ValidationProblem(problems);
        }

        using var permit = admission.TryEnterHistory(accountId);
        if (permit is null)
        {
            context.Response.Headers.RetryAfter = "1";
            return Results.Problem("Your account is already running the most usage reports allowed at once; try again in a moment.", statusCode: StatusCodes.Status429TooManyRequests);
        }

        var (days, months) = await reports.GetOverageStatementAsync(accountId, product, start, end, context.RequestAborted);
        await using var text = new StringWriter(CultureInfo.InvariantCulture);
        await using (var csv = CsvWriter.Create(text, new CsvWriterOptions { Injection = CsvInjection.Escape }))
        {
            await csv.WriteRecordAsync(["kind", "period", "overage_seat_seconds", "overage_seat_hours", "peak_overage_seats"], context.RequestAborted);
            foreach (var (kind, period) in days.Select(d => ("day", d)).Concat(months.Select(m => ("month", m))))
            {
                csv.WriteField(kind);
                csv.WriteField(period.Period);
                csv.WriteField(period.SeatSeconds.ToString("0.###", CultureInfo.InvariantCulture));
                csv.WriteField(period.SeatHours.ToString("0.######", CultureInfo.InvariantCulture));
                csv.WriteField(period.PeakSeats.ToString(CultureInfo.InvariantCulture));
                await csv.EndRecordAsync(context.RequestAborted);
            }
        }

        // At most 400 days and 14 months: small, built whole so that a failure is an honest status, not half a file.
        return Results.Text(text.ToString(), "text/csv; charset=utf-8");
    }
}
