using System.Security.Cryptography;
using System.Text;
using LicenseBroker.Domain.Seats;

namespace LicenseBroker.UnitTests;

/// <summary>
/// Lease proofs bind every field of a grant, its device and its grace, survive key rotation while the old key is
/// configured, and nothing else verifies.
/// </summary>
public sealed class LeaseProofTests
{
    private static readonly byte[] KeyOne = Enumerable.Repeat((byte)1, 32).ToArray();
    private static readonly byte[] KeyTwo = Enumerable.Repeat((byte)2, 32).ToArray();
    private static readonly PoolId Pool = new("acct", "remote-support");
    private static readonly DateTimeOffset Expires = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);
    private static readonly Lease Granted = new("ls_AAAAAAAAAAAAAAAAAAAAAA", "remote-support", "s-1", SeatType.Concurrent, Expires, 42);
    private static readonly TimeSpan Grace = TimeSpan.FromMinutes(5);

    [Fact]
    public void A_queue_ticket_gives_back_exactly_the_place_it_was_signed_for_to_its_agent_in_its_pool()
    {
        var proofs = new LeaseProofs(new Dictionary<string, byte[]> { ["k1"] = KeyOne, ["k2"] = KeyTwo }, "k1");
        var place = new QueuePlace(29_000_000_123, QueuePriority.Incident, Expires, Expires + TimeSpan.FromMinutes(10));
        var ticket = proofs.SignTicket(Pool, "agent-1", place);
        Assert.True(ticket.Length <= LeaseProofs.MaxTicketLength);
        Assert.Equal(place, proofs.VerifyTicket(Pool, "agent-1", ticket));

        Assert.Null(proofs.VerifyTicket(Pool, "agent-2", ticket));
        Assert.Null(proofs.VerifyTicket(Pool with { AccountId = "other" }, "agent-1", ticket));
        Assert.Null(proofs.VerifyTicket(Pool with { Product = "monitoring" }, "agent-1", ticket));

        // Each field changed, or written another way (a leading zero), breaks it; so does another key or version.
        var parts = ticket.Split('.');
        for (var field = 2; field <= 5; field++)
        {
            var changed = (string[])parts.Clone();
            changed[field] = field == 3 ? "2" : (long.Parse(parts[field], System.Globalization.CultureInfo.InvariantCulture) - 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
            Assert.Null(proofs.VerifyTicket(Pool, "agent-1", string.Join('.', changed)));
            changed[field] = "0" + parts[field];
            Assert.Null(proofs.VerifyTicket(Pool, "agent-1", string.Join('.', changed)));
        }

        Assert.Null(proofs.VerifyTicket(Pool, "agent-1", "qt2" + ticket[3..]));
        Assert.Null(proofs.VerifyTicket(Pool, "agent-1", ticket.Replace(".k1.", ".k2.", StringComparison.Ordinal)));
        Assert.Null(proofs.VerifyTicket(Pool, "agent-1", ticket[..^10] + (ticket[^10] == 'A' ? 'B' : 'A') + ticket[^9..]));
        Assert.Null(proofs.VerifyTicket(Pool, "agent-1", string.Empty));
        Assert.Null(proofs.VerifyTicket(Pool, "agent-1", ticket + ticket));
        Assert.Null(proofs.VerifyTicket(Pool, "agent-1", "qt1.k1.1.9.1.1." + new string('A', 43)));
    }

    [Fact]
    public void A_proof_verifies_for_exactly_the_grant_device_and_grace_it_was_signed_for()
    {
        var proofs = new LeaseProofs(new Dictionary<string, byte[]> { ["k1"] = KeyOne }, "k1");
        var lease = proofs.Attach(Pool, "agent-1", "desk-1", Granted, Grace);
        var proof = lease.Proof;
        Assert.True(proof.Length <= LeaseProofs.MaxLength);
        Assert.Equal(Expires + Grace, lease.GraceUntil);
        Assert.Equal(new ProvenLease(42, Expires + Grace), proofs.Verify(Pool, "agent-1", "desk-1", Granted.LeaseId, "s-1", SeatType.Concurrent, 42, proof));

        Assert.Null(proofs.Verify(Pool with { AccountId = "other" }, "agent-1", "desk-1", Granted.LeaseId, "s-1", SeatType.Concurrent, 42, proof));
        Assert.Null(proofs.Verify(Pool with { Product = "monitoring" }, "agent-1", "desk-1", Granted.LeaseId, "s-1", SeatType.Concurrent, 42, proof));
        Assert.Null(proofs.Verify(Pool, "agent-2", "desk-1", Granted.LeaseId, "s-1", SeatType.Concurrent, 42, proof));
        Assert.Null(proofs.Verify(Pool, "agent-1", "phone-1", Granted.LeaseId, "s-1", SeatType.Concurrent, 42, proof));
        Assert.Null(proofs.Verify(Pool, "agent-1", "desk-1", "ls_BAAAAAAAAAAAAAAAAAAAAA", "s-1", SeatType.Concurrent, 42, proof));
        Assert.Null(proofs.Verify(Pool, "agent-1", "desk-1", Granted.LeaseId, "s-2", SeatType.Concurrent, 42, proof));
        Assert.Null(proofs.Verify(Pool, "agent-1", "desk-1", Granted.LeaseId, "s-1", SeatType.Named, 42, proof));
        Assert.Null(proofs.Verify(Pool, "agent-1", "desk-1", Granted.LeaseId, "s-1", SeatType.Concurrent, 43, proof));
        Assert.Null(proofs.Verify(Pool, "agent-1", "desk-1", Granted.LeaseId, "s-1", SeatType.Concurrent, 0, proof));

        // The grace is signed: a later one written into the proof (an app that wants a longer grace) breaks the MAC.
        var parts = proof.Split('.');
        var stretched = $"{parts[0]}.{parts[1]}.{long.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture) + 3_600_000}.{parts[3]}";
        foreach (var bad in new[]
        {
            "", "lp2", "lp2.k1.", "lp2.k1.1.!!", stretched, $"lp2.k1.0{parts[2]}.{parts[3]}", $"lp2.k1.-1.{parts[3]}", $"lp2.k1.{parts[2]}.{parts[3]}A",
            $"lp2.k9.{parts[2]}.{parts[3]}", $"lp1.k1.{parts[3]}", proof.Replace("lp2.k1.", "lp2.k1..", StringComparison.Ordinal),
        })
        {
            Assert.Null(proofs.Verify(Pool, "agent-1", "desk-1", Granted.LeaseId, "s-1", SeatType.Concurrent, 42, bad));
        }
    }

    [Fact]
    public void A_proof_of_the_version_before_still_verifies_with_no_grace()
    {
        // "lp1" as the brokers before grace signed it: no device, no grace.
        var message = string.Join('\n', "lp1", Pool.AccountId, Pool.Product, "agent-1", Granted.LeaseId, "s-1", "Concurrent", "42");
        var proof = "lp1.k1." + System.Buffers.Text.Base64Url.EncodeToString(HMACSHA256.HashData(KeyOne, Encoding.UTF8.GetBytes(message)));
        var proofs = new LeaseProofs(new Dictionary<string, byte[]> { ["k1"] = KeyOne }, "k1");

        Assert.Equal(new ProvenLease(42, null), proofs.Verify(Pool, "agent-1", "any-device", Granted.LeaseId, "s-1", SeatType.Concurrent, 42, proof));
        Assert.Null(proofs.Verify(Pool, "agent-2", "any-device", Granted.LeaseId, "s-1", SeatType.Concurrent, 42, proof));
    }

    [Fact]
    public void Rotation_keeps_old_proofs_valid_while_the_old_key_is_configured()
    {
        var before = new LeaseProofs(new Dictionary<string, byte[]> { ["k1"] = KeyOne }, "k1");
        var during = new LeaseProofs(new Dictionary<string, byte[]> { ["k1"] = KeyOne, ["k2"] = KeyTwo }, "k2");
        var after = new LeaseProofs(new Dictionary<string, byte[]> { ["k2"] = KeyTwo }, "k2");
        var old = before.Attach(Pool, "agent-1", "desk-1", Granted, Grace).Proof;
        var renewed = during.Attach(Pool, "agent-1", "desk-1", Granted, Grace).Proof;

        Assert.StartsWith("lp2.k2.", renewed, StringComparison.Ordinal);
        Assert.NotNull(during.Verify(Pool, "agent-1", "desk-1", Granted.LeaseId, "s-1", SeatType.Concurrent, 42, old));
        Assert.NotNull(after.Verify(Pool, "agent-1", "desk-1", Granted.LeaseId, "s-1", SeatType.Concurrent, 42, renewed));
        Assert.Null(after.Verify(Pool, "agent-1", "desk-1", Granted.LeaseId, "s-1", SeatType.Concurrent, 42, old));
    }

    [Theory]
    [InlineData("k1", "c2hvcnQ=", "k1")]
    [InlineData("k1", "not base64!", "k1")]
    [InlineData("bad id!", "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=", "bad id!")]
    [InlineData("k1", "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=", "k2")]
    public void Settings_that_cannot_work_stop_the_start(string id, string secret, string current) =>
        Assert.Throws<InvalidOperationException>(() => new LeaseProofOptions { Keys = { [id] = secret }, CurrentKey = current }.DecodeKeys());

    [Fact]
    public void A_renewal_signs_the_moved_grace()
    {
        var proofs = new LeaseProofs(new Dictionary<string, byte[]> { ["k1"] = KeyOne }, "k1");
        var first = proofs.Attach(Pool, "agent-1", "desk-1", Granted, Grace);
        var renewed = proofs.Attach(Pool, "agent-1", "desk-1", Granted with { ExpiresAt = Expires.AddMinutes(1) }, Grace);

        Assert.NotEqual(first.Proof, renewed.Proof);
        Assert.Equal(Expires.AddMinutes(1) + Grace, proofs.Verify(Pool, "agent-1", "desk-1", Granted.LeaseId, "s-1", SeatType.Concurrent, 42, renewed.Proof)!.GraceUntil);
        Assert.Equal(Expires.AddMinutes(1), proofs.Attach(Pool, "agent-1", "desk-1", Granted with { ExpiresAt = Expires.AddMinutes(1) }, TimeSpan.Zero).GraceUntil);
    }
}
