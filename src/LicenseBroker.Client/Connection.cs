using Grpc.Net.Client;

namespace LicenseBroker.Client;

/// <summary>What the SDK's clients share: how a channel is opened, and how long to wait before trying again.</summary>
internal static class Connection
{
    public static GrpcChannel Open(Uri address, HttpMessageHandler? handler, Microsoft.Extensions.Logging.ILoggerFactory? loggerFactory) =>
        GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = handler is null,
            LoggerFactory = loggerFactory,
        });

    /// <summary>Exponential backoff with full jitter: spreads the retries of many clients after an outage.</summary>
    public static TimeSpan Backoff(int attempt, TimeSpan first, TimeSpan max)
    {
        var ceiling = Math.Min(max.TotalMilliseconds, first.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 16)));
        return TimeSpan.FromMilliseconds(first.TotalMilliseconds / 2 + Random.Shared.NextDouble() * ceiling);
    }
}
