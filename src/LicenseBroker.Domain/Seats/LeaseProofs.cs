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

/// <summary>What a lease proof that verified vouches for: the fencing token, and until when the lease's outage grace runs
/// (null for a proof of the format before grace, "lp1", which only re-establishes a lease after Redis lost data).</summary>
public sealed record ProvenLease(long FencingToken, DateTimeOffset? GraceUntil);

/// <summary>
/// Lease proofs: an HMAC-SHA256, by the broker's own key, over everything that identifies a grant
/// (account, product, agent, lease id, session, seat type, fencing token, device) and the end of its
/// outage grace. The broker returns one with every lease; an app sends it back on Heartbeat. It is
/// the only evidence the broker accepts from a client that a lease existed: after Redis lost data, a
/// lease is re-established, and the pool's fencing counter raised, only on a proof that verifies; an
/// expired lease is revived (revive window, outage grace) only on one. A fencing token without a
/// valid proof is ignored, so no client can raise a counter, open a recovery window, claim a lease id
/// it was not given, or stretch its grace (the grace is signed: changing it breaks the MAC).
/// </summary>
/// <remarks>
/// Hand-written over <see cref="HMACSHA256"/> rather than a JWT/PASETO library: the proof is opaque
/// to the app, never leaves the broker's own trust domain, and must cost a microsecond on every
/// heartbeat; a token format would add parsing, claims and algorithm choices with nothing to gain.
/// Format: "lp2.&lt;key id&gt;.&lt;grace_until, ms since the epoch&gt;.&lt;base64url of the 32-byte MAC&gt;". Proofs of
/// the format before ("lp1.&lt;key id&gt;.&lt;MAC&gt;", no device, no grace), which brokers of the version before
/// handed out, still verify for one release, with no grace: they re-establish a lease after a loss of
/// Redis data, as they did, and revive nothing.
/// </remarks>
public sealed class LeaseProofs
{
    /// <summary>Longest proof the broker produces (key id up to 16, grace up to 13 digits): longer input is not a proof.</summary>
    public const int MaxLength = 4 + 16 + 1 + 13 + 1 + 43;

    private const string Version = "lp2";
    private const string PreviousVersion = "lp1";
    private static readonly DateTimeOffset LatestGrace = DateTimeOffset.FromUnixTimeMilliseconds(9_999_999_999_999);
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

    /// <summary>
    /// The lease with its grace (<see cref="Lease.GraceUntil"/>: its expiry plus the pool's <paramref name="outageGrace"/>)
    /// and its proof attached, the proof covering the grace. Signed anew on every renewal: the grace moves with the expiry.
    /// </summary>
    public Lease Attach(PoolId pool, string agentId, string deviceId, Lease lease, TimeSpan outageGrace)
    {
        var grace = lease.ExpiresAt + outageGrace;
        grace = grace < DateTimeOffset.UnixEpoch ? DateTimeOffset.UnixEpoch : grace > LatestGrace ? LatestGrace : grace;
        var graceMs = grace.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        Span<byte> mac = stackalloc byte[32];
        Mac(_keys[_currentKey], Message(Version, pool, agentId, lease.LeaseId, lease.SessionId, lease.SeatType, lease.FencingToken, deviceId, graceMs), mac);
        return lease with { GraceUntil = grace, Proof = $"{Version}.{_currentKey}.{graceMs}.{Base64Url.EncodeToString(mac)}" };
    }

