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
    private readonly List<BadRequest.Types.FieldViolation> _violations = [];

    public RequestValidation Product(string value, string field = "product") =>
        Check(ProductPattern().IsMatch(value), field, "must be a product code: 1-64 lowercase letters, digits or '-'");

    public RequestValidation Id(string value, string field) =>
        Check(IdPattern().IsMatch(value), field, "must be 1-128 characters: letters, digits, '.', '_', ':', '@' or '-'");

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

        var badRequest = new BadRequest();
        badRequest.FieldViolations.AddRange(_violations);
        var message = "Invalid request: " + string.Join("; ", _violations.Select(v => $"{v.Field} {v.Description}"));
        throw new Google.Rpc.Status
        {
            Code = (int)Code.InvalidArgument,
            Message = message,
            Details = { Google.Protobuf.WellKnownTypes.Any.Pack(badRequest) },
        }.ToRpcException();
    }

    [GeneratedRegex("^[a-z0-9-]{1,64}$")]
    private static partial Regex ProductPattern();

    [GeneratedRegex("^[A-Za-z0-9._:@-]{1,128}$")]
    private static partial Regex IdPattern();

    [GeneratedRegex("^ls_[A-Za-z0-9_-]{22}$")]
    private static partial Regex LeaseIdPattern();
}
