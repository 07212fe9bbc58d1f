using System.Collections.Concurrent;
using System.Text.Json;
using Dapper;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;
using Npgsql;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Issue 25, item 5: a seat event is durable from the moment its change is made. The pool scripts append each
/// event to the pool's journal in Redis in the same atomic step; any replica stores it in PostgreSQL. A broker
/// killed with SIGKILL in the middle of a load, and PostgreSQL stopped for thirty seconds under the same load,
/// lose nothing: every event a client was answered for is in audit_events exactly once, in the pool's order,
/// and every webhook message arrives, a lease's release never before its grant.
/// </summary>
public sealed class SeatEventDurabilityTests
{
    private const string Product = "remote-support";
    private const int Agents = 40;

    [Fact]
    public async Task A_broker_killed_during_a_thousand_grants_and_releases_loses_no_seat_event_or_webhook()
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var receiver = await WebhookReceiver.StartAsync();
        var prefix = "t" + Guid.NewGuid().ToString("N")[..10] + ":";
        await using var doomed = await BrokerProcess.StartAsync(database, Settings(prefix));
        var (account, agents) = await AccountAsync(new CatalogSeeder(database));
        await SubscribeAsync(doomed, account, receiver);

        // Eight callers through the doomed replica; it is killed once half the operations were answered.
        var answered = new Answered();
        using var stop = new CancellationTokenSource();
        var load = RunLoadAsync(doomed, account, agents, answered, operations: 1000, stop.Token);
        await Eventually.Until(async () => { await Task.Yield(); return answered.Count >= 500 ? "" : null; }, TimeSpan.FromSeconds(60), "500 answered operations");
        await doomed.KillAsync();
        await stop.CancelAsync();
        await load;

