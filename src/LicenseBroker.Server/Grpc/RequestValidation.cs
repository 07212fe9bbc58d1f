using System.Text.RegularExpressions;
using Google.Rpc;
using Grpc.Core;
using LicenseBroker.Contracts.V1;

namespace LicenseBroker.Server.Grpc;

/// <summary>
/// Field checks shared by every RPC. Violations are collected, then answered together as
/// INVALID_ARGUMENT with a google.rpc.BadRequest naming each bad field, before any state changes.
/// </summary>
internal sealed partial class RequestValidation
{
    public const int MaxLimit = 1_000_000;
    public const int MaxPageSize = 1000;
    public const int DefaultPageSize = 100;
    public const int MaxBatch = 1000;

    /// <summary>Dates and times a request may name: well inside what .NET, protobuf and PostgreSQL all represent
    /// (PostgreSQL turns DateOnly.MinValue/MaxValue into -infinity/infinity).</summary>
    public static readonly DateOnly EarliestDate = new(2000, 1, 1);

    public static readonly DateOnly LatestDate = new(2199, 12, 31);

    private readonly List<BadRequest.Types.FieldViolation> _violations = [];

    public static bool IsProduct(string value) => ProductPattern().IsMatch(value);

    public static bool IsId(string value) => IdPattern().IsMatch(value);

    /// <summary>An audit category ("seat") or action ("provisioning.group.map").</summary>
    public static bool IsAuditAction(string value) => AuditActionPattern().IsMatch(value);

    public RequestValidation Product(string value, string field = "product") =>
        Check(ProductPattern().IsMatch(value), field, "must be a product code: 1-64 lowercase letters, digits or '-'");

    public RequestValidation Id(string value, string field) =>
        Check(IdPattern().IsMatch(value), field, "must be 1-128 characters: letters, digits, '.', '_', ':', '@' or '-'");

    public static bool IsLeaseId(string value) => LeaseIdPattern().IsMatch(value);

    /// <summary>The shape of a lease proof or queue ticket the broker hands out: at most <paramref name="maxLength"/> of [A-Za-z0-9._-].</summary>
    public static bool IsProofShaped(string value, int maxLength) =>
        value.Length <= maxLength && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    public RequestValidation LeaseId(string value, string field = "lease_id") =>
        Check(LeaseIdPattern().IsMatch(value), field, "must be a lease id returned by AcquireSeat");

    public RequestValidation Device(Device? device, string field = "device")
    {
        if (device is null)
        {
            return Check(false, field, "is required");
        }

        Id(device.Id, field + ".id");
        return Check(device.Platform != Contracts.V1.Platform.Unspecified && Enum.IsDefined(device.Platform), field + ".platform", "must be a known platform");
    }

    public RequestValidation SessionKind(SessionKind kind, string field = "session_kind") =>
        Check(kind != Contracts.V1.SessionKind.Unspecified && Enum.IsDefined(kind), field, "must be PENDING, ATTENDED or UNATTENDED");

    public RequestValidation Email(string value, string field = "email") =>
        Check(value.Length <= 254 && EmailPattern().IsMatch(value), field, "must be an e-mail address");

    public RequestValidation Text(string value, string field, int maxLength = 200) =>
        Check(value.Trim().Length > 0 && value.Length <= maxLength && !value.Any(char.IsControl), field, $"must be 1-{maxLength} printable characters");

