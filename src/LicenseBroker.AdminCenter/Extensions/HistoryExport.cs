using System.Globalization;
using CsvHelper;
using LicenseBroker.AdminCenter.Auth;
using LicenseBroker.AdminCenter.Broker;
using LicenseBroker.Contracts.V1;

namespace LicenseBroker.AdminCenter.Extensions;

/// <summary>
/// GET /history.csv?product=&amp;days=30|90|365: the Usage history page's days as CSV, from the public GetUsageHistory, the same
/// privileges as the page (the broker refuses the call otherwise). Days are UTC dates, as the broker counts them.
/// </summary>
public static class HistoryExport
{
    public static void MapHistoryExport(this WebApplication app) =>
        app.MapGet("/history.csv", ExportAsync).RequireAuthorization(AdminClaims.SeatsPolicy);

    private static async Task ExportAsync(HttpContext context, AdminBroker broker, TimeProvider time, string? product, int? days)
    {
        var cancellationToken = context.RequestAborted;
        var span = days is 90 or 365 ? days.Value : 30;
        var today = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        var request = new GetUsageHistoryRequest
        {
            Product = product ?? string.Empty,
            From = today.AddDays(1 - span).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            To = today.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        };
        var history = await broker.CallAsync(async (admin, headers) => await admin.GetUsageHistoryAsync(request, headers));
        if (history.Problem is { } problem)
        {
            await ActivityExport.WriteProblemAsync(context, problem);
            return;
        }

        await using var csv = ActivityExport.StartCsv(context, $"history-{request.Product}-{request.From}-{request.To}.csv");
        await csv.WriteRecordAsync(["day", "peak_concurrent", "named_agents", "refused", "distinct_agents", "queue_joins", "queue_abandoned"], cancellationToken);
        foreach (var d in history.Value!.Days)
        {
            csv.WriteField(d.Day);
            csv.WriteField(d.PeakConcurrent.ToString(CultureInfo.InvariantCulture));
            csv.WriteField(d.NamedAgents.ToString(CultureInfo.InvariantCulture));
            csv.WriteField(d.Refused.ToString(CultureInfo.InvariantCulture));
            csv.WriteField(d.DistinctAgents.ToString(CultureInfo.InvariantCulture));
            csv.WriteField(d.QueueJoins.ToString(CultureInfo.InvariantCulture));
            csv.WriteField(d.QueueAbandoned.ToString(CultureInfo.InvariantCulture));
            await csv.EndRecordAsync(cancellationToken);
        }

        await csv.FlushAsync(cancellationToken);
    }
}
