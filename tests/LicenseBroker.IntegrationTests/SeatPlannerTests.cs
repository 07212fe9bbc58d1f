using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Dapper;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;
using Npgsql;
using Lease = LicenseBroker.Contracts.V1.Lease;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// The seat planner against reality (issue 29): a trace made through the real RPCs over three replicas, replayed
/// at the pool's real limit, gives back exactly what the audit log recorded; PlanSeats answers the same through
/// gRPC, REST and the CLI, and refuses bad questions without doing any work.
/// </summary>
public sealed class SeatPlannerTests
{
    private const string Product = "remote-support";
    private const int Seats = 3;

    [Fact]
    public async Task A_trace_made_through_the_rpcs_replayed_at_the_real_limit_reproduces_the_recorded_grants_refusals_and_waits()
    {
        await using var database = await TestDatabase.CreateAsync();
        var settings = new Dictionary<string, string?> { ["Seats:LeaseTtl"] = "00:00:10", ["Seats:HeartbeatInterval"] = "00:00:03" };
        await using var rest = await RestBroker.StartAsync(database, settings);
        var a = rest.Host;
        var shared = new Dictionary<string, string?>(settings) { ["Redis:KeyPrefix"] = a.Services.GetRequiredRedisPrefix() };
        await using var b = await BrokerTestHost.StartAsync(database, shared, signingKey: a.SigningKey);
        await using var c = await BrokerTestHost.StartAsync(database, shared, signingKey: a.SigningKey);

        var seeder = new CatalogSeeder(database);
        var account = await seeder.AccountAsync(concurrentSeats: Seats, namedSeats: 1);
        var named = (await seeder.AgentsAsync(account, 1, "NAMED", prefix: "named"))[0];
        var agents = await seeder.AgentsAsync(account, 7, "CONCURRENT");
        var started = DateTimeOffset.UtcNow.AddSeconds(-1);

        // Three holders over three replicas fill the pool; the named agent and a second device of the first
        // holder take no shared seat.
        Lease[] holders = [
            (await a.Agent(account, agents[0]).AcquireAsync(Product)).Lease,
            (await b.Agent(account, agents[1]).AcquireAsync(Product)).Lease,
            (await c.Agent(account, agents[2]).AcquireAsync(Product)).Lease,
        ];
        var phone = (await b.Agent(account, agents[0]).AcquireAsync(Product, deviceId: "phone-1", platform: Platform.Ios)).Lease;
        var namedLease = (await c.Agent(account, named).AcquireAsync(Product)).Lease;

        // A fourth agent is refused twice (one login: a retry), two others wait.
        for (var retry = 0; retry < 2; retry++)
        {
            var refused = await Assert.ThrowsAsync<RpcException>(() => (retry == 0 ? a : b).Agent(account, agents[3]).AcquireAsync(Product));
            Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        }

        using var firstWaiter = await WaiterAsync(b, account, agents[4]);
        using var secondWaiter = await WaiterAsync(c, account, agents[5]);

        // Releases hand the seats to the waiters in order; the first holder's seat frees with its last device.
        Assert.True(await a.Agent(account, agents[1]).ReleaseAsync(holders[1]));
        var firstServed = await firstWaiter.GrantedAsync();
        Assert.True(await c.Agent(account, agents[2]).ReleaseAsync(holders[2]));
        var secondServed = await secondWaiter.GrantedAsync();
        Assert.True(await b.Agent(account, agents[0]).ReleaseAsync(holders[0]));
        Assert.True(await a.Agent(account, agents[0]).ReleaseAsync(phone));
        Assert.True(await a.Agent(account, agents[4]).ReleaseAsync(firstServed));
        Assert.True(await b.Agent(account, agents[5]).ReleaseAsync(secondServed));
        Assert.True(await c.Agent(account, named).ReleaseAsync(namedLease));

        // A last login is left to expire (nobody waits for its seat).
        await c.Agent(account, agents[6]).AcquireAsync(Product);
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        await Eventually.Until(
            async () =>
            {
                // Expiries are found by calls into the pool: the admin's list is one (it grants nothing).
                await a.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, a.AdminHeaders(account));
                return await connection.ExecuteScalarAsync<long>(
                    "SELECT count(*) FROM audit_events WHERE account_id = @account AND action = 'seat.expired'", new { account }) > 0 ? "expired" : null;
            },
            TimeSpan.FromSeconds(60),
            "the last lease to expire and be recorded");
        await Task.WhenAll(a.AuditWrittenAsync(), b.AuditWrittenAsync(), c.AuditWrittenAsync());
        var ended = DateTimeOffset.UtcNow.AddSeconds(1);

