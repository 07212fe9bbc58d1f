using Grpc.Core;
using LicenseBroker.Contracts.V1;

namespace LicenseBroker.Client;

/// <summary>Why a seat was lost.</summary>
public enum SeatLossReason
{
    /// <summary>An administrator ended the session (see <see cref="SeatLostEventArgs.RevokedBy"/>).</summary>
    Revoked,

    /// <summary>The broker no longer knows the lease: it expired without heartbeats, or was lost with the broker's data and could not be re-established.</summary>
    Expired,

    /// <summary>
    /// No heartbeat got through before the lease's grace ended (<see cref="Lease.GraceUntil"/>: the broker was unreachable
    /// for the whole lease lifetime and the outage grace after it).
    /// </summary>
    Unreachable,

    /// <summary>
    /// The broker took the seat back: the session stayed PENDING, or its user idle, longer than the
    /// account allows. Acquire again when the agent is back.
    /// </summary>
    IdleReleased,
}

/// <summary>Where a held seat stands (see the state machine in the SDK's README).</summary>
public enum SeatLeaseState
{
    /// <summary>The broker renews the lease: work.</summary>
    Online,

    /// <summary>
    /// The broker cannot be reached and the lease's expiry has passed: the session keeps running until
    /// <see cref="SeatLease.GraceEndsAt"/> (the lease's grace, measured on this device's monotonic clock) while the SDK
    /// keeps trying; start nothing new. Back to <see cref="Online"/> with <see cref="SeatLease.Revived"/> when the broker
    /// answers and gives the lease back; <see cref="Lost"/> when it refuses or the grace ends.
    /// </summary>
    InGrace,

    /// <summary>The seat is gone (<see cref="SeatLease.Loss"/> says why); stop working with it.</summary>
    Lost,
}

/// <summary>What <see cref="SeatLease.EnteredGrace"/> says.</summary>
public sealed class GraceEventArgs(DateTimeOffset graceEndsAt, string message) : EventArgs
{
    /// <summary>Until when the session may keep running without the broker (this device's clock, for display).</summary>
    public DateTimeOffset GraceEndsAt { get; } = graceEndsAt;

    /// <summary>What the app shows the agent (English).</summary>
    public string Message { get; } = message;
}

/// <summary>What <see cref="SeatLease.SeatLost"/> says.</summary>
public sealed class SeatLostEventArgs(SeatLossReason reason, string message, string? revokedBy, DateTimeOffset? revokedAt) : EventArgs
{
    /// <summary>Why the seat was lost.</summary>
    public SeatLossReason Reason { get; } = reason;

    /// <summary>For the agent, in the language asked for when the broker localized it.</summary>
    public string Message { get; } = message;

    /// <summary>With <see cref="SeatLossReason.Revoked"/>: the administrator.</summary>
    public string? RevokedBy { get; } = revokedBy;

    /// <summary>With <see cref="SeatLossReason.Revoked"/>: when.</summary>
    public DateTimeOffset? RevokedAt { get; } = revokedAt;

    /// <summary>
    /// With <see cref="SeatLossReason.Expired"/> when the seat was taken meanwhile: the place WaitForSeat would give now
    /// (0 or null: none, acquire again).
    /// </summary>
    public int? QueuePosition { get; init; }
}

/// <summary>
/// A seat held by the app. While it lives it heartbeats at the interval the broker gives (with
/// jitter), retries failed heartbeats until the lease would expire, re-establishes the lease after
/// the broker lost its live data (it sends the lease proof the broker asks for), and watches for an
/// administrator ending it. <see cref="LossToken"/> is cancelled and <see cref="SeatLost"/> raised
/// when the seat is lost; <see cref="DisposeAsync"/> gives it back. Thread-safe.
/// </summary>
public sealed class SeatLease : IAsyncDisposable
{
    private readonly LicenseBrokerClient _client;
    private readonly Device _device;
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _beat = new(1, 1);
    private readonly object _gate = new();
    private Lease _lease;
    private SessionKind _sessionKind;
    private SeatLostEventArgs? _loss;
    private Task _heartbeats = Task.CompletedTask;
    private Task _watch = Task.CompletedTask;
    private int _disposed;

    // When the last lease arrived, on the monotonic clock (TimeProvider.GetTimestamp): its expiry and grace are measured
    // from there, never with the device's wall clock, which may be wrong by hours.
    private long _receivedAt;
    private int _state = (int)SeatLeaseState.Online;

