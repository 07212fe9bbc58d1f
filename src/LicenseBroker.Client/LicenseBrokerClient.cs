using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using LicenseBroker.Contracts.V1;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LicenseBroker.Client;

/// <summary>
/// Takes seats for an agent app. Thread-safe; make one per broker address and share it.
/// <code>
/// await using var broker = new LicenseBrokerClient(new() { Address = new("https://licenses.example.com"), AccessTokenProvider = tokens.GetAsync });
/// await using var seat = await broker.AcquireSeatAsync("remote-support", new Device { Id = "laptop-7", Platform = Platform.Windows }, SessionKind.Pending, ct);
/// using var work = CancellationTokenSource.CreateLinkedTokenSource(ct, seat.LossToken); // the session stops when the seat is lost
/// </code>
/// </summary>
public sealed class LicenseBrokerClient : IAsyncDisposable, IDisposable
{
    private readonly GrpcChannel _channel;
    private readonly string _acceptLanguage;

    /// <summary>A client of the broker at <see cref="LicenseBrokerClientOptions.Address"/>; the options are checked at once.</summary>
    public LicenseBrokerClient(LicenseBrokerClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _channel = Connection.Open(options.Address, options.HttpHandler, options.LoggerFactory);
        Seats = new SeatService.SeatServiceClient(_channel);
        _acceptLanguage = options.Language ?? (CultureInfo.CurrentUICulture.Name is { Length: > 0 } culture ? culture : "en");
        Logger = options.LoggerFactory?.CreateLogger<LicenseBrokerClient>() ?? (ILogger)NullLogger.Instance;
    }

    internal LicenseBrokerClientOptions Options { get; }

    internal SeatService.SeatServiceClient Seats { get; }

    internal ILogger Logger { get; }

    /// <summary>
    /// Takes a seat of <paramref name="product"/> now, or throws <see cref="LicenseBrokerException"/>
    /// saying why not (Reason ALL_SHARED_SEATS_IN_USE: every shared seat is taken; see
    /// <see cref="WaitForSeatAsync(string, Device, SessionKind, IProgress{QueuePosition}?, CancellationToken)"/>). A broker that is unreachable is retried with the same session
    /// id for <see cref="LicenseBrokerClientOptions.AcquireRetryLimit"/>, so a retry never takes a second seat.
    /// </summary>
    public async Task<SeatLease> AcquireSeatAsync(string product, Device device, SessionKind sessionKind = SessionKind.Pending, CancellationToken cancellationToken = default)
    {
        var request = new AcquireSeatRequest { Product = product, SessionId = NewSessionId(), Device = device, SessionKind = sessionKind };
        var response = await RetryAsync(
            async call => await Seats.AcquireSeatAsync(request, call),
            Options.AcquireRetryLimit,
            cancellationToken).ConfigureAwait(false);
        return SeatLease.Start(this, response.Lease, device, sessionKind);
    }

