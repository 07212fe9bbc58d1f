using Dapper;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;
using Npgsql;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Finding 7: every grant, release and revocation is a seat event whichever RPC caused it: grants
/// through WaitForSeat (at once and from the queue) are audited and count towards today's peak and
/// the history's distinct agents; leases ended by UnassignSeat and RemoveAgent are audited as ended.
/// </summary>
public sealed class SeatEventTests : IClassFixture<BrokerFixture>
{
    private const string Product = "remote-support";
    private readonly BrokerFixture _fixture;

    public SeatEventTests(BrokerFixture fixture)
    {
        _fixture = fixture;
    }

    [Fact]
    public async Task Grants_through_the_queue_and_leases_ended_by_seat_changes_are_all_audited()
    {
        var host = _fixture.Host;
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 2);
        var ids = await _fixture.Seeder.AgentsAsync(account, 3, "CONCURRENT");
        var (waitedAtOnce, holder, queued) = (host.Agent(account, ids[0]), host.Agent(account, ids[1]), host.Agent(account, ids[2]));

        // Granted at once by WaitForSeat: the first seat in use, so today's peak is 1.
        var first = await WaitGrantedAsync(waitedAtOnce);
        var usage = (await host.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, host.AdminHeaders(account))).Products.Single();
        Assert.Equal(1, usage.ConcurrentPeakToday);

        // Granted from the queue when the holder leaves.
        var held = (await holder.AcquireAsync(Product)).Lease;
        var waiting = WaitGrantedAsync(queued);
        await Eventually.Until(
            async () => (await host.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, host.AdminHeaders(account))).Products.Single().AgentsWaiting == 1 ? "queued" : null,
            TimeSpan.FromSeconds(10),
            "the third agent to wait");
        await holder.ReleaseAsync(held);
        var second = await waiting;

        // Seat changes that end live leases.
        await host.AdminClient.UnassignSeatAsync(new UnassignSeatRequest { AgentId = ids[0], Product = Product }, host.AdminHeaders(account));
        await host.AdminClient.RemoveAgentAsync(new RemoveAgentRequest { AgentId = ids[2] }, host.AdminHeaders(account));

        await host.AuditWrittenAsync();
        await using var connection = new NpgsqlConnection(host.Database.ConnectionString);
        var rows = (await connection.QueryAsync<(string Action, string Subject, string? Lease)>(
            "SELECT action, subject, after->>'lease_id' FROM audit_events WHERE account_id = @account AND action LIKE 'seat.%' ORDER BY id", new { account })).ToList();
        Assert.Contains(("seat.granted", ids[0], first.LeaseId), rows);
        Assert.Contains(("seat.granted", ids[1], held.LeaseId), rows);
        Assert.Contains(("seat.released", ids[1], held.LeaseId), rows);
        Assert.Contains(("seat.granted", ids[2], second.LeaseId), rows);
        Assert.Contains(("seat.force_released", ids[0], first.LeaseId), rows);
        Assert.Contains(("seat.force_released", ids[2], second.LeaseId), rows);
        Assert.Equal(3, rows.Count(r => r.Action == "seat.granted"));

        var today = DateTime.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        var history = await host.AdminClient.GetUsageHistoryAsync(new GetUsageHistoryRequest { Product = Product, From = today, To = today }, host.AdminHeaders(account));
        Assert.Equal(3, history.Days.Single().DistinctAgents);
        Assert.Equal(2, history.Days.Single().PeakConcurrent);
    }

    private static async Task<Lease> WaitGrantedAsync(AgentClient agent)
    {
        using var call = agent.Raw.WaitForSeat(
            new WaitForSeatRequest { Product = Product, SessionId = "w-" + Guid.NewGuid().ToString("N")[..8], Device = new Device { Id = "d", Platform = Platform.Windows }, SessionKind = SessionKind.Pending },
            agent.Headers,
            deadline: DateTime.UtcNow.AddSeconds(20));
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            if (call.ResponseStream.Current.UpdateCase == WaitForSeatResponse.UpdateOneofCase.Granted)
            {
                return call.ResponseStream.Current.Granted;
            }
        }

        throw new RpcException(new Status(StatusCode.Unknown, "the stream ended without a grant"));
    }
}
