using LicenseBroker.Domain.Administration;

namespace LicenseBroker.Domain.Webhooks;

/// <summary>The event types an endpoint may subscribe to.</summary>
public static class WebhookEventTypes
{
    public const string SeatGranted = "seat.granted";
    public const string SeatReleased = "seat.released";
    public const string SeatExpired = "seat.expired";
    public const string SeatForceReleased = "seat.force_released";

    /// <summary>
    /// The old name of <see cref="SeatForceReleased"/>, kept for one release (until 2.0): an endpoint subscribed to it
    /// still receives the event under this name; one subscribed to both receives it once, under the new name.
    /// </summary>
    public const string SeatRevokedAlias = "seat.revoked";
    public const string SeatIdleReleased = "seat.idle_released";

    /// <summary>An expired lease given back to its app (revive window, or its grace after an outage).</summary>
    public const string SeatRevived = "seat.revived";
    public const string SeatRefused = "seat.refused";
    public const string PoolFull = "pool.full";
    public const string PoolThreshold = "pool.threshold";
    public const string QueueJoined = "queue.joined";

    /// <summary>A wait that ended without a seat: the agent cancelled it, its max wait passed, or its app went away.</summary>
    public const string QueueCancelled = "queue.cancelled";
    public const string QueueTimedOut = "queue.timed_out";
    public const string QueueAbandoned = "queue.abandoned";

    /// <summary>A grant took the pool above its purchased shared seats (overage), and the freed seat that brought it back.</summary>
    public const string PoolOverageStarted = "pool.overage_started";
    public const string PoolOverageEnded = "pool.overage_ended";

    /// <summary>The pool's overage seats changed while it was over.</summary>
    public const string PoolOverageChanged = "pool.overage_changed";
    public const string AgentSeatChanged = "agent.seat_changed";

    public static readonly IReadOnlyList<string> All =
        [SeatGranted, SeatReleased, SeatExpired, SeatForceReleased, SeatIdleReleased, SeatRefused, PoolFull, PoolThreshold, QueueJoined, AgentSeatChanged, SeatRevived, PoolOverageStarted, PoolOverageChanged, PoolOverageEnded,
        QueueCancelled, QueueTimedOut, QueueAbandoned];

    /// <summary>What an endpoint may subscribe to: <see cref="All"/> and the aliases still honoured.</summary>
    public static readonly IReadOnlyList<string> Subscribable = [.. All, SeatRevokedAlias];
}

public enum WebhookEndpointState
{
    Active,

    /// <summary>Deliveries kept failing for the retry period: paused until an admin enables the endpoint again.</summary>
    Failing,

    /// <summary>Paused by an admin.</summary>
    Disabled,
}

/// <summary>An account's webhook endpoint, as admins see it (never with its secret).</summary>
public sealed record WebhookEndpoint(
    string EndpointId,
    string Url,
    IReadOnlyList<string> EventTypes,
    int? ThresholdPercent,
    WebhookEndpointState State,
    DateTimeOffset CreatedAt,
    int Pending);

/// <summary>What an admin sets on an endpoint.</summary>
public sealed record WebhookEndpointSettings(string Url, IReadOnlyList<string> EventTypes, int? ThresholdPercent);

/// <summary>One delivery attempt, for the endpoint's log.</summary>
public sealed record WebhookDeliveryAttempt(
    long Id, string MessageId, string EventType, int Attempt, DateTimeOffset AttemptedAt, int? StatusCode, string? Error, int DurationMs);

/// <summary>A message to deliver now, claimed by one dispatcher for a while.</summary>
public sealed record WebhookMessage(
    long OutboxId,
    string EndpointId,
    string Url,
    IReadOnlyList<string> Secrets,
    string MessageId,
    string EventType,
    string Payload,
    DateTimeOffset OccurredAt,
    int Attempts,
    DateTimeOffset QueuedAt);

/// <summary>The durable side of webhooks (PostgreSQL).</summary>
public interface IWebhookStore
{
    /// <summary>At most this many endpoints per account.</summary>
    const int MaxEndpointsPerAccount = 20;

    /// <summary>Creates an endpoint with a new secret; null when the account has too many.</summary>
    Task<WebhookEndpoint?> CreateAsync(Actor actor, string accountId, string endpointId, WebhookEndpointSettings settings, string secret, CancellationToken cancellationToken);

    /// <summary>Changes an endpoint; <paramref name="state"/> null keeps it. Null when there is no such endpoint.</summary>
    Task<WebhookEndpoint?> UpdateAsync(Actor actor, string accountId, string endpointId, WebhookEndpointSettings settings, WebhookEndpointState? state, CancellationToken cancellationToken);

    Task<bool> DeleteAsync(Actor actor, string accountId, string endpointId, CancellationToken cancellationToken);

    Task<IReadOnlyList<WebhookEndpoint>> ListAsync(string accountId, CancellationToken cancellationToken);

    /// <summary>Replaces the secret; the previous one still signs until <paramref name="previousValidUntil"/>. False when there is no such endpoint.</summary>
    Task<bool> RotateSecretAsync(Actor actor, string accountId, string endpointId, string secret, DateTimeOffset previousValidUntil, CancellationToken cancellationToken);

    /// <summary>The endpoint's delivery attempts, newest first; null when there is no such endpoint.</summary>
    Task<IReadOnlyList<WebhookDeliveryAttempt>?> ListDeliveriesAsync(string accountId, string endpointId, int pageSize, long? before, CancellationToken cancellationToken);

    /// <summary>
    /// Claims up to <paramref name="max"/> endpoints that are due now, for <paramref name="claimFor"/>,
    /// and returns the oldest <paramref name="perEndpoint"/> undelivered messages of each, in outbox order.
    /// </summary>
    Task<IReadOnlyList<WebhookMessage>> ClaimDueAsync(int max, int perEndpoint, TimeSpan claimFor, CancellationToken cancellationToken);

    /// <summary>
    /// Records an attempt: delivered, or to retry at <paramref name="retryAt"/> (null: give up, the endpoint is
    /// marked failing). The claim ends with it, unless <paramref name="keepClaimFor"/> is given (a delivered
    /// message with more of the claim to send): then the endpoint stays claimed that much longer.
    /// </summary>
    Task RecordAttemptAsync(
        WebhookMessage message, int? statusCode, string? error, TimeSpan duration, bool delivered, DateTimeOffset? retryAt, CancellationToken cancellationToken, TimeSpan? keepClaimFor = null);
}
