using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Issue 33: a technician already on a customer call who lost the seat gets the next one. The class comes from the
/// session kind the broker recorded for the lost lease (its last heartbeat), proven by the lease's proof: never from a
/// field the app sets when it waits, never from another agent's lease, once per lost lease.
/// </summary>
public sealed class LostSessionPriorityTests : ReplicaPair
{
    private const string Product = "remote-support";

    protected override Dictionary<string, string?> Settings => new()
    {
        ["Seats:LeaseTtl"] = "00:00:02",
        ["Seats:HeartbeatInterval"] = "00:00:00.500",
        ["Seats:WaiterRefresh"] = "00:00:00.500",
    };

    [Fact]
    public async Task An_agent_who_lost_its_seat_during_an_attended_session_waits_as_an_incident_once_and_no_one_else_can_claim_it()
    {
        var account = await A.Seeder().AccountAsync(concurrentSeats: 1);
        var ids = await A.Seeder().AgentsAsync(account, 4, "CONCURRENT");
        var (technician, next, other, thief) = (ids[0], ids[1], ids[2], ids[3]);

        // On a customer call (ATTENDED), then the laptop sleeps: the lease expires and the seat goes to the next waiter.
        var lost = (await A.Agent(account, technician).AcquireAsync(Product)).Lease;
        lost = await A.Agent(account, technician).HeartbeatAsync(lost, SessionKind.Attended);
        using var nextWait = await QueueStream.JoinAsync(B.Agent(account, next), next);
        await nextWait.Granted.Task.WaitAsync(TimeSpan.FromSeconds(20));
        using var otherWait = await QueueStream.JoinAsync(B.Agent(account, other), other);
        Assert.Equal(1, otherWait.Last!.Position);

        // Another agent presenting the technician's lease is ignored: standard, behind.
        using var thiefWait = await JoinAsync(B.Agent(account, thief), thief, lost);
        Assert.Equal(Contracts.V1.QueuePriority.Standard, thiefWait.Last!.Priority);
        Assert.Equal(2, thiefWait.Last!.Position);

        // The technician, with the lease it lost: an incident, ahead of both.
        var back = await JoinAsync(A.Agent(account, technician), technician, lost);
        Assert.Equal(Contracts.V1.QueuePriority.Incident, back.Last!.Priority);
        Assert.Equal(1, back.Last!.Position);
        await otherWait.PositionAsync(2);

        // Once: leaving and waiting again with the same lost lease is standard, at the back.
        back.Dispose();
        await otherWait.PositionAsync(1);
        using var again = await JoinAsync(A.Agent(account, technician), technician, lost);
        Assert.Equal(Contracts.V1.QueuePriority.Standard, again.Last!.Priority);
        Assert.Equal(3, again.Last!.Position);
    }

    [Fact]
    public async Task A_lease_lost_while_pending_gives_no_priority_and_a_forged_proof_is_ignored()
    {
        var account = await A.Seeder().AccountAsync(concurrentSeats: 1);
        var ids = await A.Seeder().AgentsAsync(account, 3, "CONCURRENT");
        var lost = (await A.Agent(account, ids[0]).AcquireAsync(Product)).Lease;
        using var nextWait = await QueueStream.JoinAsync(B.Agent(account, ids[1]), ids[1]);
        await nextWait.Granted.Task.WaitAsync(TimeSpan.FromSeconds(20));
        using var otherWait = await QueueStream.JoinAsync(B.Agent(account, ids[2]), ids[2]);

        var forged = lost.Clone();
        forged.LeaseProof = forged.LeaseProof[..^4] + "AAAA";
        using var withForged = await JoinAsync(A.Agent(account, ids[0]), ids[0], forged);
        Assert.Equal(Contracts.V1.QueuePriority.Standard, withForged.Last!.Priority);
        withForged.Dispose();
        using var pending = await JoinAsync(A.Agent(account, ids[0]), ids[0], lost);
        Assert.Equal(Contracts.V1.QueuePriority.Standard, pending.Last!.Priority);
        Assert.Equal(2, pending.Last!.Position);
    }

    private static async Task<QueueStream> JoinAsync(AgentClient client, string agent, Lease lostLease)
    {
        var call = client.Raw.WaitForSeat(
            new WaitForSeatRequest
            {
                Product = Product, SessionId = "w2-" + agent, Device = new Device { Id = "desktop-1", Platform = Platform.Windows }, SessionKind = SessionKind.Pending,
                LostLease = lostLease,
            },
            client.Headers);
        return await QueueStream.FromAsync(agent, call);
    }
}