        // What the audit log recorded, read here without the planner's code.
        var rows = (await connection.QueryAsync<(DateTime At, string Action, string Agent, bool Shared)>(
            """
            SELECT occurred_at, action, subject, coalesce((after->>'in_use')::int > 0, false) FROM audit_events
            WHERE account_id = @account AND product_code = @Product AND event_seq IS NOT NULL ORDER BY event_seq
            """,
            new { account, Product })).ToList();
        var sharedGrants = rows.Count(r => r is { Action: "seat.granted", Shared: true });
        var refusals = rows.Count(r => r.Action == "seat.refused");
        var waits = rows.Where(r => r.Action == "queue.joined")
            .Select(join => rows.First(g => g.Action == "seat.granted" && g.Agent == join.Agent && g.At >= join.At).At - join.At)
            .ToList();
        Assert.Equal(6, sharedGrants); // three holders, two waiters, the last login
        Assert.Equal(2, refusals);
        Assert.Equal(2, waits.Count);
        Assert.All(waits, w => Assert.True(w > TimeSpan.Zero));

        var request = new PlanSeatsRequest { Product = Product, From = Timestamp.FromDateTimeOffset(started), To = Timestamp.FromDateTimeOffset(ended) };
        request.Candidates.Add(Seats);
        var plan = await b.AdminClient.PlanSeatsAsync(request, b.AdminHeaders(account));

        // Replayed at the real limit: the same grants, refusals and waits, to the microsecond.
        var real = Assert.Single(plan.Candidates).WholeRange;
        Assert.Equal((6, 2, 1, 3), (plan.RecordedGrants, plan.RecordedRefusals, plan.RecordedQueueJoins > 0 ? 1 : 0, plan.RecordedPeak));
        Assert.Equal(7, real.Logins); // six seats given and one refused login (its retry is the same login)
        Assert.Equal(1, real.Refused);
        Assert.Equal(2, real.Waited);
        Assert.Equal(0, real.Abandoned);
        Assert.Equal(waits.Max(), real.WaitMax.ToTimeSpan());
        Assert.Equal(waits.Max(), real.WaitP95.ToTimeSpan());
        Assert.Equal(TimeSpan.Zero, real.WaitP50.ToTimeSpan());
        Assert.Equal(TimeSpan.FromTicks((waits[0] + waits[1]).Ticks / 6), real.WaitMean.ToTimeSpan());
        Assert.True(plan.QueueAssumed);
        Assert.Equal(Contracts.V1.PlanModel.Engset, plan.Model); // seven agents may take a shared seat: a finite population

        // The same question twice gives the same answer, and the default candidates run around the peak.
        Assert.Equal(plan, await a.AdminClient.PlanSeatsAsync(request, a.AdminHeaders(account)));
        var around = await c.AdminClient.PlanSeatsAsync(
            new PlanSeatsRequest { Product = Product, From = request.From, To = request.To }, c.AdminHeaders(account));
        Assert.Equal(Enumerable.Range(0, Seats + 6), around.Candidates.Select(x => x.Seats));
        Assert.Equal(real, around.Candidates.Single(x => x.Seats == Seats).WholeRange);
        Assert.True(around.HasRecommendedSeats);

        // REST: the same figures.
        var query = $"/v1/admin/products/{Product}/seat-plan?from={Uri.EscapeDataString(started.UtcDateTime.ToString("O"))}&to={Uri.EscapeDataString(ended.UtcDateTime.ToString("O"))}&candidates={Seats}";
        using (var get = RestBroker.Request(HttpMethod.Get, query, RestBroker.Token(a.AdminHeaders(account))))
        {
            var response = await rest.Http.SendAsync(get);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            var whole = Assert.Single(body.RootElement.GetProperty("candidates").EnumerateArray()).GetProperty("wholeRange");
            Assert.Equal((7, 1, 2), (whole.GetProperty("logins").GetInt32(), whole.GetProperty("refused").GetInt32(), whole.GetProperty("waited").GetInt32()));
        }

        // The CLI: the last hour holds exactly this trace.
        var (exit, output, error) = await RunCliAsync(a, account, "plan", "seats", "--since", "1h", "--seats", "3", "--json");
        Assert.True(exit == 0, error);
        using (var json = JsonDocument.Parse(output))
        {
            var whole = Assert.Single(json.RootElement.GetProperty("candidates").EnumerateArray()).GetProperty("wholeRange");
            Assert.Equal((7, 1, 2), (whole.GetProperty("logins").GetInt32(), whole.GetProperty("refused").GetInt32(), whole.GetProperty("waited").GetInt32()));
        }

