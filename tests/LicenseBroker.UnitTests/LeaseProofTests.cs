using LicenseBroker.Domain.Seats;

namespace LicenseBroker.UnitTests;

/// <summary>Lease proofs bind every field of a grant, survive key rotation while the old key is configured, and nothing else verifies.</summary>
public sealed class LeaseProofTests
{
    private static readonly byte[] KeyOne = Enumerable.Repeat((byte)1, 32).ToArray();
    private static readonly byte[] KeyTwo = Enumerable.Repeat((byte)2, 32).ToArray();
    private static readonly PoolId Pool = new("acct", "remote-support");
    private static readonly Lease Granted = new("ls_AAAAAAAAAAAAAAAAAAAAAA", "remote-support", "s-1", SeatType.Concurrent, DateTimeOffset.UnixEpoch, 42);

    [Fact]
    public void A_proof_verifies_for_exactly_the_grant_it_was_signed_for()
    {
        var proofs = new LeaseProofs(new Dictionary<string, byte[]> { ["k1"] = KeyOne }, "k1");
        var proof = proofs.Attach(Pool, "agent-1", Granted).Proof;
        Assert.True(proof.Length <= LeaseProofs.MaxLength);
        Assert.True(proofs.Verify(Pool, "agent-1", Granted.LeaseId, "s-1", SeatType.Concurrent, 42, proof));

        Assert.False(proofs.Verify(Pool with { AccountId = "other" }, "agent-1", Granted.LeaseId, "s-1", SeatType.Concurrent, 42, proof));
        Assert.False(proofs.Verify(Pool with { Product = "monitoring" }, "agent-1", Granted.LeaseId, "s-1", SeatType.Concurrent, 42, proof));
        Assert.False(proofs.Verify(Pool, "agent-2", Granted.LeaseId, "s-1", SeatType.Concurrent, 42, proof));
        Assert.False(proofs.Verify(Pool, "agent-1", "ls_BAAAAAAAAAAAAAAAAAAAAA", "s-1", SeatType.Concurrent, 42, proof));
        Assert.False(proofs.Verify(Pool, "agent-1", Granted.LeaseId, "s-2", SeatType.Concurrent, 42, proof));
        Assert.False(proofs.Verify(Pool, "agent-1", Granted.LeaseId, "s-1", SeatType.Named, 42, proof));
        Assert.False(proofs.Verify(Pool, "agent-1", Granted.LeaseId, "s-1", SeatType.Concurrent, 43, proof));
        Assert.False(proofs.Verify(Pool, "agent-1", Granted.LeaseId, "s-1", SeatType.Concurrent, 0, proof));
        foreach (var bad in new[] { "", "lp1", "lp1.k1.", "lp1.k1.!!", "lp2" + proof[3..], proof + "A", "lp1.k9" + proof[6..], proof.Replace("lp1.k1.", "lp1.k1..") })
        {
            Assert.False(proofs.Verify(Pool, "agent-1", Granted.LeaseId, "s-1", SeatType.Concurrent, 42, bad), bad);
        }
    }

    [Fact]
    public void Rotation_keeps_old_proofs_valid_while_the_old_key_is_configured()
    {
        var before = new LeaseProofs(new Dictionary<string, byte[]> { ["k1"] = KeyOne }, "k1");
        var during = new LeaseProofs(new Dictionary<string, byte[]> { ["k1"] = KeyOne, ["k2"] = KeyTwo }, "k2");
        var after = new LeaseProofs(new Dictionary<string, byte[]> { ["k2"] = KeyTwo }, "k2");
        var old = before.Attach(Pool, "agent-1", Granted).Proof;
        var renewed = during.Attach(Pool, "agent-1", Granted).Proof;

        Assert.StartsWith("lp1.k2.", renewed, StringComparison.Ordinal);
        Assert.True(during.Verify(Pool, "agent-1", Granted.LeaseId, "s-1", SeatType.Concurrent, 42, old));
        Assert.True(after.Verify(Pool, "agent-1", Granted.LeaseId, "s-1", SeatType.Concurrent, 42, renewed));
        Assert.False(after.Verify(Pool, "agent-1", Granted.LeaseId, "s-1", SeatType.Concurrent, 42, old));
    }

    [Theory]
    [InlineData("k1", "c2hvcnQ=", "k1")]
    [InlineData("k1", "not base64!", "k1")]
    [InlineData("bad id!", "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=", "bad id!")]
    [InlineData("k1", "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=", "k2")]
    public void Settings_that_cannot_work_stop_the_start(string id, string secret, string current) =>
        Assert.Throws<InvalidOperationException>(() => new LeaseProofOptions { Keys = { [id] = secret }, CurrentKey = current }.DecodeKeys());

    [Fact]
    public void A_renewal_keeps_a_verified_proof_of_the_current_key_and_signs_anew_otherwise()
    {
        var during = new LeaseProofs(new Dictionary<string, byte[]> { ["k1"] = KeyOne, ["k2"] = KeyTwo }, "k2");
        var current = during.Attach(Pool, "agent-1", Granted).Proof;
        var old = new LeaseProofs(new Dictionary<string, byte[]> { ["k1"] = KeyOne }, "k1").Attach(Pool, "agent-1", Granted).Proof;
        var renewed = Granted with { ExpiresAt = DateTimeOffset.UnixEpoch.AddMinutes(1) };

        // The same proof: a proof does not cover the expiry.
        Assert.Same(current, during.Renew(Pool, "agent-1", renewed, current, Granted.LeaseId, "s-1", SeatType.Concurrent, 42).Proof);

        // Signed anew: an old key's proof (rotation moves leases to the current key), nothing verified, or other values.
        Assert.Equal(current, during.Renew(Pool, "agent-1", renewed, old, Granted.LeaseId, "s-1", SeatType.Concurrent, 42).Proof);
        Assert.Equal(current, during.Renew(Pool, "agent-1", renewed, current, Granted.LeaseId, "s-1", SeatType.Concurrent, 0).Proof);
        var refenced = renewed with { FencingToken = 43 };
        var fresh = during.Renew(Pool, "agent-1", refenced, current, Granted.LeaseId, "s-1", SeatType.Concurrent, 42).Proof;
        Assert.NotEqual(current, fresh);
        Assert.True(during.Verify(Pool, "agent-1", Granted.LeaseId, "s-1", SeatType.Concurrent, 43, fresh));
        Assert.NotEqual(current, during.Renew(Pool, "agent-1", renewed with { SessionId = "s-2" }, current, Granted.LeaseId, "s-1", SeatType.Concurrent, 42).Proof);
    }
}
