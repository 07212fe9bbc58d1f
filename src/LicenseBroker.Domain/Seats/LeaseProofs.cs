using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace LicenseBroker.Domain.Seats;

/// <summary>
/// Section "LeaseProofs" of the settings: the keys that sign lease proofs. Every replica of a
/// deployment must have the same keys. Rotation: add the new key, make it current, and remove
/// the old one after one lease TTL (every heartbeat answer carries a proof under the current key).
/// </summary>
public sealed class LeaseProofOptions
{
    public const string SectionName = "LeaseProofs";

    /// <summary>Key id (1-16 letters or digits) to base64 secret of at least 32 bytes.</summary>
    public Dictionary<string, string> Keys { get; set; } = [];

    /// <summary>The key id that signs new proofs; proofs under any key of <see cref="Keys"/> verify.</summary>
    public string CurrentKey { get; set; } = string.Empty;

    /// <summary>The configured keys, decoded; throws when they cannot work, so a bad deployment fails at start.</summary>
    public IReadOnlyDictionary<string, byte[]> DecodeKeys()
    {
        var decoded = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (id, secret) in Keys)
        {
            if (id.Length is 0 or > 16 || !id.All(char.IsAsciiLetterOrDigit))
            {
                throw new InvalidOperationException($"{SectionName}:Keys: key id '{id}' must be 1-16 letters or digits.");
            }

            byte[] bytes;
            try
            {
                bytes = Convert.FromBase64String(secret);
            }
            catch (FormatException)
            {
                throw new InvalidOperationException($"{SectionName}:Keys:{id} is not valid base64.");
            }

            if (bytes.Length < 32)
            {
                throw new InvalidOperationException($"{SectionName}:Keys:{id} is shorter than 32 bytes.");
            }

            decoded[id] = bytes;
        }

        if (decoded.Count > 0 && !decoded.ContainsKey(CurrentKey))
        {
            throw new InvalidOperationException($"{SectionName}:CurrentKey must name one of {SectionName}:Keys (is '{CurrentKey}').");
        }

        return decoded;
    }
}

/// <summary>
/// Lease proofs: an HMAC-SHA256, by the broker's own key, over everything that identifies a grant
/// (account, product, agent, lease id, session, seat type, fencing token). The broker returns one
/// with every lease; an app sends it back on Heartbeat. It is the only evidence the broker accepts
/// from a client that a lease existed: after Redis lost data, a lease is re-established, and the
/// pool's fencing counter raised, only on a proof that verifies. A fencing token without a valid
/// proof is ignored, so no client can raise a counter, open a recovery window, or claim a lease id
/// it was not given.
/// </summary>
/// <remarks>
/// Hand-written over <see cref="HMACSHA256"/> rather than a JWT/PASETO library: the proof is opaque
/// to the app, never leaves the broker's own trust domain, and must cost a microsecond on every
/// heartbeat; a token format would add parsing, claims and algorithm choices with nothing to gain.
/// Format: "lp1.&lt;key id&gt;.&lt;base64url of the 32-byte MAC&gt;".
/// </remarks>
public sealed class LeaseProofs
{
    /// <summary>Longest proof the broker produces (key id up to 16): longer input is not a proof.</summary>
    public const int MaxLength = 4 + 16 + 1 + 43;

    private const string Version = "lp1";
    private readonly IReadOnlyDictionary<string, byte[]> _keys;
    private readonly string _currentKey;

    /// <param name="keys">Key id to secret (at least one).</param>
    /// <param name="currentKey">The key that signs.</param>
    public LeaseProofs(IReadOnlyDictionary<string, byte[]> keys, string currentKey)
    {
        if (!keys.ContainsKey(currentKey))
        {
            throw new ArgumentException("The current key must be one of the keys.", nameof(currentKey));
        }

        _keys = keys;
        _currentKey = currentKey;
    }

    /// <summary>The lease with its proof attached.</summary>
    public Lease Attach(PoolId pool, string agentId, Lease lease)
    {
        Span<byte> mac = stackalloc byte[32];
        Mac(_keys[_currentKey], pool, agentId, lease.LeaseId, lease.SessionId, lease.SeatType, lease.FencingToken, mac);
        return lease with { Proof = $"{Version}.{_currentKey}.{Base64Url.EncodeToString(mac)}" };
    }

    /// <summary>
    /// The renewed lease with its proof: the one the app sent, when it verified for exactly this lease
    /// (same id, session, seat type and fencing token: a proof does not cover the expiry) and was signed
    /// with the current key, so a renewal costs no second HMAC; otherwise a new one.
    /// </summary>
    public Lease Renew(PoolId pool, string agentId, Lease lease, string verifiedProof, string leaseId, string sessionId, SeatType seatType, long verifiedToken) =>
        verifiedToken > 0 && lease.FencingToken == verifiedToken && lease.LeaseId == leaseId && lease.SessionId == sessionId && lease.SeatType == seatType
            && verifiedProof.StartsWith($"{Version}.{_currentKey}.", StringComparison.Ordinal)
            ? lease with { Proof = verifiedProof }
            : Attach(pool, agentId, lease);

    /// <summary>True when <paramref name="proof"/> was signed by this broker (any configured key) for exactly these values.</summary>
    public bool Verify(PoolId pool, string agentId, string leaseId, string sessionId, SeatType seatType, long fencingToken, string proof)
    {
        if (proof.Length is 0 or > MaxLength || fencingToken <= 0)
        {
            return false;
        }

        var parts = proof.Split('.');
        if (parts.Length != 3 || parts[0] != Version || !_keys.TryGetValue(parts[1], out var key))
        {
            return false;
        }

        // 43 characters of base64url are exactly 32 bytes; the decoder throws on characters outside its alphabet.
        Span<byte> given = stackalloc byte[32];
        if (parts[2].Length != 43 || !parts[2].All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')
            || !Base64Url.TryDecodeFromChars(parts[2], given, out var written) || written != 32)
        {
            return false;
        }

        Span<byte> expected = stackalloc byte[32];
        Mac(key, pool, agentId, leaseId, sessionId, seatType, fencingToken, expected);
        return CryptographicOperations.FixedTimeEquals(expected, given);
    }

    // Runs on every grant and renewal: the message is encoded into a stack (or pooled) buffer and the
    // MAC written in place, so a proof allocates nothing but its text.
    private static void Mac(byte[] key, PoolId pool, string agentId, string leaseId, string sessionId, SeatType seatType, long fencingToken, Span<byte> mac)
    {
        // Newline-separated: no validated id, product or account contains one, so fields cannot shift.
        var message = string.Join('\n', Version, pool.AccountId, pool.Product, agentId, leaseId, sessionId, seatType.ToString(), fencingToken.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var length = Encoding.UTF8.GetMaxByteCount(message.Length);
        byte[]? rented = length > 1024 ? System.Buffers.ArrayPool<byte>.Shared.Rent(length) : null;
        Span<byte> buffer = rented ?? stackalloc byte[1024];
        try
        {
            var written = Encoding.UTF8.GetBytes(message, buffer);
            HMACSHA256.HashData(key, buffer[..written], mac);
        }
        finally
        {
            if (rented is not null)
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }
}