    /// <summary>Parses a calendar date YYYY-MM-DD between <see cref="EarliestDate"/> and <see cref="LatestDate"/>.</summary>
    public RequestValidation Date(string value, string field, out DateOnly date)
    {
        var parsed = DateOnly.TryParseExact(value, "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out date);
        return Check(parsed && date >= EarliestDate && date <= LatestDate, field, $"must be a date YYYY-MM-DD between {EarliestDate:yyyy-MM-dd} and {LatestDate:yyyy-MM-dd}");
    }

    /// <summary>Reads a timestamp that is present, well-formed (nanos 0..999,999,999) and within the calendar range.</summary>
    public RequestValidation Timestamp(Google.Protobuf.WellKnownTypes.Timestamp? value, string field, out DateTimeOffset at)
    {
        at = default;
        if (value is null)
        {
            return Check(false, field, "is required");
        }

        var earliest = new DateTimeOffset(EarliestDate.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero).ToUnixTimeSeconds();
        var latest = new DateTimeOffset(LatestDate.ToDateTime(TimeOnly.MaxValue), TimeSpan.Zero).ToUnixTimeSeconds();
        var valid = value.Nanos is >= 0 and <= 999_999_999 && value.Seconds >= earliest && value.Seconds <= latest;
        if (valid)
        {
            at = value.ToDateTimeOffset();
        }

        return Check(valid, field, $"must be a time between {EarliestDate:yyyy-MM-dd} and {LatestDate:yyyy-MM-dd} (nanos 0-999999999)");
    }

    /// <summary>An IANA time zone id this machine knows ("Europe/Paris", "UTC"), or empty for none.</summary>
    public RequestValidation TimeZone(string zone, string field) =>
        Check(
            zone.Length == 0 || zone.Length <= 64 && zone.All(c => char.IsAsciiLetterOrDigit(c) || c is '/' or '_' or '+' or '-')
                && TimeZoneInfo.TryFindSystemTimeZoneById(zone, out var found) && found.HasIanaId,
            field,
            "must be empty or an IANA time zone id such as Europe/Paris or UTC");

    /// <summary>A pending or idle timeout in seconds: 0 (never), or between the broker's minimum and a day.</summary>
    public RequestValidation IdleTimeout(int seconds, TimeSpan minimum, string field) =>
        Check(
            seconds == 0 || (seconds >= minimum.TotalSeconds && seconds <= LicenseBroker.Domain.Seats.IdleRules.MaxTimeout.TotalSeconds),
            field,
            $"must be 0 (never) or between {(int)Math.Ceiling(minimum.TotalSeconds)} and {(int)LicenseBroker.Domain.Seats.IdleRules.MaxTimeout.TotalSeconds} seconds");

    /// <summary>A revive window or an outage grace: 0 to 15 minutes, in seconds (see LeaseRecovery).</summary>
    public RequestValidation RecoverySeconds(int seconds, string field) =>
        Check(
            seconds >= 0 && seconds <= LicenseBroker.Domain.Seats.LeaseRecovery.Max.TotalSeconds,
            field,
            $"must be between 0 and {(int)LicenseBroker.Domain.Seats.LeaseRecovery.Max.TotalSeconds} seconds");

    /// <summary>An idle time an app reports: absent (active), or 0 to 30 days with nanos 0..999,999,999.</summary>
    public RequestValidation IdleFor(Google.Protobuf.WellKnownTypes.Duration? value, string field, out TimeSpan idleFor) =>
        Duration(
            value,
            field,
            LicenseBroker.Domain.Seats.IdleRules.MaxReportedIdle,
            $"must be between 0 and {(int)LicenseBroker.Domain.Seats.IdleRules.MaxReportedIdle.TotalDays} days (nanos 0-999999999)",
            TimeSpan.Zero,
            out idleFor);

    /// <summary>
    /// A duration that is absent (<paramref name="duration"/> is then <paramref name="absent"/>), or from 0 to
    /// <paramref name="max"/> with nanos 0..999,999,999 (whole seconds checked before converting: no overflow).
    /// </summary>
    public RequestValidation Duration(
        Google.Protobuf.WellKnownTypes.Duration? value, string field, TimeSpan max, string description, TimeSpan absent, out TimeSpan duration)
    {
        duration = absent;
        if (value is null)
        {
            return this;
        }

        var maxSeconds = (long)max.TotalSeconds;
        var valid = value.Seconds >= 0 && value.Nanos is >= 0 and <= 999_999_999 && value.Seconds <= maxSeconds
            && (value.Seconds < maxSeconds || value.Nanos == 0);
        if (valid)
        {
            duration = value.ToTimeSpan();
        }

        return Check(valid, field, description);
    }

    /// <summary>A webhook endpoint id as the broker makes them.</summary>
    public RequestValidation EndpointId(string value, string field = "endpoint_id") =>
        Check(EndpointIdPattern().IsMatch(value), field, "must be an endpoint id (whe_ and 16 hex digits)");

    public RequestValidation Limit(int value, string field) =>
        Check(value is >= 0 and <= MaxLimit, field, $"must be between 0 and {MaxLimit}");

    public RequestValidation Defined<TEnum>(TEnum value, string field)
        where TEnum : struct, Enum =>
        Check(Convert.ToInt32(value, System.Globalization.CultureInfo.InvariantCulture) != 0 && Enum.IsDefined(value), field, "must be set to a known value");

    /// <summary>Checks the paging of a list request and reads it: the cursor its token carries and the page size.</summary>
    public RequestValidation Page(PageRequest? page, out PageQuery query, string field = "page")
    {
        var token = page?.PageToken ?? string.Empty;
        var cursor = token.Length <= 512 ? AdminMapping.DecodePageToken(token) : string.Empty;

        // Tokens are ours, but a client can send anything: what reaches Redis or SQL is printable text only.
        if (cursor is not null && cursor.Any(char.IsControl))
        {
            cursor = string.Empty;
        }

        query = new PageQuery(cursor, page is { PageSize: > 0 } ? page.PageSize : DefaultPageSize);
        if (page is not null)
        {
            Check(page.PageSize is >= 0 and <= MaxPageSize, field + ".page_size", $"must be between 0 and {MaxPageSize}");
        }

        // A token that does not decode comes back as an empty cursor (no token at all is null).
        return Check(cursor != string.Empty, field + ".page_token", "must be a token from a previous response");
    }

    public RequestValidation Count(int count, int max, string field) =>
        Check(count <= max, field, $"must hold at most {max} items");

    public RequestValidation Check(bool valid, string field, string description)
    {
        if (!valid)
        {
            _violations.Add(new BadRequest.Types.FieldViolation { Field = field, Description = description });
        }

        return this;
    }

    /// <summary>Throws INVALID_ARGUMENT when any check failed.</summary>
    public void ThrowIfInvalid()
    {
        if (_violations.Count == 0)
        {
            return;
        }

        throw Invalid(_violations).ToRpcException();
    }

    /// <summary>INVALID_ARGUMENT with a BadRequest naming each field, and a message listing them.</summary>
    public static Google.Rpc.Status Invalid(IEnumerable<BadRequest.Types.FieldViolation> violations)
    {
        var badRequest = new BadRequest();
        badRequest.FieldViolations.AddRange(violations);
        return new Google.Rpc.Status
        {
            Code = (int)Code.InvalidArgument,
            Message = "Invalid request: " + string.Join("; ", badRequest.FieldViolations.Select(v => $"{v.Field} {v.Description}")),
            Details = { Google.Protobuf.WellKnownTypes.Any.Pack(badRequest) },
        };
    }

    /// <summary>
    /// The same refusal with each field path in the proto3 JSON form a REST caller writes
    /// (<c>items[2].seat_type</c> → <c>items[2].seatType</c>).
    /// </summary>
    public static Google.Rpc.Status? ForJsonCaller(Google.Rpc.Status status)
    {
        var badRequest = status.GetDetail<BadRequest>();
        if (badRequest is null)
        {
            return null;
        }

        return Invalid(badRequest.FieldViolations.Select(v => new BadRequest.Types.FieldViolation { Field = JsonFieldPath(v.Field), Description = v.Description }));
    }

    public static string JsonFieldPath(string protoPath) => SnakeSegment().Replace(protoPath, match => match.Groups[1].Value.ToUpperInvariant());

    [GeneratedRegex("_([a-z0-9])")]
    private static partial Regex SnakeSegment();

    [GeneratedRegex(@"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    private static partial Regex EmailPattern();

    [GeneratedRegex("^[a-z0-9-]{1,64}$")]
    private static partial Regex ProductPattern();

    [GeneratedRegex(@"^[a-z_]{1,32}(\.[a-z_]{1,32}){0,2}$")]
    private static partial Regex AuditActionPattern();

    [GeneratedRegex("^[A-Za-z0-9._:@-]{1,128}$")]
    private static partial Regex IdPattern();

    [GeneratedRegex("^whe_[0-9a-f]{16}$")]
    private static partial Regex EndpointIdPattern();

    // Classic ids (random) and compact ones (class, fence, random: see "Two layouts" in Scripts/library/02_records.lua).
    [GeneratedRegex("^(?:ls|l[co]_[1-9][0-9]{0,15})_[A-Za-z0-9_-]{22}$")]
    private static partial Regex LeaseIdPattern();
}

/// <summary>Where a list resumes (null: from the start) and how many items a page holds.</summary>
public sealed record PageQuery(string? Cursor, int Size);