    /// <summary>
    /// What <paramref name="proof"/> vouches for, when this broker signed it (any configured key) for exactly these values;
    /// otherwise null.
    /// </summary>
    public ProvenLease? Verify(PoolId pool, string agentId, string deviceId, string leaseId, string sessionId, SeatType seatType, long fencingToken, string proof)
    {
        if (proof.Length is 0 or > MaxLength || fencingToken <= 0)
        {
            return null;
        }

        var parts = proof.Split('.');
        string message;
        DateTimeOffset? grace = null;
        if (parts.Length == 4 && parts[0] == Version)
        {
            if (parts[2].Length is 0 or > 13 || !parts[2].All(char.IsAsciiDigit) || (parts[2].Length > 1 && parts[2][0] == '0'))
            {
                return null;
            }

            grace = DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture));
            message = Message(Version, pool, agentId, leaseId, sessionId, seatType, fencingToken, deviceId, parts[2]);
        }
        else if (parts.Length == 3 && parts[0] == PreviousVersion)
        {
            message = string.Join('\n', PreviousVersion, pool.AccountId, pool.Product, agentId, leaseId, sessionId, seatType.ToString(), Token(fencingToken));
        }
        else
        {
            return null;
        }

        var encoded = parts[^1];
        if (!_keys.TryGetValue(parts[1], out var key))
        {
            return null;
        }

        // 43 characters of base64url are exactly 32 bytes; the decoder throws on characters outside its alphabet.
        Span<byte> given = stackalloc byte[32];
        if (encoded.Length != 43 || !encoded.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')
            || !Base64Url.TryDecodeFromChars(encoded, given, out var written) || written != 32)
        {
            return null;
        }

        Span<byte> expected = stackalloc byte[32];
        Mac(key, message, expected);
        return CryptographicOperations.FixedTimeEquals(expected, given) ? new ProvenLease(fencingToken, grace) : null;
    }

    /// <summary>Longest queue ticket the broker produces: "qt1", key id, key, class, since, deadline and the MAC.</summary>
    public const int MaxTicketLength = 3 + 1 + 16 + 1 + 13 + 1 + 1 + 1 + 13 + 1 + 13 + 1 + 43;

    private const string TicketVersion = "qt1";

    /// <summary>
    /// A waiter's queue ticket: its place (<see cref="QueuePlace"/>) signed, by the same keys as lease proofs, for this agent
    /// in this pool. The app sends it back when it re-joins; after Redis lost the queue, the place comes back on it alone,
    /// as a lease comes back on its proof. Opaque to the app: "qt1.&lt;key id&gt;.&lt;key&gt;.&lt;class&gt;.&lt;since ms&gt;.&lt;deadline ms&gt;.&lt;MAC&gt;".
    /// </summary>
    public string SignTicket(PoolId pool, string agentId, QueuePlace place)
    {
        var fields = TicketFields(place);
        Span<byte> mac = stackalloc byte[32];
        Mac(_keys[_currentKey], string.Join('\n', TicketVersion, pool.AccountId, pool.Product, agentId, fields), mac);
        return $"{TicketVersion}.{_currentKey}.{fields.Replace('\n', '.')}.{Base64Url.EncodeToString(mac)}";
    }

    /// <summary>The place <paramref name="ticket"/> proves, when this broker signed it for this agent and pool; otherwise null.</summary>
    public QueuePlace? VerifyTicket(PoolId pool, string agentId, string ticket)
    {
        if (ticket.Length is 0 or > MaxTicketLength)
        {
            return null;
        }

        var parts = ticket.Split('.');
        if (parts.Length != 7 || parts[0] != TicketVersion || !_keys.TryGetValue(parts[1], out var key)
            || !parts[2..6].All(p => p.Length is > 0 and <= 13 && p.All(char.IsAsciiDigit) && (p.Length == 1 || p[0] != '0')))
        {
            return null;
        }

        var numbers = parts[2..6].Select(p => long.Parse(p, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        if (numbers[1] > (long)QueuePriority.Background)
        {
            return null;
        }

        var place = new QueuePlace(numbers[0], (QueuePriority)numbers[1], DateTimeOffset.FromUnixTimeMilliseconds(numbers[2]), DateTimeOffset.FromUnixTimeMilliseconds(numbers[3]));
        Span<byte> given = stackalloc byte[32];
        var encoded = parts[6];
        if (encoded.Length != 43 || !encoded.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')
            || !Base64Url.TryDecodeFromChars(encoded, given, out var written) || written != 32)
        {
            return null;
        }

        Span<byte> expected = stackalloc byte[32];
        Mac(key, string.Join('\n', TicketVersion, pool.AccountId, pool.Product, agentId, TicketFields(place)), expected);
        return CryptographicOperations.FixedTimeEquals(expected, given) ? place : null;
    }

    // The place as the ticket writes it (one canonical text: a number written two ways cannot verify twice).
    private static string TicketFields(QueuePlace place) => string.Join(
        '\n',
        place.Key.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ((int)place.Priority).ToString(System.Globalization.CultureInfo.InvariantCulture),
        place.Since.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture),
        place.Deadline.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture));

    // Newline-separated: no validated id, product, account or device contains one, so fields cannot shift.
    private static string Message(string version, PoolId pool, string agentId, string leaseId, string sessionId, SeatType seatType, long fencingToken, string deviceId, string graceMs) =>
        string.Join('\n', version, pool.AccountId, pool.Product, agentId, leaseId, sessionId, seatType.ToString(), Token(fencingToken), deviceId, graceMs);

    private static string Token(long fencingToken) => fencingToken.ToString(System.Globalization.CultureInfo.InvariantCulture);

    // Runs on every grant and renewal: the message is encoded into a stack (or pooled) buffer and the
    // MAC written in place, so a proof allocates nothing but its text.
    private static void Mac(byte[] key, string message, Span<byte> mac)
    {
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
