using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Server.Grpc;

/// <summary>The one place where refusals of the seat rules become gRPC status codes and error details.</summary>
internal static class OutcomeStatus
{
    public const string Domain = "licensebroker.v1";

    public const string AllSharedSeatsInUseMessage =
        "All shared seats are in use. To start a session, please wait for a seat to become available.";

    public static RpcException PoolFull(AcquireOutcome.PoolFull full) =>
        Error(Code.ResourceExhausted, AllSharedSeatsInUseMessage, "ALL_SHARED_SEATS_IN_USE", new()
        {
            ["in_use"] = full.InUse.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["limit"] = full.Limit.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });

    public static RpcException NoSeatAssigned(string product) =>
        Error(Code.PermissionDenied, $"You have no seat of {product}. Ask an administrator to give you one.", "NO_SEAT_ASSIGNED", new() { ["product"] = product });

    public static RpcException NoActiveSubscription(string product) =>
        Error(Code.FailedPrecondition, $"The account has no active trial or paid plan for {product}.", "NO_ACTIVE_SUBSCRIPTION", new() { ["product"] = product });

    public static RpcException LeaseNotFound(string leaseId) =>
        Error(Code.NotFound, "The lease is unknown or has expired. Acquire a seat again.", "LEASE_EXPIRED", new() { ["lease_id"] = leaseId });

    public static RpcException Revoked(HeartbeatOutcome.Revoked revoked) =>
        Error(Code.FailedPrecondition, $"An administrator ({revoked.RevokedBy}) ended this lease at {revoked.RevokedAt:O}.", "LEASE_REVOKED", new()
        {
            ["revoked_by"] = revoked.RevokedBy,
            ["revoked_at"] = revoked.RevokedAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
        });

    private static RpcException Error(Code code, string message, string reason, Dictionary<string, string> metadata)
    {
        var info = new ErrorInfo { Reason = reason, Domain = Domain };
        info.Metadata.Add(metadata);
        return new Google.Rpc.Status
        {
            Code = (int)code,
            Message = message,
            Details = { Any.Pack(info) },
        }.ToRpcException();
    }
}
