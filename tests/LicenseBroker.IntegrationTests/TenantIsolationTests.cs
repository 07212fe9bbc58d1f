using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Finding 4: one tenant's admin bursting expensive history calls (calendar extremes, the longest
/// valid ranges over a large audit log) must not touch another tenant: its uncached AcquireSeat
/// (catalog loads) and its GetSeatUsage all succeed meanwhile.
/// </summary>
public sealed class TenantIsolationTests : IClassFixture<BrokerFixture>
{
    private readonly BrokerFixture _fixture;

    public TenantIsolationTests(BrokerFixture fixture)
    {
        _fixture = fixture;
    }

    [Fact]
    public async Task A_burst_of_history_calls_by_one_tenant_leaves_another_tenants_calls_unaffected()
    {
        var host = _fixture.Host;
        var noisy = await _fixture.Seeder.AccountAsync();
        await using (var connection = new Npgsql.NpgsqlConnection(host.Database.ConnectionString))
        {
            // A year of grants: what makes the longest valid history call do real work.
            await Dapper.SqlMapper.ExecuteAsync(connection, """
                INSERT INTO audit_events (account_id, product_code, action, subject, actor, occurred_at)
                SELECT @noisy, 'remote-support', 'seat.granted', 'agent-' || (i % 500), 'agent', now() - (i % 366) * interval '1 day'
                FROM generate_series(1, 100000) AS i
                """, new { noisy });
        }

        // The quiet tenant: several accounts never seen by this broker, so each acquire loads its catalog.
        var quiet = new List<(string Account, AgentClient Agent)>();
        for (var i = 0; i < 12; i++)
        {
            var account = await _fixture.Seeder.AccountAsync();
            quiet.Add((account, host.Agent(account, (await _fixture.Seeder.AgentsAsync(account, 1, "CONCURRENT"))[0])));
        }

        var noisyHeaders = host.AdminHeaders(noisy);
        var ranges = new[] { ("0001-01-01", "0001-01-02"), ("9999-12-30", "9999-12-31"), ("2025-11-30", "2026-11-30"), ("2025-12-01", "2026-12-01") };
        var burst = Enumerable.Range(0, 75).Select(async i =>
        {
            var (from, to) = ranges[i % ranges.Length];
            try
            {
                await host.AdminClient.GetUsageHistoryAsync(new GetUsageHistoryRequest { Product = "remote-support", From = from, To = to }, noisyHeaders);
                return StatusCode.OK;
            }
            catch (RpcException ex)
            {
                return ex.StatusCode;
            }
        }).ToList();

        var failures = new List<string>();
        foreach (var (account, agent) in quiet)
        {
            try
            {
                await agent.AcquireAsync("remote-support");
                await host.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest(), host.AdminHeaders(account), deadline: DateTime.UtcNow.AddSeconds(10));
            }
            catch (RpcException ex)
            {
                failures.Add($"{account}: {ex.Status}");
            }
        }

        var noisyStatuses = await Task.WhenAll(burst);
        Assert.Empty(failures);

        // The noisy tenant got truthful answers: its bad dates are invalid, the calls beyond its share are
        // refused at once, the others answered; nothing looks like an outage.
        Assert.All(noisyStatuses, s => Assert.Contains(s, new[] { StatusCode.OK, StatusCode.InvalidArgument, StatusCode.ResourceExhausted }));
        Assert.Contains(StatusCode.OK, noisyStatuses);
        Assert.Equal(75 / 2 + 1, noisyStatuses.Count(s => s == StatusCode.InvalidArgument));
    }
}
