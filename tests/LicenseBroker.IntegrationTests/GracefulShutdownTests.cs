using System.Collections.Concurrent;
using System.Diagnostics;
using Dapper;
using Grpc.Core;
using LicenseBroker.IntegrationTests.Infrastructure;
using Npgsql;

namespace LicenseBroker.IntegrationTests;

/// <summary>SIGTERM to a real broker process under load: calls in flight complete, the audit buffer is flushed.</summary>
public sealed class GracefulShutdownTests
{
    private const string Product = "remote-support";

    [Fact]
    public async Task Sigterm_under_load_fails_no_call_in_flight_and_flushes_the_audit_buffer()
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var server = await BrokerProcess.StartAsync(database, new Dictionary<string, string>());
        var (channel, signingKey) = (server.Channel, server.SigningKey);

        var seeder = new CatalogSeeder(database);
        var account = await seeder.AccountAsync(concurrentSeats: 100);
        var ids = await seeder.AgentsAsync(account, 40, "CONCURRENT");
        var succeeded = 0;
        var failedInFlight = new ConcurrentBag<string>();
        var failedAfter = 0;
        var clock = Stopwatch.StartNew();
        var sigtermAt = TimeSpan.MaxValue;
        using var stop = new CancellationTokenSource();

        var workers = ids.Select(id => Task.Run(async () =>
        {
            var agent = new AgentClient(channel, Cli.DevTokens.Mint(signingKey, account, id, TimeSpan.FromHours(1)));
            Contracts.V1.Lease? lease = null;
            while (!stop.IsCancellationRequested)
            {
                var startedAt = clock.Elapsed;
                try
                {
                    if (lease is null)
                    {
                        lease = (await agent.AcquireAsync(Product)).Lease;
                    }
                    else
                    {
                        await agent.ReleaseAsync(lease);
                        lease = null;
                    }

                    Interlocked.Increment(ref succeeded);
                }
                catch (RpcException ex)
                {
                    if (startedAt < sigtermAt - TimeSpan.FromMilliseconds(100))
                    {
                        failedInFlight.Add($"{ex.StatusCode} started {startedAt}, SIGTERM at {sigtermAt}");
                    }
                    else
                    {
                        Interlocked.Increment(ref failedAfter);
                    }

                    return;
                }
            }
        })).ToArray();

        // The signal comes while calls are flowing: after a number of answered calls, not a fixed time.
        await Eventually.Until(
            () => Task.FromResult(Volatile.Read(ref succeeded) >= 300 ? "flowing" : null),
            TimeSpan.FromSeconds(60),
            "300 calls answered before the signal");
        sigtermAt = clock.Elapsed;
        await server.TerminateAsync();
        using (var exitLimit = new CancellationTokenSource(TimeSpan.FromSeconds(25)))
        {
            await server.WaitForExitAsync(exitLimit.Token);
        }

        var exitedAfter = clock.Elapsed - sigtermAt;
        await stop.CancelAsync();
        await Task.WhenAll(workers);

        Assert.Empty(failedInFlight);
        Assert.True(succeeded > 100, $"only {succeeded} calls ran before the signal");
        Assert.True(exitedAfter < TimeSpan.FromSeconds(20), $"exit took {exitedAfter}");

        // Every grant and release the clients saw succeed is in the audit log (calls cut off by the
        // shutdown may or may not have been applied, so they bound the count from above).
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        var audited = await connection.ExecuteScalarAsync<long>(
            "SELECT count(*) FROM audit_events WHERE account_id = @account AND action IN ('seat.granted', 'seat.released')", new { account });
        Assert.InRange(audited, succeeded, succeeded + failedAfter);
    }
}
