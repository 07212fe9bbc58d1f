using System.Runtime.CompilerServices;
using Dapper;
using LicenseBroker.Domain.Planning;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Resilience;
using Npgsql;

namespace LicenseBroker.Storage.Postgres;

/// <summary>
/// A pool's seat events for the planner, from audit_events in pages of <see cref="PageSize"/> rows: a year of a
/// large pool is streamed through, never held. Pages follow the pool's sequence (event_seq, unique per pool and
/// indexed), which is the order the pool made the changes in.
/// </summary>
public sealed class PostgresSeatEventHistory : ISeatEventHistory
{
    public const int PageSize = 5000;

    // A pool's sequence is never below the Redis clock of the call that made the event, in microseconds
    // (Scripts/library/10_finish.lua journal()), and an event's time is never after its call: so an event of the range has a
    // sequence from from_ms * 1000. The end is looser: an expiry is recorded when a call finds it, at the
    // moment it expired; those found up to LateEventMargin after the range's end are read too.
    private static readonly TimeSpan LateEventMargin = TimeSpan.FromDays(1);

    private const string PageSql = """
        SELECT occurred_at AS At, action AS Action, subject AS Agent, after->>'lease_id' AS Lease,
               CASE WHEN after ? 'in_use' THEN (after->>'in_use')::int > 0 END AS TookSharedSeat, event_seq AS Seq
        FROM audit_events
        WHERE account_id = @account AND product_code = @product
          AND event_seq > @after AND event_seq <= @last
          AND occurred_at >= @from AND occurred_at < @to
          AND occurred_at >= now() - make_interval(days => lb_event_retention_days(@account))
          AND action = ANY(@actions)
        ORDER BY event_seq
        LIMIT @limit
        """;

    // The seat events the planner replays (a re-established lease was live before the loss: no change of occupancy; the
    // pool's overage events say the pool crossed its purchased count, which the planner counts from the grants itself).
    private static readonly string[] Actions =
        [.. SeatEventKinds.All.Where(n => n.Kind is not (SeatEventKind.Reestablished or SeatEventKind.OverageStarted or SeatEventKind.OverageChanged or SeatEventKind.OverageEnded)).Select(n => n.AuditAction)];

    private readonly NpgsqlDataSource _dataSource;
    private readonly BackendPipelines _pipelines;

    public PostgresSeatEventHistory(NpgsqlDataSource dataSource, BackendPipelines pipelines)
    {
        _dataSource = dataSource;
        _pipelines = pipelines;
    }

    public async IAsyncEnumerable<RecordedEvent> ReadAsync(
        PoolId pool, DateTimeOffset from, DateTimeOffset to, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // The range reaches SQL as it is: callers validate it; a range beyond that is a bug, not a long query.
        if (to <= from || to - from > PlanQuestion.MaxRange || from.Year < 2000 || to.Year > 2199)
        {
            throw new ArgumentOutOfRangeException(nameof(to), $"Planning range {from:O}..{to:O} is outside what callers validate.");
        }

        var after = from.ToUnixTimeMilliseconds() * 1000 - 1;
        var last = (to + LateEventMargin).ToUnixTimeMilliseconds() * 1000;
        while (true)
        {
            // Each page is one short read, retried on a transient fault (it only reads) on the reports pipeline.
            var page = await _pipelines.PostgresReports.ExecuteAsync(
                async ct =>
                {
                    await using var connection = await _dataSource.OpenConnectionAsync(ct);
                    return (await connection.QueryAsync<Row>(new CommandDefinition(
                        PageSql,
                        new { account = pool.AccountId, product = pool.Product, after, last, from = from.UtcDateTime, to = to.UtcDateTime, actions = Actions, limit = PageSize },
                        cancellationToken: ct))).AsList();
                },
                cancellationToken);

            foreach (var row in page)
            {
                yield return new RecordedEvent(
                    new DateTimeOffset(DateTime.SpecifyKind(row.At, DateTimeKind.Utc)),
                    KindOf(row.Action),
                    row.Agent ?? "",
                    row.Lease,
                    row.TookSharedSeat);
            }

            if (page.Count < PageSize)
            {
                yield break;
            }

            after = page[^1].Seq;
        }
    }

    // The waits that ended without a seat, by their audit actions.
    private static readonly HashSet<string> WaitsEndedWithoutSeat =
        SeatEventKinds.WaitsEndedWithoutSeat.Select(k => SeatEventKinds.Of(k).AuditAction).ToHashSet(StringComparer.Ordinal);

    private static RecordedKind KindOf(string action) => WaitsEndedWithoutSeat.Contains(action) ? RecordedKind.WaitAbandoned : action switch
    {
        // A revived lease ended (seat.expired) and came back: for the planner, a seat taken again.
        "seat.granted" or "seat.revived" => RecordedKind.Granted,
        "seat.refused" => RecordedKind.Refused,
        "queue.joined" => RecordedKind.Queued,
        _ => RecordedKind.Ended,
    };

    private sealed class Row
    {
        public DateTime At { get; set; }

        public string Action { get; set; } = "";

        public string? Agent { get; set; }

        public string? Lease { get; set; }

        // Null on grants written before in_use was recorded (the planner asks the catalog).
        public bool? TookSharedSeat { get; set; }

        public long Seq { get; set; }
    }
}