        (exit, output, error) = await RunCliAsync(a, account, "plan", "seats", "--since", "1h");
        Assert.True(exit == 0, error);
        Assert.Contains("Busiest hour:", output, StringComparison.Ordinal);
        Assert.Contains("<- recommended", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_questions_are_refused_naming_the_field_and_another_products_history_is_not_found()
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var host = await BrokerTestHost.StartAsync(database);
        var seeder = new CatalogSeeder(database);
        var account = await seeder.AccountAsync(concurrentSeats: 2);
        var now = DateTimeOffset.UtcNow;
        var headers = host.AdminHeaders(account);

        PlanSeatsRequest Ask(DateTimeOffset from, DateTimeOffset to, string product = Product, params int[] candidates)
        {
            var request = new PlanSeatsRequest { Product = product, From = Timestamp.FromDateTimeOffset(from), To = Timestamp.FromDateTimeOffset(to) };
            request.Candidates.AddRange(candidates);
            return request;
        }

        static PlanSeatsRequest With(PlanSeatsRequest request, Action<PlanSeatsRequest> change)
        {
            change(request);
            return request;
        }

        var cases = new (PlanSeatsRequest Request, string Field)[]
        {
            (Ask(now, now.AddDays(-1)), "to"),
            (Ask(now.AddDays(-401), now), "to"),
            (new PlanSeatsRequest { Product = Product, To = Timestamp.FromDateTimeOffset(now) }, "from"),
            (Ask(now.AddDays(-1), now, "nope"), "product"),
            (Ask(now.AddDays(-1), now, "Remote Support"), "product"),
            (Ask(now.AddDays(-1), now, Product, -1), "candidates"),
            (Ask(now.AddDays(-1), now, Product, 100_001), "candidates"),
            (Ask(now.AddDays(-1), now, Product, Enumerable.Range(1, 65).ToArray()), "candidates"),
            (With(Ask(now.AddDays(-1), now), r => r.MaxUnservedPercent = 101), "max_unserved_percent"),
            (With(Ask(now.AddDays(-1), now), r => r.MaxUnservedPercent = -0.5), "max_unserved_percent"),
            (With(Ask(now.AddDays(-1), now), r => r.MaxP95Wait = Duration.FromTimeSpan(TimeSpan.FromHours(25))), "max_p95_wait"),
            (With(Ask(now.AddDays(-1), now), r => r.MaxP95Wait = new Duration { Seconds = -1 }), "max_p95_wait"),
        };
        foreach (var (request, field) in cases)
        {
            var refused = await Assert.ThrowsAsync<RpcException>(() => host.AdminClient.PlanSeatsAsync(request, headers).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
            Assert.Contains(field, Errors.BadRequest(refused).FieldViolations.Select(v => v.Field));
        }

        // A product of the catalog the account does not have: not found; one without seats: nothing to plan.
        var other = await Assert.ThrowsAsync<RpcException>(() => host.AdminClient.PlanSeatsAsync(Ask(now.AddDays(-1), now, "service-desk"), headers).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, other.StatusCode);
        var monitoring = await seeder.AccountAsync(product: "monitoring");
        var unlimited = await Assert.ThrowsAsync<RpcException>(
            () => host.AdminClient.PlanSeatsAsync(Ask(now.AddDays(-1), now, "monitoring"), host.AdminHeaders(monitoring)).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, unlimited.StatusCode);

        // A 400-day range with no events answers at once: zero logins, the smallest candidate recommended.
        var empty = await host.AdminClient.PlanSeatsAsync(Ask(now.AddDays(-400), now), headers);
        Assert.Equal(0, empty.Logins);
        Assert.Equal(0, empty.RecommendedSeats);
    }

    private static async Task<Waiter> WaiterAsync(BrokerTestHost host, string account, string agentId)
    {
        var client = host.Agent(account, agentId);
        var call = client.Raw.WaitForSeat(
            new WaitForSeatRequest { Product = Product, SessionId = "w-" + agentId, Device = new Device { Id = "d", Platform = Platform.Windows }, SessionKind = SessionKind.Pending },
            client.Headers);
        Assert.True(await call.ResponseStream.MoveNext());
        Assert.Equal(WaitForSeatResponse.UpdateOneofCase.Position, call.ResponseStream.Current.UpdateCase);
        return new Waiter(call);
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunCliAsync(BrokerTestHost host, string account, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(BuildOutputs.Cli);
        foreach (var arg in args.Concat(["--server", host.Address.ToString().TrimEnd('/'), "--account", account]))
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["LICENSEBROKER_SIGNING_KEY"] = host.SigningKey;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }

    /// <summary>A WaitForSeat stream that has its place; <see cref="GrantedAsync"/> reads on to the seat.</summary>
    private sealed class Waiter(AsyncServerStreamingCall<WaitForSeatResponse> call) : IDisposable
    {
        public async Task<Lease> GrantedAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (await call.ResponseStream.MoveNext(timeout.Token))
            {
                if (call.ResponseStream.Current.UpdateCase == WaitForSeatResponse.UpdateOneofCase.Granted)
                {
                    return call.ResponseStream.Current.Granted;
                }
            }

            throw new Xunit.Sdk.XunitException("the wait ended without a seat");
        }

        public void Dispose() => call.Dispose();
    }
}