        // Another replica, started afterwards, finds what the dead one left in Redis and stores it.
        await using var survivor = await BrokerProcess.StartAsync(database, Settings(prefix));
        await AssertEverythingStoredAsync(database.ConnectionString, account, answered, receiver);
    }

    [Fact]
    public async Task Postgres_stopped_for_thirty_seconds_under_load_loses_no_seat_event_or_webhook()
    {
        await using var postgres = new PostgresServerProcess();
        await postgres.InitializeAsync();
        var database = TestDatabase.Existing(postgres.ConnectionString);
        await using var receiver = await WebhookReceiver.StartAsync();
        var prefix = "t" + Guid.NewGuid().ToString("N")[..10] + ":";
        var settings = Settings(prefix);
        settings["Resilience__Postgres__AttemptTimeout"] = "00:00:01";
        await using var broker = await BrokerProcess.StartAsync(database, settings);
        var (account, agents) = await AccountAsync(new CatalogSeeder(database));
        await SubscribeAsync(broker, account, receiver);

        // Warm the caches (the hot path needs no PostgreSQL once they are), then stop PostgreSQL for thirty seconds of load.
        var answered = new Answered();
        await RunLoadAsync(broker, account, agents, answered, operations: 2 * Agents, CancellationToken.None);
        await postgres.StopAsync();
        var outage = System.Diagnostics.Stopwatch.StartNew();
        await RunLoadAsync(broker, account, agents, answered, operations: 500, CancellationToken.None);
        Assert.True(outage.Elapsed < TimeSpan.FromSeconds(30), $"the load took {outage.Elapsed} without PostgreSQL");
        await Task.Delay(TimeSpan.FromSeconds(30) - outage.Elapsed); // the outage lasts thirty seconds, whatever the load took
        await postgres.StartAsync();
        Assert.True(answered.Count > 1000, $"{answered.Count} operations answered");
        await AssertEverythingStoredAsync(postgres.ConnectionString, account, answered, receiver);
    }

    private static Dictionary<string, string> Settings(string prefix) => new()
    {
        ["Redis__KeyPrefix"] = prefix,
        ["Webhooks__AllowHttp"] = "true",
        ["Webhooks__AllowedInternalNetworks__0"] = "127.0.0.0/8",
        ["Webhooks__PollInterval"] = "00:00:00.100",
        ["Webhooks__FirstRetryDelay"] = "00:00:00.200",
        ["Webhooks__MaxRetryDelay"] = "00:00:01",
        ["Webhooks__RequestTimeout"] = "00:00:02",
    };

    private static async Task<(string Account, IReadOnlyList<string> Agents)> AccountAsync(CatalogSeeder seeder)
    {
        var account = await seeder.AccountAsync(concurrentSeats: Agents / 2);
        return (account, await seeder.AgentsAsync(account, Agents, "CONCURRENT", prefix: "dur"));
    }

    private static async Task SubscribeAsync(BrokerProcess broker, string account, WebhookReceiver receiver)
    {
        var admin = BrokerTestHost.Bearer(Cli.DevTokens.Mint(broker.SigningKey, account, "admin-1", TimeSpan.FromHours(1), extraClaims: Cli.DevTokens.Claims(role: "ADMIN")));
        var created = await new SeatAdminService.SeatAdminServiceClient(broker.Channel).CreateWebhookEndpointAsync(
            new CreateWebhookEndpointRequest { Url = receiver.Url, EventTypes = { "seat.granted", "seat.released" } }, admin);
        receiver.Secrets.Add(created.Secret);
    }

    /// <summary>Each agent in turn acquires, then releases; what the broker answered is recorded.</summary>
    private static async Task RunLoadAsync(BrokerProcess broker, string account, IReadOnlyList<string> agents, Answered answered, int operations, CancellationToken stop)
    {
        var remaining = operations;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(worker => Task.Run(async () =>
        {
            for (var i = worker; !stop.IsCancellationRequested && Interlocked.Decrement(ref remaining) >= 0; i += 8)
            {
                var client = broker.Agent(account, agents[i % agents.Count]);
                try
                {
                    var lease = (await client.AcquireAsync(Product)).Lease;
                    answered.Granted.Enqueue(lease.LeaseId);
                    if (await client.ReleaseAsync(lease))
                    {
                        answered.Released.Enqueue(lease.LeaseId);
                    }
                }
                catch (RpcException)
                {
                    // A refusal (pool full) or the killed broker: an operation not answered is not counted.
                }
            }
        })));
    }

    private static async Task AssertEverythingStoredAsync(string connectionString, string account, Answered answered, WebhookReceiver receiver)
    {
        var granted = answered.Granted.ToHashSet();
        var released = answered.Released.ToHashSet();
        List<AuditRow> rows = [];
        await Eventually.Until(
            async () =>
            {
                try
                {
                    await using var connection = new NpgsqlConnection(connectionString);
                    rows = (await connection.QueryAsync<AuditRow>(
                        """
                        SELECT id AS Id, action AS Action, after->>'lease_id' AS LeaseId, event_seq AS Seq FROM audit_events
                        WHERE account_id = @account AND action IN ('seat.granted', 'seat.released') ORDER BY id
                        """,
                        new { account })).ToList();
                }
                catch (NpgsqlException)
                {
                    return null;
                }

                var storedGrants = rows.Where(r => r.Action == "seat.granted").Select(r => r.LeaseId!).ToHashSet();
                var storedReleases = rows.Where(r => r.Action == "seat.released").Select(r => r.LeaseId!).ToHashSet();
                return granted.IsSubsetOf(storedGrants) && released.IsSubsetOf(storedReleases) ? "" : null;
            },
            TimeSpan.FromSeconds(60),
            () => $"every answered event in audit_events ({granted.Count} grants, {released.Count} releases answered; {rows.Count} rows)");

        // Exactly once each, in the pool's order (audit ids follow the sequence), a lease's release after its grant.
        Assert.Equal(rows.Count, rows.Select(r => (r.Action, r.LeaseId)).Distinct().Count());
        Assert.Equal(rows.Select(r => r.Seq), rows.Select(r => r.Seq).Order());
        var grantSeq = rows.Where(r => r.Action == "seat.granted").ToDictionary(r => r.LeaseId!, r => r.Seq);
        Assert.All(rows.Where(r => r.Action == "seat.released"), r => Assert.True(grantSeq[r.LeaseId!] < r.Seq, $"{r.LeaseId} released before its grant"));

        // Every webhook message arrives, once per id, a lease's release never before its grant.
        await Eventually.Until(
            async () => { await Task.Yield(); return receiver.Accepted.Select(m => m.MessageId).Distinct().Count() >= rows.Count ? "" : null; },
            TimeSpan.FromSeconds(60),
            () => $"{rows.Count} webhook messages ({receiver.Accepted.Count} arrived)");
        var seen = new HashSet<string>();
        long lastSequence = 0;
        foreach (var message in receiver.Accepted.DistinctBy(m => m.MessageId))
        {
            using var body = JsonDocument.Parse(message.Body);
            var type = body.RootElement.GetProperty("type").GetString();
            var data = body.RootElement.GetProperty("data");
            var lease = data.GetProperty("lease_id").GetString()!;
            var sequence = data.GetProperty("sequence").GetInt64();
            Assert.True(sequence > lastSequence, $"message {sequence} after {lastSequence}");
            lastSequence = sequence;
            if (type == "seat.granted")
            {
                seen.Add(lease);
            }
            else
            {
                Assert.True(seen.Contains(lease), $"{lease}: released before granted");
            }
        }

        Assert.Empty(receiver.Rejected);
    }

    private sealed class Answered
    {
        public ConcurrentQueue<string> Granted { get; } = new();

        public ConcurrentQueue<string> Released { get; } = new();

        public int Count => Granted.Count + Released.Count;
    }

    private sealed record AuditRow(long Id, string Action, string? LeaseId, long Seq);
}
