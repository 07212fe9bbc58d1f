using Google.Protobuf.WellKnownTypes;
using LicenseBroker.Domain.Seats;
using V1 = LicenseBroker.Contracts.V1;

namespace LicenseBroker.Server.Grpc;

/// <summary>Conversions between the wire contract and the domain.</summary>
internal static class ProtoMapping
{
    public static V1.Lease ToProto(this Lease lease, SeatOptions options) => new()
    {
        GraceUntil = lease.GraceUntil is { } grace ? Timestamp.FromDateTimeOffset(grace) : null,
        LeaseId = lease.LeaseId,
        Product = lease.Product,
        SessionId = lease.SessionId,
        SeatType = lease.SeatType.ToProto(),
        ExpiresAt = Timestamp.FromDateTimeOffset(lease.ExpiresAt),
        FencingToken = lease.FencingToken,
        LeaseProof = lease.Proof,
        HeartbeatIntervalSeconds = (int)options.HeartbeatInterval.TotalSeconds,
        LeaseTtlSeconds = (int)options.LeaseTtl.TotalSeconds,
    };

    public static DeviceInfo ToDomain(this V1.Device device) => new(device.Id, device.Platform switch
    {
        V1.Platform.Windows => Platform.Windows,
        V1.Platform.Mac => Platform.Mac,
        V1.Platform.Ios => Platform.Ios,
        V1.Platform.Android => Platform.Android,
        V1.Platform.Linux => Platform.Linux,
        V1.Platform.Web => Platform.Web,
        _ => throw new ArgumentOutOfRangeException(nameof(device), device.Platform, "validated before mapping"),
    });

    public static V1.Platform ToProto(this Platform platform) => platform switch
    {
        Platform.Windows => V1.Platform.Windows,
        Platform.Mac => V1.Platform.Mac,
        Platform.Ios => V1.Platform.Ios,
        Platform.Android => V1.Platform.Android,
        Platform.Linux => V1.Platform.Linux,
        Platform.Web => V1.Platform.Web,
        _ => V1.Platform.Unspecified,
    };

    public static V1.SessionKind ToProto(this SessionKind kind) => kind switch
    {
        SessionKind.Pending => V1.SessionKind.Pending,
        SessionKind.Attended => V1.SessionKind.Attended,
        SessionKind.Unattended => V1.SessionKind.Unattended,
        _ => V1.SessionKind.Unspecified,
    };

    /// <summary>A group's queue class as stored: null for UNSPECIFIED (standard). Callers validate the value first.</summary>
    public static Domain.Seats.QueuePriority? ToDomain(this V1.QueuePriority priority) => priority switch
    {
        V1.QueuePriority.Unspecified => null,
        V1.QueuePriority.Incident => Domain.Seats.QueuePriority.Incident,
        V1.QueuePriority.High => Domain.Seats.QueuePriority.High,
        V1.QueuePriority.Standard => Domain.Seats.QueuePriority.Standard,
        V1.QueuePriority.Background => Domain.Seats.QueuePriority.Background,
        _ => throw new ArgumentOutOfRangeException(nameof(priority), priority, "validated before"),
    };

    public static V1.QueuePriority ToProto(this Domain.Seats.QueuePriority priority) => priority switch
    {
        Domain.Seats.QueuePriority.Incident => V1.QueuePriority.Incident,
        Domain.Seats.QueuePriority.High => V1.QueuePriority.High,
        Domain.Seats.QueuePriority.Standard => V1.QueuePriority.Standard,
        Domain.Seats.QueuePriority.Background => V1.QueuePriority.Background,
        _ => throw new ArgumentOutOfRangeException(nameof(priority), priority, "not a queue class"),
    };

    public static SessionKind ToDomain(this V1.SessionKind kind) => kind switch
    {
        V1.SessionKind.Pending => SessionKind.Pending,
        V1.SessionKind.Attended => SessionKind.Attended,
        V1.SessionKind.Unattended => SessionKind.Unattended,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "validated before mapping"),
    };
}
