using System.Globalization;
using CsvHelper;
using LicenseBroker.AdminCenter.Auth;
using LicenseBroker.AdminCenter.Broker;
using LicenseBroker.AdminCenter.Components.Shared;
using LicenseBroker.Contracts.V1;
using Microsoft.Extensions.Localization;

namespace LicenseBroker.AdminCenter.Extensions;

/// <summary>
/// GET /activity.csv: the Activity page's filtered log as CSV (RFC 4180, CsvHelper), streamed page by page through
/// the public ListAuditEvents (1,000 events a call), so any size is exported with one page in memory. Same
/// privileges as the page (the broker refuses the call otherwise), same filter parameters (kind, person, from, to).
/// </summary>
public static partial class ActivityExport
{
    private const int PageSize = 1000;

    public static void MapActivityExport(this WebApplication app) =>
        app.MapGet("/activity.csv", ExportAsync).RequireAuthorization(AdminClaims.AdminPolicy);

    private static async Task ExportAsync(
        HttpContext context, AdminBroker broker, IStringLocalizer<Text> text, ILogger<AdminBroker> logger, string? kind, string? person, string? from, string? to)
    {
        var cancellationToken = context.RequestAborted;

        // The first page before anything is written: a refusal is still an honest status code, not half a file.
        var usage = await broker.CallAsync(async (admin, headers) => await admin.GetSeatUsageAsync(new GetSeatUsageRequest(), headers));
        IReadOnlyList<ProductSeatUsage> products = usage.Value?.Products ?? [];
        string ProductName(string code) => PageBase.NameOf(products, code);
        // The person as the page resolves it; a text that matches several people is not a filter a file can be made of.
        var (personId, _, choices, unresolved) = await ActivityFilter.ResolvePersonAsync(broker, person);
        if (unresolved is not null || choices.Count > 0)
        {
            await WriteProblemAsync(context, unresolved ?? new BrokerProblem(Grpc.Core.StatusCode.InvalidArgument, "PERSON_AMBIGUOUS", text["WhichPerson", person ?? string.Empty], new Dictionary<string, string>()));
            return;
        }

        var page = await broker.CallAsync(async (admin, headers) => await admin.ListAuditEventsAsync(ActivityFilter.Request(kind, personId, from, to, PageSize, null), headers));
        if (page.Problem is { } problem)
        {
            await WriteProblemAsync(context, problem);
            return;
        }

        await using var csv = StartCsv(context, $"activity-{DateTime.UtcNow:yyyyMMdd-HHmm}.csv");
        // Words for people (actor_name, event, change) beside the codes and ids a script filters on.
        await csv.WriteRecordAsync(["occurred_at", "product", "actor", "actor_name", "action", "event", "subject", "subject_name", "change", "before", "after"], cancellationToken);
        while (true)
        {
            foreach (var e in page.Value!.Events)
            {
                csv.WriteField(e.OccurredAt.ToDateTimeOffset().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
                csv.WriteField(e.Product.Length == 0 ? string.Empty : ProductName(e.Product));
                csv.WriteField(e.Actor);
                csv.WriteField(ActivityFilter.Actor(text, e));
                csv.WriteField(e.Action);
                csv.WriteField(ActivityFilter.Told(text, e, ProductName));
                csv.WriteField(e.Subject);
                csv.WriteField(ActivityFilter.Subject(e));
                csv.WriteField(ActivityChange.Describe(text, e));
                csv.WriteField(e.BeforeJson);
                csv.WriteField(e.AfterJson);
                await csv.EndRecordAsync(cancellationToken);
            }

            await csv.FlushAsync(cancellationToken);
            if (page.Value.NextPageToken is not { Length: > 0 } next)
            {
                return;
            }

            page = await broker.CallAsync(async (admin, headers) => await admin.ListAuditEventsAsync(ActivityFilter.Request(kind, personId, from, to, PageSize, next), headers));
            if (page.Problem is { } failed)
            {
                // The file is under way: its status is sent. Ending the connection tells the browser the download
                // failed, where finishing it would hand over a file that silently lacks its end.
                LogExportCut(logger, failed.Message);
                context.Abort();
                return;
            }
        }
    }

    /// <summary>
    /// The answer becomes a CSV download named <paramref name="fileName"/>, for every export of the console: a byte order
    /// mark, so a spreadsheet reads the names as UTF-8; fields a spreadsheet would run as formulas (a display name
    /// "=HYPERLINK(...)" someone typed) are escaped.
    /// </summary>
    internal static CsvWriter StartCsv(HttpContext context, string fileName)
    {
        context.Response.ContentType = "text/csv; charset=utf-8";
        context.Response.Headers.ContentDisposition = $"attachment; filename=\"{fileName}\"";
        return CsvWriter.Create(context.Response.Body, new CsvWriterOptions { WriteByteOrderMark = true, Injection = CsvInjection.Escape }, leaveOpen: true);
    }

    /// <summary>A broker refusal as an honest HTTP status before anything else is written: 403, 400, or 503.</summary>
    internal static async Task WriteProblemAsync(HttpContext context, BrokerProblem problem)
    {
        context.Response.StatusCode = problem.NotAllowed ? StatusCodes.Status403Forbidden
            : problem.Code == Grpc.Core.StatusCode.InvalidArgument ? StatusCodes.Status400BadRequest
            : StatusCodes.Status503ServiceUnavailable;
        await context.Response.WriteAsync(problem.Message, context.RequestAborted);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The activity export was cut: {Problem}")]
    private static partial void LogExportCut(ILogger logger, string problem);
}
