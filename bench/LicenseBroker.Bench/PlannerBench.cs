using System.Diagnostics;
using Dapper;
using Grpc.Core;
using LicenseBroker.Cli;
using LicenseBroker.Contracts.V1;
using LicenseBroker.Domain.Planning;
using Npgsql;

namespace LicenseBroker.Bench;

/// <summary>
/// The seat planner's cost (issue 29 target: 30 days × 1,000 agents replayed in ≤ 2 s per N, memory bounded):
/// a pool of 1,000 agents with ten logins each per day for 30 days (600,000 audit rows), replayed in process
/// per seat count, and asked end to end through PlanSeats (read in pages from PostgreSQL, 16 seat counts).
/// </summary>
internal static class PlannerBench
{
    public const string Account = "planner";
    public const int Agents = 1000;
    public const int Days = 30;

    /// <summary>The range the seeded history covers: 30 days ending at the last midnight (UTC).</summary>
    public static (DateTimeOffset From, DateTimeOffset To) Range()
    {
        var to = new DateTimeOffset(DateTime.UtcNow.Date, TimeSpan.Zero);
        return (to.AddDays(-Days), to);
    }

    /// <summary>
    /// Agent a's login k of day d starts at 07:00 + k h + a jitter under 10 min and holds 5 to 45 min (no two
    /// of one agent overlap), all deterministic; grants record in_use as the broker does.
    /// </summary>
    public static async Task SeedAsync(NpgsqlDataSource db)
    {
        await Seed.AccountAsync(db, Account, agents: Agents, concurrent: 450);
        var (from, _) = Range();
        await using var connection = await db.OpenConnectionAsync();
        await connection.ExecuteAsync(
            """
            INSERT INTO audit_events (occurred_at, account_id, product_code, actor, action, subject, after, event_seq)
            SELECT e.at, 'planner', 'remote-support', s.agent, e.action, s.agent, e.after, (extract(epoch FROM e.at) * 1000000)::bigint + e.n
            FROM (
                SELECT a, d, k, 'a' || a AS agent,
                       @from + d * interval '1 day' + interval '7 hours' + k * interval '1 hour' + ((a * 7919 + d * 31 + k * 17) % 600) * interval '1 second' AS t0,
                       (5 + (a * 131 + d * 17 + k * 7) % 41) * interval '1 minute' AS hold
                FROM generate_series(0, 999) AS a, generate_series(0, 29) AS d, generate_series(0, 9) AS k
            ) AS s
            CROSS JOIN LATERAL (VALUES
                (s.t0, 'seat.granted', jsonb_build_object('lease_id', 'l' || s.a || '_' || s.d || '_' || s.k, 'in_use', 1), s.a * 2),
                (s.t0 + s.hold, 'seat.released', jsonb_build_object('lease_id', 'l' || s.a || '_' || s.d || '_' || s.k), s.a * 2 + 1)
            ) AS e(at, action, after, n)
            ON CONFLICT (account_id, product_code, event_seq, occurred_at, retention_days) WHERE event_seq IS NOT NULL DO NOTHING
            """,
            new { from = from.UtcDateTime },
            commandTimeout: 600);
    }

    /// <summary>
    /// A pool with 5,000,000 seat events over 365 days (2,000 agents), and its daily rollups filled as migration
    /// 0017 fills them: the history's cost must not depend on the raw rows.
    /// </summary>
    public static async Task SeedHistoryAsync(NpgsqlDataSource db)
    {
        await Seed.AccountAsync(db, "history", agents: 2000, concurrent: 500);
        var from = new DateTimeOffset(DateTime.UtcNow.Date, TimeSpan.Zero).AddDays(-365);
        await using var connection = await db.OpenConnectionAsync();
        await connection.ExecuteAsync(
            """
            INSERT INTO audit_events (occurred_at, account_id, product_code, actor, action, subject, after, event_seq)
            SELECT t, 'history', 'remote-support', 'a' || (i % 2000), CASE WHEN i % 2 = 0 THEN 'seat.granted' ELSE 'seat.released' END, 'a' || (i % 2000),
                   jsonb_build_object('lease_id', 'h' || (i / 2)), (extract(epoch FROM t) * 1000000)::bigint + (i % 7)
            FROM generate_series(0, 4999999) AS i, LATERAL (SELECT @from + (i * interval '6307 milliseconds') AS t) AS x
            ON CONFLICT (account_id, product_code, event_seq, occurred_at, retention_days) WHERE event_seq IS NOT NULL DO NOTHING;
            INSERT INTO usage_daily_agents (account_id, product_code, day, agent_id)
            SELECT DISTINCT account_id, product_code, (occurred_at AT TIME ZONE 'UTC')::date, subject FROM audit_events
            WHERE account_id = 'history' AND action = 'seat.granted' ON CONFLICT DO NOTHING;
            INSERT INTO usage_daily (account_id, product_code, day, distinct_agents)
            SELECT account_id, product_code, day, count(*) FROM usage_daily_agents WHERE account_id = 'history' GROUP BY 1, 2, 3
            ON CONFLICT (account_id, product_code, day) DO UPDATE SET distinct_agents = EXCLUDED.distinct_agents;
            """,
            new { from = from.UtcDateTime },
            commandTimeout: 1200);
    }

