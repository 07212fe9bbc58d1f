using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// AssignSeat and UnassignSeat with validate_only (issue 27, confirm before harm): the same answer as the change,
/// the live sessions it would end, and nothing changed: not the seat, not the session, not the audit log.
/// </summary>
public sealed class SeatChangePreviewTests : IClassFixture<BrokerFixture>
{
    private const string Product = "remote-support";
    private readonly BrokerFixture _fixture;

    public SeatChangePreviewTests(BrokerFixture fixture)
    {
        _fixture = fixture;
    }

    private BrokerTestHost Host => _fixture.Host;

    [Fact]
    public async Task Removing_a_person_previewed_lists_their_live_sessions_and_changes_nothing()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 2);
        var ids = await _fixture.Seeder.AgentsAsync(account, 1, "CONCURRENT");
        var agent = Host.Agent(account, ids[0]);
        var desk = (await agent.AcquireAsync(Product, sessionId: "s-desk", deviceId: "desk-7")).Lease;
        var phone = (await agent.AcquireAsync(Product, sessionId: "s-phone", deviceId: "phone-2", platform: Platform.Ios)).Lease;
        var headers = Host.AdminHeaders(account);

        var preview = await Host.AdminClient.RemoveAgentAsync(new RemoveAgentRequest { AgentId = ids[0], ValidateOnly = true }, headers);
        var nobody = await Host.AdminClient.RemoveAgentAsync(new RemoveAgentRequest { AgentId = "nobody", ValidateOnly = true }, headers);

        Assert.True(preview.Removed);
        Assert.Equal(0, preview.LeasesEnded);
        Assert.Equal(
            new[] { (desk.LeaseId, Product), (phone.LeaseId, Product) }.OrderBy(s => s.LeaseId, StringComparer.Ordinal),
            preview.SessionsToEnd.Select(s => (s.LeaseId, s.Product)).OrderBy(s => s.LeaseId, StringComparer.Ordinal));
        Assert.False(nobody.Removed);
        Assert.Empty(nobody.SessionsToEnd);

        // Nothing changed: the person is still there and both sessions renew; the removal itself then ends both.
        Assert.Contains((await Host.AdminClient.ListAgentsAsync(new ListAgentsRequest { Query = ids[0] }, headers)).Agents, a => a.AgentId == ids[0]);
        Assert.Equal(desk.FencingToken, (await agent.HeartbeatAsync(desk)).FencingToken);
        Assert.Equal(phone.FencingToken, (await agent.HeartbeatAsync(phone)).FencingToken);
        Assert.Equal(2, (await Host.AdminClient.RemoveAgentAsync(new RemoveAgentRequest { AgentId = ids[0] }, headers)).LeasesEnded);
    }

    [Fact]
    public async Task A_preview_lists_the_sessions_a_change_would_end_and_changes_nothing()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 2, namedSeats: 1);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        var agent = Host.Agent(account, ids[0]);
        var desk = (await agent.AcquireAsync(Product, sessionId: "s-desk", deviceId: "desk-7")).Lease;
        var phone = (await agent.AcquireAsync(Product, sessionId: "s-phone", deviceId: "phone-2", platform: Platform.Ios)).Lease;
        var headers = Host.AdminHeaders(account);
        await Host.AuditWrittenAsync();
        var eventsBefore = await EventCountAsync(account);

        var switchPreview = await Host.AdminClient.AssignSeatAsync(
            new AssignSeatRequest { AgentId = ids[0], Product = Product, SeatType = SeatType.Named, ValidateOnly = true }, headers);
        var removalPreview = await Host.AdminClient.UnassignSeatAsync(new UnassignSeatRequest { AgentId = ids[0], Product = Product, ValidateOnly = true }, headers);
        var samePreview = await Host.AdminClient.AssignSeatAsync(
            new AssignSeatRequest { AgentId = ids[0], Product = Product, SeatType = SeatType.Concurrent, ValidateOnly = true }, headers);

        Assert.True(switchPreview.Changed);
        Assert.Equal(SeatType.Named, switchPreview.Assignment.SeatType);
        Assert.Equal(
            new[] { (desk.LeaseId, "desk-7"), (phone.LeaseId, "phone-2") }.OrderBy(s => s.LeaseId, StringComparer.Ordinal),
            switchPreview.SessionsToEnd.Select(s => (s.LeaseId, s.Device.Id)).OrderBy(s => s.LeaseId, StringComparer.Ordinal));
        Assert.True(removalPreview.Removed);
        Assert.Equal(0, removalPreview.LeasesEnded);
        Assert.Equal(new[] { desk.LeaseId, phone.LeaseId }.Order(StringComparer.Ordinal), removalPreview.SessionsToEnd.Select(s => s.LeaseId).Order(StringComparer.Ordinal));
        Assert.False(samePreview.Changed);
        Assert.Empty(samePreview.SessionsToEnd);

        // Nothing changed: both sessions renew, the seat is the same, no event was written.
        Assert.Equal(desk.FencingToken, (await agent.HeartbeatAsync(desk)).FencingToken);
        Assert.Equal(phone.FencingToken, (await agent.HeartbeatAsync(phone)).FencingToken);
        var listed = await Host.AdminClient.ListAgentsAsync(new ListAgentsRequest { Query = ids[0] }, headers);
        Assert.Equal(SeatType.Concurrent, listed.Agents.Single(a => a.AgentId == ids[0]).Seats.Single().SeatType);
        await Host.AuditWrittenAsync();
        Assert.Equal(eventsBefore, await EventCountAsync(account));

        // A preview is refused as the change would be (the one named seat is taken), and still changes nothing.
        await Host.AdminClient.AssignSeatAsync(new AssignSeatRequest { AgentId = ids[1], Product = Product, SeatType = SeatType.Named }, headers);
        var refusedPreview = await Assert.ThrowsAsync<RpcException>(() => Host.AdminClient.AssignSeatAsync(
            new AssignSeatRequest { AgentId = ids[0], Product = Product, SeatType = SeatType.Named, ValidateOnly = true }, headers).ResponseAsync);
        var refused = await Assert.ThrowsAsync<RpcException>(() => Host.AdminClient.AssignSeatAsync(
            new AssignSeatRequest { AgentId = ids[0], Product = Product, SeatType = SeatType.Named }, headers).ResponseAsync);
        Assert.Equal(refused.StatusCode, refusedPreview.StatusCode);
        Assert.Equal(refused.Status.Detail, refusedPreview.Status.Detail);
        Assert.Equal(desk.FencingToken, (await agent.HeartbeatAsync(desk)).FencingToken);

        // An agent without a seat: removing nothing ends nothing.
        var nobody = await Host.AdminClient.UnassignSeatAsync(new UnassignSeatRequest { AgentId = "nobody", Product = Product, ValidateOnly = true }, headers);
        Assert.False(nobody.Removed);
        Assert.Empty(nobody.SessionsToEnd);
    }

    private async Task<long> EventCountAsync(string account)
    {
        await using var connection = new Npgsql.NpgsqlConnection(Host.Database.ConnectionString);
        return await Dapper.SqlMapper.ExecuteScalarAsync<long>(connection, "SELECT count(*) FROM audit_events WHERE account_id = @account", new { account });
    }
}