    private SeatLease(LicenseBrokerClient client, Lease lease, Device device, SessionKind sessionKind)
    {
        _client = client;
        _lease = lease;
        _device = device;
        _sessionKind = sessionKind;
        _receivedAt = client.Options.TimeProvider.GetTimestamp();
    }

    /// <summary>Raised when the broker cannot be reached past the lease's expiry: the session runs on until <see cref="GraceEndsAt"/>.</summary>
    public event EventHandler<GraceEventArgs>? EnteredGrace;

    /// <summary>Raised when the broker answers again after the lease expired (in grace, or asleep): the same lease goes on.</summary>
    public event EventHandler<Lease>? Revived;

    /// <summary>Online, in grace, or lost.</summary>
    public SeatLeaseState State => (SeatLeaseState)Volatile.Read(ref _state);

    /// <summary>When the lease's grace ends on this device's clock (for display; the SDK measures it monotonically).</summary>
    public DateTimeOffset GraceEndsAt => _client.Options.TimeProvider.GetUtcNow() + GraceLeft;

    // How long the lease, and its grace, have left: the broker's durations (ttl; grace_until - expires_at) from the moment
    // the lease arrived.
    private TimeSpan ExpiryLeft
    {
        get
        {
            var lease = Lease;
            return TimeSpan.FromSeconds(Math.Max(1, lease.LeaseTtlSeconds)) - _client.Options.TimeProvider.GetElapsedTime(Volatile.Read(ref _receivedAt));
        }
    }

    private TimeSpan GraceLeft
    {
        get
        {
            var lease = Lease;
            var grace = lease.GraceUntil is { } until && lease.ExpiresAt is { } expires ? until.ToDateTimeOffset() - expires.ToDateTimeOffset() : TimeSpan.Zero;
            return ExpiryLeft + (grace > TimeSpan.Zero ? grace : TimeSpan.Zero);
        }
    }

    /// <summary>Raised after each heartbeat the broker accepted, with the renewed lease.</summary>
    public event EventHandler<Lease>? Renewed;

    /// <summary>Raised once, on a thread-pool thread, when the seat is lost (not when it is disposed).</summary>
    public event EventHandler<SeatLostEventArgs>? SeatLost;

    /// <summary>Cancelled when the seat is lost; tie the agent's working session to it.</summary>
    public CancellationToken LossToken => _lost.Token;

    /// <summary>Why the seat was lost, or null while it is held.</summary>
    public SeatLostEventArgs? Loss => Volatile.Read(ref _loss);

    /// <summary>The lease as the broker last returned it (expiry, fencing token, seat type).</summary>
    public Lease Lease
    {
        get
        {
            lock (_gate)
            {
                return _lease;
            }
        }
    }

    /// <summary>The lease id, as admins see it in the shared sessions.</summary>
    public string LeaseId => Lease.LeaseId;

    /// <summary>NAMED or CONCURRENT.</summary>
    public SeatType SeatType => Lease.SeatType;

    /// <summary>When the lease expires unless a heartbeat renews it.</summary>
    public DateTimeOffset ExpiresAt => Lease.ExpiresAt.ToDateTimeOffset();

    /// <summary>How many heartbeats the broker accepted.</summary>
    public int Heartbeats { get; private set; }

    internal static SeatLease Start(LicenseBrokerClient client, Lease lease, Device device, SessionKind sessionKind)
    {
        var seat = new SeatLease(client, lease, device, sessionKind);
        ClientLog.Acquired(client.Logger, lease.SeatType, lease.LeaseId, lease.Product, seat.Interval);
        seat._heartbeats = Task.Run(seat.HeartbeatLoopAsync);
        seat._watch = Task.Run(seat.WatchLoopAsync);
        return seat;
    }

    // The broker refuses longer idle reports as input errors; past it, longer changes nothing.
    private static readonly TimeSpan MaxReportedIdle = TimeSpan.FromDays(30);

    private TimeSpan Interval => TimeSpan.FromSeconds(Math.Max(1, Lease.HeartbeatIntervalSeconds));

    /// <summary>
    /// Tells the broker what the agent is doing now (e.g. PENDING → ATTENDED when the customer
    /// connects): sent at once in a heartbeat, and in every heartbeat after.
    /// </summary>
    public async Task ReportSessionKindAsync(SessionKind sessionKind, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            _sessionKind = sessionKind;
        }

