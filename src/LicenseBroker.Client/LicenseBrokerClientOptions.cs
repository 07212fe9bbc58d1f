using Microsoft.Extensions.Logging;

namespace LicenseBroker.Client;

/// <summary>How a <see cref="LicenseBrokerClient"/> reaches the broker and behaves when it cannot.</summary>
public sealed class LicenseBrokerClientOptions
{
    /// <summary>The broker's gRPC address, e.g. https://licenses.example.com (http only for development).</summary>
    public required Uri Address { get; init; }

    /// <summary>
    /// Returns the agent's current access token. Called before every call, so an app that refreshes
    /// its tokens hands the fresh one here (cache it; this is called once per heartbeat).
    /// </summary>
    public required Func<CancellationToken, ValueTask<string>> AccessTokenProvider { get; init; }

    /// <summary>
    /// Language of the messages the broker writes for the agent (accept-language): "fr", "en", or a
    /// full header such as "fr-CA,fr;q=0.9". Null: the current UI culture.
    /// </summary>
    public string? Language { get; init; }

    /// <summary>Handler for the channel (client certificates, a private CA, a proxy). Null: the default.</summary>
    public HttpMessageHandler? HttpHandler { get; init; }

    /// <summary>Logs what the seat goes through (heartbeat failures, loss, release). Null: no logs.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>How long one call may take before it counts as failed and is retried.</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long AcquireSeatAsync keeps retrying a broker that is unreachable before it gives up.</summary>
    public TimeSpan AcquireRetryLimit { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>First delay between retries of a failed call; doubled each time up to <see cref="MaxRetryDelay"/>, with jitter.</summary>
    public TimeSpan FirstRetryDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Longest delay between retries.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Clock for the heartbeat schedule and the lease's expiry; tests may replace it.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>
    /// How long the user has been idle (no keyboard or mouse input), read before each heartbeat and
    /// sent with it; null: not reported. When the account sets an idle timeout, the broker takes the
    /// seat back after that much idle time (<see cref="SeatLossReason.IdleReleased"/>).
    /// </summary>
    public Func<TimeSpan>? UserIdleTime { get; init; }

    internal void Validate()
    {
        if (Address.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"Address must be http:// or https://, not {Address.Scheme}://.", nameof(Address));
        }

        if (CallTimeout <= TimeSpan.Zero || AcquireRetryLimit < TimeSpan.Zero || FirstRetryDelay <= TimeSpan.Zero || MaxRetryDelay < FirstRetryDelay)
        {
            throw new ArgumentException("CallTimeout and FirstRetryDelay must be positive, AcquireRetryLimit not negative, MaxRetryDelay at least FirstRetryDelay.");
        }
    }
}