    /// <summary>GetUsageHistory over 365 days of the 5,000,000-event pool, one call at a time; latencies in ms.</summary>
    public static async Task<List<double>> HistoryAsync(SeatAdminService.SeatAdminServiceClient admin, string key, int calls)
    {
        var headers = new Metadata { { "Authorization", "Bearer " + DevTokens.Mint(key, "history", "bench-admin", TimeSpan.FromHours(1), extraClaims: DevTokens.Claims("ADMIN")) } };
        var to = DateTime.UtcNow.Date;
        var request = new GetUsageHistoryRequest
        {
            Product = "remote-support",
            From = to.AddDays(-364).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
            To = to.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
        };
        var latencies = new List<double>();
        for (var i = 0; i < calls; i++)
        {
            var clock = Stopwatch.StartNew();
            var history = await admin.GetUsageHistoryAsync(request, headers);
            latencies.Add(clock.Elapsed.TotalMilliseconds);
            if (history.Days.Count != 365 || history.Days.Sum(d => d.DistinctAgents) == 0)
            {
                throw new InvalidOperationException("GetUsageHistory did not answer 365 days with agents.");
            }
        }

        return latencies;
    }

    /// <summary>The replay alone, in this process: ms per seat count (mean, max), bytes allocated per seat count, and the demand's size.</summary>
    public static async Task<(double MeanMs, double MaxMs, long AllocatedPerN, int Logins, long DemandBytes, int Candidates)> ReplayAsync(NpgsqlDataSource db)
    {
        var (from, to) = Range();
        await using var connection = await db.OpenConnectionAsync();
        var rows = await connection.QueryAsync<(DateTime At, string Action, string Agent, string Lease)>(
            "SELECT occurred_at, action, subject, after->>'lease_id' FROM audit_events WHERE account_id = 'planner' AND product_code = 'remote-support' ORDER BY event_seq");
        var builder = new DemandBuilder();
        foreach (var row in rows)
        {
            builder.Add(new RecordedEvent(new DateTimeOffset(DateTime.SpecifyKind(row.At, DateTimeKind.Utc)), row.Action == "seat.granted" ? RecordedKind.Granted : RecordedKind.Ended, row.Agent, row.Lease));
        }

        var demands = builder.Finish(to);
        var peak = builder.Figures.Peak;
        var candidates = Enumerable.Range(Math.Max(0, peak - 10), 16).ToList();

        // Warm the JIT on one run, then time each seat count.
        SeatReplay.Run(demands, new ReplayRules(peak, Queue: true) { FocusHourOfWeek = 10 }, from, to);
        var times = new List<double>();
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        foreach (var seats in candidates)
        {
            var clock = Stopwatch.StartNew();
            SeatReplay.Run(demands, new ReplayRules(seats, Queue: true) { FocusHourOfWeek = 10 }, from, to);
            times.Add(clock.Elapsed.TotalMilliseconds);
        }

        allocated = (GC.GetAllocatedBytesForCurrentThread() - allocated) / candidates.Count;
        return (times.Average(), times.Max(), allocated, demands.Count, (long)demands.Count * System.Runtime.CompilerServices.Unsafe.SizeOf<Demand>(), candidates.Count);
    }

    /// <summary>PlanSeats through the broker: 30 days, the default 16 seat counts; latencies in ms.</summary>
    public static async Task<List<double>> RpcAsync(SeatAdminService.SeatAdminServiceClient admin, string key, int calls)
    {
        var (from, to) = Range();
        var headers = new Metadata { { "Authorization", "Bearer " + DevTokens.Mint(key, Account, "bench-admin", TimeSpan.FromHours(1), extraClaims: DevTokens.Claims("ADMIN")) } };
        var request = new PlanSeatsRequest
        {
            Product = "remote-support",
            From = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(from),
            To = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(to),
        };
        var latencies = new List<double>();
        for (var i = 0; i < calls; i++)
        {
            var clock = Stopwatch.StartNew();
            var plan = await admin.PlanSeatsAsync(request, headers, deadline: DateTime.UtcNow.AddMinutes(5));
            latencies.Add(clock.Elapsed.TotalMilliseconds);
            if (plan.Logins != Agents * Days * 10)
            {
                throw new InvalidOperationException($"PlanSeats replayed {plan.Logins} logins, expected {Agents * Days * 10}.");
            }
        }

        return latencies;
    }
}