        await BeatAsync(cancellationToken).ConfigureAwait(false);
    }

    // In grace the broker is asked at least this often, so that a returning broker gives the lease back within seconds.
    private static readonly TimeSpan GraceRetry = TimeSpan.FromSeconds(1);

    private async Task HeartbeatLoopAsync()
    {
        var time = _client.Options.TimeProvider;
        var delay = Jittered(Interval);
        var failures = 0;
        while (!_stopping.IsCancellationRequested && Loss is null)
        {
            try
            {
                await Task.Delay(delay, time, _stopping.Token).ConfigureAwait(false);
                await BeatAsync(_stopping.Token).ConfigureAwait(false);
                failures = 0;
                delay = Jittered(Interval);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (LicenseBrokerException ex) when (Loss is null)
            {
                // Still ours until it expires, then until its grace ends: try again sooner, never past either.
                var expiryLeft = ExpiryLeft;
                var graceLeft = GraceLeft;
                if (graceLeft <= TimeSpan.Zero)
                {
                    Lose(SeatLossReason.Unreachable, "The license service could not be reached before the seat's lease and its grace ended. " + ex.Message, null, null);
                    return;
                }

                if (expiryLeft <= TimeSpan.Zero && Interlocked.CompareExchange(ref _state, (int)SeatLeaseState.InGrace, (int)SeatLeaseState.Online) == (int)SeatLeaseState.Online)
                {
                    var grace = new GraceEventArgs(GraceEndsAt, "The license service cannot be reached; your session goes on until it is back, for a while. Do not start a new session.");
                    ClientLog.InGrace(_client.Logger, LeaseId, grace.GraceEndsAt);
                    Raise(EnteredGrace, grace);
                }

                var left = expiryLeft > TimeSpan.Zero ? expiryLeft : graceLeft;
                delay = TimeSpan.FromTicks(Math.Min(_client.Backoff(failures++).Ticks, Math.Max(left.Ticks / 4, TimeSpan.FromMilliseconds(50).Ticks)));
                if (expiryLeft <= TimeSpan.Zero && delay > GraceRetry)
                {
                    delay = GraceRetry;
                }

                ClientLog.HeartbeatFailed(_client.Logger, LeaseId, ex.StatusCode, ExpiresAt, delay);
            }
            catch (LicenseBrokerException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// One heartbeat, serialized with any other. A refusal that ends the lease marks the seat lost; a
    /// transient failure is thrown for the caller to retry.
    /// </summary>
    private async Task BeatAsync(CancellationToken cancellationToken)
    {
        await _beat.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Loss is not null)
            {
                return;
            }

            HeartbeatRequest request;
            lock (_gate)
            {
                // Everything the broker needs to re-establish the lease if it lost its live data.
                request = new HeartbeatRequest
                {
                    Product = _lease.Product,
                    LeaseId = _lease.LeaseId,
                    SessionId = _lease.SessionId,
                    FencingToken = _lease.FencingToken,
                    LeaseProof = _lease.LeaseProof,
                    Device = _device,
                    SessionKind = _sessionKind,
                };
            }

            if (_client.Options.UserIdleTime is { } idleTime && idleTime() is { Ticks: > 0 } idle)
            {
                request.IdleFor = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(idle < MaxReportedIdle ? idle : MaxReportedIdle);
            }

            try
            {
                var response = await _client.Seats.HeartbeatAsync(request, await _client.CallAsync(cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
                lock (_gate)
                {
                    _lease = response.Lease;
                }

                // Measured from the answer: the session is never cut before the broker's grace_until (it may run on
                // for one round trip after it; the broker decides anything that matters on its own clock).
                Volatile.Write(ref _receivedAt, _client.Options.TimeProvider.GetTimestamp());
                Heartbeats++;
                var wasInGrace = Interlocked.Exchange(ref _state, (int)SeatLeaseState.Online) == (int)SeatLeaseState.InGrace;
                if (response.Revived || wasInGrace)
                {
                    ClientLog.Revived(_client.Logger, LeaseId, response.Revived);
                    Raise(Revived, response.Lease);
                }

                Raise(Renewed, response.Lease);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellationToken);
            }
            catch (RpcException ex)
            {
                var failure = new LicenseBrokerException(ex);
                switch (failure.Reason)
                {
                    case "LEASE_REVOKED":
                        Lose(SeatLossReason.Revoked, failure.Message, failure.Metadata.GetValueOrDefault("revoked_by"),
                            failure.Metadata.TryGetValue("revoked_at", out var at) && DateTimeOffset.TryParse(at, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.RoundtripKind, out var instant) ? instant : null);
                        return;
                    case "LEASE_EXPIRED":
                        Lose(SeatLossReason.Expired, failure.Message, null, null,
                            int.TryParse(failure.Metadata.GetValueOrDefault("queue_position"), System.Globalization.CultureInfo.InvariantCulture, out var position) ? position : null);
                        return;
                    case "IDLE_RELEASED":
                        Lose(SeatLossReason.IdleReleased, failure.Message, null, null);
                        return;
                }

                throw failure;
            }
        }
        finally
        {
            _beat.Release();
        }
    }

    /// <summary>
    /// Follows WatchLease so a revocation reaches the app within a second, not at the next heartbeat.
    /// ENDED while the app still holds the seat (e.g. the broker lost its data) is checked with a
    /// heartbeat, which re-establishes the lease or reports the loss.
    /// </summary>
    private async Task WatchLoopAsync()
    {
        var failures = 0;
        while (!_stopping.IsCancellationRequested && Loss is null)
        {
            try
            {
                var call = await _client.CallAsync(_stopping.Token, streaming: true).ConfigureAwait(false);
                using var stream = _client.Seats.WatchLease(new WatchLeaseRequest { Product = Lease.Product, LeaseId = LeaseId }, call);
                while (await stream.ResponseStream.MoveNext(_stopping.Token).ConfigureAwait(false))
                {
                    var update = stream.ResponseStream.Current;
                    switch (update.Status)
                    {
                        case LeaseStatus.Active:
                            failures = 0;
                            break;
                        case LeaseStatus.Revoked:
                            Lose(SeatLossReason.Revoked, $"An administrator ({update.RevokedBy}) ended this session.", update.RevokedBy, update.RevokedAt?.ToDateTimeOffset());
                            return;
                        case LeaseStatus.IdleReleased:
                            Lose(SeatLossReason.IdleReleased, update.IdleRule == "pending_timeout"
                                ? "The seat was given back: the session stayed pending longer than the account allows."
                                : "The seat was given back: the user was idle longer than the account allows.", null, null);
                            return;
                        case LeaseStatus.Ended:
                            await BeatAsync(_stopping.Token).ConfigureAwait(false);
                            break;
                    }
                }
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && _stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is RpcException or LicenseBrokerException)
            {
                // The heartbeats still tell the truth; reconnect the watch after a pause.
            }

            try
            {
                await Task.Delay(_client.Backoff(failures++), _client.Options.TimeProvider, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void Lose(SeatLossReason reason, string message, string? revokedBy, DateTimeOffset? revokedAt, int? queuePosition = null)
    {
        var loss = new SeatLostEventArgs(reason, message, revokedBy, revokedAt) { QueuePosition = queuePosition };
        if (Interlocked.CompareExchange(ref _loss, loss, null) is not null)
        {
            return;
        }

        Volatile.Write(ref _state, (int)SeatLeaseState.Lost);

        ClientLog.Lost(_client.Logger, LeaseId, reason, message);
        _ = Task.Run(() =>
        {
            try
            {
                _lost.Cancel();
            }
            catch (AggregateException ex)
            {
                ClientLog.HandlerFailed(_client.Logger, ex);
            }

            try
            {
                SeatLost?.Invoke(this, loss);
            }
            catch (Exception ex)
            {
                ClientLog.HandlerFailed(_client.Logger, ex);
            }
        });
    }

    private void Raise<T>(EventHandler<T>? handler, T args)
    {
        try
        {
            handler?.Invoke(this, args);
        }
        catch (Exception ex)
        {
            ClientLog.HandlerFailed(_client.Logger, ex);
        }
    }

    private static TimeSpan Jittered(TimeSpan interval) =>
        // 80-100 % of the interval: apps that logged in together do not beat together forever.
        TimeSpan.FromTicks((long)(interval.Ticks * (0.8 + (Random.Shared.NextDouble() * 0.2))));

    /// <summary>Stops the heartbeats and gives the seat back (unless it was lost). Never throws.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_heartbeats, _watch).ConfigureAwait(false);
        if (Loss is null)
        {
            try
            {
                await _client.RetryAsync(
                    async call => await _client.Seats.ReleaseSeatAsync(new ReleaseSeatRequest { Product = Lease.Product, LeaseId = LeaseId }, call),
                    TimeSpan.FromSeconds(10),
                    CancellationToken.None).ConfigureAwait(false);
                ClientLog.Released(_client.Logger, LeaseId);
            }
            catch (LicenseBrokerException ex) when (ex.Reason == "LEASE_EXPIRED")
            {
                // Already gone: nothing to give back.
            }
            catch (LicenseBrokerException ex)
            {
                ClientLog.ReleaseFailed(_client.Logger, LeaseId, ExpiresAt, ex);
            }
        }

        _stopping.Dispose();
        _beat.Dispose();
    }
}
