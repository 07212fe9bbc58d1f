using Microsoft.Extensions.Logging;

namespace LicenseBroker.Client.Entitlements;

/// <summary>What a cache answers once its copy is older than the last document's not_after.</summary>
public enum StalePolicy
{
    /// <summary>Nobody is entitled until the broker is heard again (the default: a stale copy may be wrong).</summary>
    FailClosed,

    /// <summary>The last known state keeps answering, each answer flagged <see cref="EntitlementAnswer.IsStale"/>.</summary>
    LastKnownFlagged,
}

/// <summary>How an <see cref="EntitlementCache"/> reaches the broker and what it does when it cannot.</summary>
public sealed class EntitlementCacheOptions
{
    /// <summary>The broker's gRPC address (several replicas behind one name, usually).</summary>
    public required Uri Address { get; init; }

    /// <summary>The account whose entitlements the cache holds; documents of any other account are refused.</summary>
    public required string AccountId { get; init; }

    /// <summary>Returns a service token (scope licensebroker.service); called before every call.</summary>
    public required Func<CancellationToken, ValueTask<string>> AccessTokenProvider { get; init; }

    /// <summary>What answers are once the copy is stale.</summary>
    public StalePolicy WhenStale { get; init; } = StalePolicy.FailClosed;

    /// <summary>Handler for the channel (client certificates, a private CA). Null: the default.</summary>
    public HttpMessageHandler? HttpHandler { get; init; }

    /// <summary>Logs reconnections and refused documents. Null: no logs.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>Clock for validity, staleness and retries; tests may replace it.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>First delay before reconnecting; doubled each time up to <see cref="MaxRetryDelay"/>, with jitter.</summary>
    public TimeSpan FirstRetryDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Longest delay between reconnections.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How often the verification keys are read again (also on a key id not seen before).</summary>
    public TimeSpan KeyRefreshInterval { get; init; } = TimeSpan.FromMinutes(1);

    internal void Validate()
    {
        if (Address.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"Address must be http:// or https://, not {Address.Scheme}://.", nameof(Address));
        }

        if (string.IsNullOrWhiteSpace(AccountId))
        {
            throw new ArgumentException("AccountId is required.", nameof(AccountId));
        }

        if (FirstRetryDelay <= TimeSpan.Zero || MaxRetryDelay < FirstRetryDelay || KeyRefreshInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException("FirstRetryDelay and KeyRefreshInterval must be positive, MaxRetryDelay at least FirstRetryDelay.");
        }
    }
}
