using Grpc.Core;
using Grpc.Net.Client;
using LicenseBroker.Contracts.V1;

namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>What an agent app does, over the real gRPC contract.</summary>
internal sealed class AgentClient
{
    private readonly SeatService.SeatServiceClient _client;
    private readonly Metadata _headers;

    /// <param name="acceptLanguage">The language the app asks its messages in (accept-language), or none.</param>
    public AgentClient(GrpcChannel channel, string token, string? acceptLanguage = null)
    {
        _client = new SeatService.SeatServiceClient(channel);
        _headers = new Metadata { { "Authorization", "Bearer " + token } };
        if (acceptLanguage is not null)
        {
            _headers.Add("accept-language", acceptLanguage);
        }
    }

    public SeatService.SeatServiceClient Raw => _client;

    public Metadata Headers => _headers;

    public async Task<AcquireSeatResponse> AcquireAsync(
        string product,
        string? sessionId = null,
        string deviceId = "desktop-1",
        Platform platform = Platform.Windows,
        SessionKind kind = SessionKind.Pending) =>
        await _client.AcquireSeatAsync(
            new AcquireSeatRequest
            {
                Product = product,
                SessionId = sessionId ?? "s-" + Guid.NewGuid().ToString("N")[..12],
                Device = new Device { Id = deviceId, Platform = platform },
                SessionKind = kind,
            },
            _headers,
            deadline: DateTime.UtcNow.AddSeconds(10));

    public async Task<Lease> HeartbeatAsync(Lease lease, SessionKind kind = SessionKind.Pending, TimeSpan? idleFor = null)
    {
        var request = new HeartbeatRequest
        {
            Product = lease.Product, LeaseId = lease.LeaseId, SessionId = lease.SessionId, FencingToken = lease.FencingToken, LeaseProof = lease.LeaseProof,
            Device = new Device { Id = "desktop-1", Platform = Platform.Windows }, SessionKind = kind,
        };
        if (idleFor is { } idle)
        {
            request.IdleFor = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(idle);
        }

        return (await _client.HeartbeatAsync(request, _headers, deadline: DateTime.UtcNow.AddSeconds(10))).Lease;
    }

    public async Task<bool> ReleaseAsync(Lease lease) =>
        (await _client.ReleaseSeatAsync(
            new ReleaseSeatRequest { Product = lease.Product, LeaseId = lease.LeaseId },
            _headers,
            deadline: DateTime.UtcNow.AddSeconds(10))).Released;
}
