using Grpc.Core;
using Grpc.Net.Client;
using LicenseBroker.Contracts.V1;
using Microsoft.AspNetCore.Authentication;

namespace LicenseBroker.AdminCenter.Broker;

/// <summary>
/// The console's only way to the broker: SeatAdminService called with the signed-in admin's own
/// access token, so the broker applies every rule and every permission. One instance per request.
/// </summary>
public sealed class AdminBroker
{
    private readonly GrpcChannel _channel;
    private readonly IHttpContextAccessor _http;

    public AdminBroker(BrokerChannel channel, IHttpContextAccessor http)
    {
        _channel = channel.Channel;
        _http = http;
    }

    public SeatAdminService.SeatAdminServiceClient Admin => new(_channel);

    /// <summary>Runs one call; a refusal comes back as a <see cref="BrokerProblem"/> to show, never as a crash.</summary>
    public async Task<BrokerResult<T>> CallAsync<T>(Func<SeatAdminService.SeatAdminServiceClient, Metadata, Task<T>> call)
    {
        var headers = await HeadersAsync();
        try
        {
            return new BrokerResult<T>(await call(Admin, headers), null);
        }
        catch (RpcException ex)
        {
            return new BrokerResult<T>(default, BrokerProblem.From(ex));
        }
    }

    private async Task<Metadata> HeadersAsync()
    {
        var context = _http.HttpContext ?? throw new InvalidOperationException("The broker is called during a request only.");
        var token = await context.GetTokenAsync("access_token");
        var headers = new Metadata();
        if (token is not null)
        {
            headers.Add("authorization", "Bearer " + token);
        }

        // The broker words agent-facing refusals in the admin's language too.
        headers.Add("accept-language", System.Globalization.CultureInfo.CurrentUICulture.Name);
        return headers;
    }
}

/// <summary>The answer of one call: a value or a problem.</summary>
public sealed record BrokerResult<T>(T? Value, BrokerProblem? Problem)
{
    public bool Ok => Problem is null;
}

/// <summary>What the broker refused, as the console words it.</summary>
public sealed record BrokerProblem(StatusCode Code, string Reason, string Message, IReadOnlyDictionary<string, string> Metadata)
{
    public static BrokerProblem From(RpcException ex)
    {
        var status = ex.GetRpcStatus();
        var info = status?.GetDetail<Google.Rpc.ErrorInfo>();
        return new BrokerProblem(
            ex.StatusCode,
            info?.Reason ?? string.Empty,
            status?.Message ?? ex.Status.Detail,
            info?.Metadata.ToDictionary(m => m.Key, m => m.Value, StringComparer.Ordinal) ?? new Dictionary<string, string>(StringComparer.Ordinal));
    }

    public bool NotAllowed => Code is StatusCode.PermissionDenied or StatusCode.Unauthenticated;
}

/// <summary>One HTTP/2 channel to the broker for the whole app (channels are meant to be shared).</summary>
public sealed class BrokerChannel : IDisposable
{
    public BrokerChannel(Uri address)
    {
        Channel = GrpcChannel.ForAddress(address);
    }

    public GrpcChannel Channel { get; }

    public void Dispose() => Channel.Dispose();
}
