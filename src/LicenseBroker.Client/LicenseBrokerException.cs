using Google.Rpc;
using Grpc.Core;

namespace LicenseBroker.Client;

/// <summary>
/// The broker refused, or could not be reached. <see cref="Reason"/> is the machine-readable
/// ErrorInfo reason (ALL_SHARED_SEATS_IN_USE, NO_SEAT_ASSIGNED, LEASE_REVOKED, TOKEN_EXPIRED, ...);
/// <see cref="Exception.Message"/> is the text for the agent, in the language asked for when the
/// broker has it (google.rpc.LocalizedMessage), else the broker's English message.
/// </summary>
public sealed class LicenseBrokerException : Exception
{
    internal LicenseBrokerException(RpcException call)
        : this(call, Read(call))
    {
    }

    private LicenseBrokerException(RpcException call, Google.Rpc.Status? status)
        : base(status?.GetDetail<LocalizedMessage>()?.Message ?? (call.Status.Detail.Length > 0 ? call.Status.Detail : call.StatusCode.ToString()), call)
    {
        StatusCode = call.StatusCode;
        var info = status?.GetDetail<ErrorInfo>();
        Reason = info?.Reason;
        Metadata = info?.Metadata.ToDictionary(entry => entry.Key, entry => entry.Value) ?? [];
        RetryAfter = status?.GetDetail<RetryInfo>()?.RetryDelay?.ToTimeSpan();
        EnglishMessage = call.Status.Detail;
        Locale = status?.GetDetail<LocalizedMessage>()?.Locale;
        FieldViolations = status?.GetDetail<BadRequest>()?.FieldViolations.Select(v => (v.Field, v.Description)).ToList() ?? [];
    }

    /// <summary>The gRPC status of the call.</summary>
    public StatusCode StatusCode { get; }

    /// <summary>The ErrorInfo reason, or null when the broker gave none (e.g. a network failure).</summary>
    public string? Reason { get; }

    /// <summary>The ErrorInfo metadata: in_use, limit and waiting for a full pool; revoked_by for a revocation; ...</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>When the broker says when to try again (google.rpc.RetryInfo).</summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>The broker's message in English (Status.message), for logs and support.</summary>
    public string EnglishMessage { get; }

    /// <summary>The language of <see cref="Exception.Message"/> when the broker localized it.</summary>
    public string? Locale { get; }

    /// <summary>With INVALID_ARGUMENT: each bad field and what is wrong with it.</summary>
    public IReadOnlyList<(string Field, string Description)> FieldViolations { get; }

    /// <summary>True when trying again later may succeed (the broker or a backend is unreachable).</summary>
    public bool IsTransient => IsTransientStatus(StatusCode);

    internal static bool IsTransientStatus(StatusCode code) => code is StatusCode.Unavailable or StatusCode.DeadlineExceeded;

    /// <summary>
    /// The rich status of a failed call, decoded from its grpc-status-details-bin trailer. Written here
    /// rather than taken from Grpc.StatusProto so that the SDK depends on Grpc.Net.Client and the contracts only.
    /// </summary>
    internal static Google.Rpc.Status? Read(RpcException call)
    {
        var entry = call.Trailers.Get("grpc-status-details-bin");
        if (entry is not { IsBinary: true })
        {
            return null;
        }

        try
        {
            return Google.Rpc.Status.Parser.ParseFrom(entry.ValueBytes);
        }
        catch (Google.Protobuf.InvalidProtocolBufferException)
        {
            return null;
        }
    }
}

/// <summary>Reads typed details out of a google.rpc.Status.</summary>
internal static class StatusDetails
{
    public static T? GetDetail<T>(this Google.Rpc.Status status)
        where T : class, Google.Protobuf.IMessage<T>, new()
    {
        var descriptor = new T().Descriptor;
        return status.Details.FirstOrDefault(any => any.Is(descriptor))?.Unpack<T>();
    }
}