    /// <summary>
    /// Waits in the pool's queue for a shared seat (or gets one at once), reporting each change of
    /// position to <paramref name="progress"/> (with its priority class, estimated wait and deadline). Cancel the token to
    /// leave the queue. A broken connection (or a broker replica that stopped) is re-joined with the same session id and
    /// the last queue ticket, so the place is kept, even after the broker's Redis lost the queue.
    /// </summary>
    public async Task<SeatLease> WaitForSeatAsync(
        string product, Device device, SessionKind sessionKind = SessionKind.Pending, IProgress<QueuePosition>? progress = null, CancellationToken cancellationToken = default) =>
        await WaitForSeatAsync(product, device, sessionKind, progress, lostSeat: null, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// As the other overload, with the seat the app just lost (<paramref name="lostSeat"/>: its lease expired while the device
    /// slept or the network went): if it was lost during an attended session, the agent waits in the incident class.
    /// </summary>
    /// <param name="product">Product code.</param>
    /// <param name="device">The device the agent works from.</param>
    /// <param name="sessionKind">What the agent is doing.</param>
    /// <param name="progress">Told each change of position.</param>
    /// <param name="lostSeat">The seat the app just lost, or null.</param>
    /// <param name="cancellationToken">Cancel to leave the queue.</param>
    public async Task<SeatLease> WaitForSeatAsync(
        string product, Device device, SessionKind sessionKind, IProgress<QueuePosition>? progress, SeatLease? lostSeat, CancellationToken cancellationToken = default)
    {
        var request = new WaitForSeatRequest { Product = product, SessionId = NewSessionId(), Device = device, SessionKind = sessionKind, LostLease = lostSeat?.Lease };
        var lease = await RetryAsync(
            async call =>
            {
                // No deadline for the wait itself: it lasts until a seat frees or the app gives up.
                using var stream = Seats.WaitForSeat(request, call);
                while (await stream.ResponseStream.MoveNext(call.CancellationToken).ConfigureAwait(false))
                {
                    var update = stream.ResponseStream.Current;
                    if (update.UpdateCase == WaitForSeatResponse.UpdateOneofCase.Granted)
                    {
                        return update.Granted;
                    }

                    if (update.Position.QueueTicket.Length > 0)
                    {
                        // The next attempt (after a broken stream) sends it back: the place survives a replica and a loss of data.
                        request.QueueTicket = update.Position.QueueTicket;
                    }

                    progress?.Report(update.Position);
                }

                throw new RpcException(new Grpc.Core.Status(StatusCode.Unavailable, "The wait ended without a seat."));
            },
            Options.AcquireRetryLimit,
            cancellationToken,
            streaming: true).ConfigureAwait(false);
        return SeatLease.Start(this, lease, device, sessionKind);
    }

    /// <summary>Call options with a fresh access token, the language, a deadline and the cancellation token.</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <param name="streaming">A stream that lasts as long as it must (a wait, a watch): no deadline.</param>
    internal async ValueTask<CallOptions> CallAsync(CancellationToken cancellationToken, bool streaming = false)
    {
        var token = await Options.AccessTokenProvider(cancellationToken).ConfigureAwait(false);
        var headers = new Metadata
        {
            { "authorization", "Bearer " + token },
            { "accept-language", _acceptLanguage },
        };
        return new CallOptions(headers, streaming ? null : DateTime.UtcNow + Options.CallTimeout, cancellationToken);
    }

    /// <summary>
    /// Runs a call, retrying what may succeed later (UNAVAILABLE, a deadline) with exponential backoff
    /// and full jitter, or after the delay the broker asks for, until <paramref name="limit"/> has
    /// passed. Anything else is the broker's answer: thrown at once as <see cref="LicenseBrokerException"/>.
    /// </summary>
    internal async Task<T> RetryAsync<T>(Func<CallOptions, Task<T>> call, TimeSpan limit, CancellationToken cancellationToken, bool streaming = false)
    {
        var started = Options.TimeProvider.GetTimestamp();
        for (var attempt = 0; ; attempt++)
        {
            LicenseBrokerException failure;
            try
            {
                return await call(await CallAsync(cancellationToken, streaming).ConfigureAwait(false)).ConfigureAwait(false);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellationToken);
            }
            catch (RpcException ex)
            {
                failure = new LicenseBrokerException(ex);
                if (!failure.IsTransient)
                {
                    throw failure;
                }
            }

            var delay = failure.RetryAfter ?? Backoff(attempt);
            if (Options.TimeProvider.GetElapsedTime(started) + delay > limit)
            {
                throw failure;
            }

            ClientLog.Retrying(Logger, failure.StatusCode, delay, failure.EnglishMessage);
            await Task.Delay(delay, Options.TimeProvider, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Exponential backoff with full jitter: spreads the retries of many apps after an outage.</summary>
    internal TimeSpan Backoff(int attempt) => Connection.Backoff(attempt, Options.FirstRetryDelay, Options.MaxRetryDelay);

    private static string NewSessionId() => "sdk-" + Guid.NewGuid().ToString("N");

    /// <summary>Closes the channel. Seats still held are not released by this: dispose them first.</summary>
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc cref="DisposeAsync"/>
    public void Dispose() => _channel.Dispose();
}

internal static partial class ClientLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "Broker call failed ({Status}); retrying in {Delay}: {Detail}")]
    public static partial void Retrying(ILogger logger, StatusCode status, TimeSpan delay, string detail);

    [LoggerMessage(Level = LogLevel.Information, Message = "Seat acquired: {SeatType} lease {LeaseId} of {Product}, heartbeat every {Interval}")]
    public static partial void Acquired(ILogger logger, SeatType seatType, string leaseId, string product, TimeSpan interval);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Heartbeat of lease {LeaseId} failed ({Status}); the lease holds until {ExpiresAt:O}, retrying in {Delay}")]
    public static partial void HeartbeatFailed(ILogger logger, string leaseId, StatusCode status, DateTimeOffset expiresAt, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Seat lost: lease {LeaseId}, {Reason}: {Message}")]
    public static partial void Lost(ILogger logger, string leaseId, SeatLossReason reason, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lease {LeaseId} expired while the broker is unreachable: in grace until {GraceEndsAt:O}")]
    public static partial void InGrace(ILogger logger, string leaseId, DateTimeOffset graceEndsAt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Lease {LeaseId} is online again (revived by the broker: {Revived})")]
    public static partial void Revived(ILogger logger, string leaseId, bool revived);

    [LoggerMessage(Level = LogLevel.Information, Message = "Seat released: lease {LeaseId}")]
    public static partial void Released(ILogger logger, string leaseId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not release lease {LeaseId}; it expires by itself at {ExpiresAt:O}")]
    public static partial void ReleaseFailed(ILogger logger, string leaseId, DateTimeOffset expiresAt, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "A handler of a SeatLease event threw")]
    public static partial void HandlerFailed(ILogger logger, Exception exception);
}
