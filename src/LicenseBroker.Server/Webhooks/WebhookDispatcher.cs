using System.Diagnostics;
using System.Globalization;
using System.Text;
using LicenseBroker.Domain.Webhooks;
using LicenseBroker.Storage.Postgres;
using StandardWebhooks;

namespace LicenseBroker.Server.Webhooks;

/// <summary>
/// Delivers the outbox (every replica runs one): claims due endpoints with the oldest undelivered messages
/// of each (up to Webhooks:MessagesPerClaim), posts them signed per the Standard Webhooks spec one after
/// the other, in order, over a kept-alive connection, and records each attempt. Woken at once when a message
/// is written (<see cref="OutboxSignal"/>, LISTEN/NOTIFY), else polls every Webhooks:PollInterval. A failure
/// ends the endpoint's claim and is retried with exponential backoff and full jitter for Webhooks:RetryFor,
/// then the endpoint is marked failing. At least once: a replica that dies mid-delivery leaves its claim to
/// expire and another sends the same message again, with the same webhook-id.
/// </summary>
internal sealed partial class WebhookDispatcher : BackgroundService
{
    private readonly IWebhookStore _store;
    private readonly WebhookOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<WebhookDispatcher> _logger;
    private readonly HttpClient _http;
    private readonly OutboxSignal _signal;
    private readonly LicenseBroker.Domain.Seats.WakeSignal _wake = new();

    public WebhookDispatcher(IWebhookStore store, WebhookOptions options, WebhookTargets targets, OutboxSignal signal, TimeProvider time, ILogger<WebhookDispatcher> logger)
    {
        _signal = signal;
        _store = store;
        _options = options;
        _time = time;
        _logger = logger;
        _http = new HttpClient(targets.CreateHandler(), disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("LicenseBroker-Webhooks/1");
    }

    private TimeSpan ClaimFor => _options.RequestTimeout * 3;

    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var listening = _signal.ListenAsync(_wake.Set, ex => LogListenFailed(_logger, ex), stoppingToken);
        while (!stoppingToken.IsCancellationRequested)
        {
            IReadOnlyList<WebhookMessage> messages = [];
            try
            {
                // A claim outlives a delivery's time limit by far (and is renewed with each message sent), so
                // only a dead dispatcher's claim expires.
                messages = await _store.ClaimDueAsync(_options.Concurrency, _options.MessagesPerClaim, ClaimFor, stoppingToken);

                // Endpoints side by side; within one, its messages one after the other (its order).
                await Task.WhenAll(messages.GroupBy(m => m.EndpointId).Select(endpoint => DeliverInOrderAsync(endpoint.ToList(), stoppingToken)));
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                // PostgreSQL away: the messages stay in the outbox; the next poll (any replica) goes on.
                LogDispatchFailed(_logger, ex);
            }

            if (messages.Count == 0)
            {
                try
                {
                    // Until a message is written (NOTIFY) or the poll is due.
                    await _wake.WaitAsync(_options.PollInterval, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }

        await listening;
    }

    /// <summary>Sends one endpoint's claimed messages in order; the first failure ends the claim (the rest wait for its retry).</summary>
    private async Task DeliverInOrderAsync(List<WebhookMessage> messages, CancellationToken stoppingToken)
    {
        for (var i = 0; i < messages.Count; i++)
        {
            if (!await DeliverAsync(messages[i], lastOfClaim: i == messages.Count - 1, stoppingToken))
            {
                return;
            }
        }
    }

    private async Task<bool> DeliverAsync(WebhookMessage message, bool lastOfClaim, CancellationToken stoppingToken)
    {
        var started = Stopwatch.GetTimestamp();
        int? status = null;
        string? error = null;
        try
        {
            using var request = Sign(message, _time.GetUtcNow());
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            timeout.CancelAfter(_options.RequestTimeout);
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            status = (int)response.StatusCode;
            if (!response.IsSuccessStatusCode)
            {
                error = $"HTTP {status}";
            }
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
            error = $"no answer within {_options.RequestTimeout.TotalSeconds:0.#} s";
        }
        catch (HttpRequestException ex)
        {
            error = ex.Message.Length > 300 ? ex.Message[..300] : ex.Message;
        }

        var delivered = error is null;
        var now = _time.GetUtcNow();
        DateTimeOffset? retryAt = null;
        if (!delivered && now - message.OccurredAt < _options.RetryFor)
        {
            // Exponential backoff with full jitter (AWS's "Exponential Backoff And Jitter").
            var ceiling = Math.Min(_options.MaxRetryDelay.TotalMilliseconds, _options.FirstRetryDelay.TotalMilliseconds * Math.Pow(2, Math.Min(message.Attempts, 30)));
            retryAt = now + TimeSpan.FromMilliseconds(Math.Max(_options.FirstRetryDelay.TotalMilliseconds / 2, Random.Shared.NextDouble() * ceiling));
        }

        if (!delivered)
        {
            LogDeliveryFailed(_logger, message.EndpointId, message.MessageId, message.Attempts + 1, error!, retryAt);
        }

        await _store.RecordAttemptAsync(
            message, status, error, Stopwatch.GetElapsedTime(started), delivered, delivered ? null : retryAt, CancellationToken.None, keepClaimFor: lastOfClaim || !delivered ? null : ClaimFor);
        return delivered;
    }

    /// <summary>
    /// The signed request: the headers of the Standard Webhooks spec, signed with the endpoint's
    /// secret (and during a rotation with the previous one too, space-separated) by the StandardWebhooks
    /// library, whose Verify is what receivers run.
    /// </summary>
    internal static HttpRequestMessage Sign(WebhookMessage message, DateTimeOffset timestamp)
    {
        var signatures = string.Join(' ', message.Secrets.Select(secret => new StandardWebhook(secret).Sign(message.MessageId, timestamp, message.Payload)));
        var request = new HttpRequestMessage(HttpMethod.Post, message.Url)
        {
            Content = new StringContent(message.Payload, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("webhook-id", message.MessageId);
        request.Headers.Add("webhook-timestamp", timestamp.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture));
        request.Headers.Add("webhook-signature", signatures);
        return request;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Listening for new webhook messages failed; polling meanwhile, listening again in a second")]
    private static partial void LogListenFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Delivering webhooks failed; will retry")]
    private static partial void LogDispatchFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Webhook {MessageId} to endpoint {EndpointId} failed (attempt {Attempt}: {Error}); next attempt {RetryAt}")]
    private static partial void LogDeliveryFailed(ILogger logger, string endpointId, string messageId, int attempt, string error, DateTimeOffset? retryAt);
}
