using System.Buffers.Text;
using System.Security.Cryptography;
using LicenseBroker.Domain.Catalog;

namespace LicenseBroker.Domain.Seats;

/// <summary>
/// The seat rules: who may take a seat of which kind, and for how long. Durable facts come
/// from the catalog (cached), live occupancy from the store (one atomic call per operation).
/// </summary>
public sealed class SeatBroker
{
    private readonly ILicenseCatalog _catalog;
    private readonly IOccupancyStore _store;
    private readonly TimeProvider _time;
    private readonly SeatOptions _options;
    private readonly ISeatEventSink _events;

    public SeatBroker(ILicenseCatalog catalog, IOccupancyStore store, TimeProvider time, SeatOptions options, ISeatEventSink events)
    {
        _catalog = catalog;
        _store = store;
        _time = time;
        _options = options;
        _events = events;
    }

    public SeatOptions Options => _options;

    public async Task<AcquireOutcome> AcquireAsync(
        AgentIdentity agent,
        string product,
        string sessionId,
        DeviceInfo device,
        SessionKind sessionKind,
        CancellationToken cancellationToken,
        string? unattendedDeviceId = null)
    {
        var pool = new PoolId(agent.AccountId, product);
        var policy = await _catalog.GetPoolPolicyAsync(pool, cancellationToken);

        if (policy.RefusalFor(agent.AgentId, _time.GetUtcNow()) is { } refusal)
        {
            return refusal;
        }

        var seatType = policy.SeatTypeOf(agent.AgentId)!.Value;

        if (unattendedDeviceId is not null && !policy.IsRegisteredUnattendedDevice(unattendedDeviceId))
        {
            return new AcquireOutcome.UnattendedDeviceNotRegistered(unattendedDeviceId);
        }

        var command = new AcquireCommand(
            pool,
            agent.AgentId,
            sessionId,
            NewLeaseId(),
            seatType,
            policy.ConcurrentLimit,
            _options.LeaseTtl,
            device,
            sessionKind,
            new RateLimits(_options.RateWindow, _options.AcquiresPerPoolPerWindow, _options.AcquiresPerAgentPerWindow));
        var outcome = await _store.AcquireAsync(command, cancellationToken);
        switch (outcome)
        {
            case AcquireOutcome.Granted { Resumed: false } granted:
                _events.Record(new SeatEvent(pool, SeatEventKind.Granted, agent.AgentId, granted.Lease.LeaseId, agent.AgentId, granted.At, PeakToday: granted.PeakToday));
                break;
            case AcquireOutcome.PoolFull full:
                _events.Record(new SeatEvent(pool, SeatEventKind.Refused, agent.AgentId, null, agent.AgentId, full.At, RefusedToday: full.RefusedToday));
                break;
        }

        return outcome;
    }

    /// <summary>
    /// Renews a lease. What the app sends besides the lease id (session, fencing token, device) lets
    /// the store re-establish the lease if Redis lost it; the seat type comes from the cached catalog.
    /// </summary>
    public async Task<HeartbeatOutcome> HeartbeatAsync(
        AgentIdentity agent,
        string product,
        string leaseId,
        CancellationToken cancellationToken,
        string sessionId = "",
        long fencingToken = 0,
        DeviceInfo? device = null,
        SessionKind? sessionKind = null)
    {
        var pool = new PoolId(agent.AccountId, product);
        PoolPolicy? policy = null;
        try
        {
            policy = await _catalog.GetPoolPolicyAsync(pool, cancellationToken);
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            // A renewal needs no catalog; only re-establishing a lost lease does. With the catalog
            // unreachable and not cached, renew what Redis knows and re-establish nothing.
        }

        var seatType = policy is not null && policy.IsActiveAt(_time.GetUtcNow()) ? policy.SeatTypeOf(agent.AgentId) : null;
        return await _store.HeartbeatAsync(
            new HeartbeatCommand(
                pool, agent.AgentId, leaseId, _options.LeaseTtl, sessionId, fencingToken, seatType, policy?.ConcurrentLimit ?? 0, device, sessionKind),
            cancellationToken);
    }

    public async Task<ReleaseOutcome> ReleaseAsync(
        AgentIdentity agent, string product, string leaseId, CancellationToken cancellationToken)
    {
        var pool = new PoolId(agent.AccountId, product);

        // A release is remembered for one lease lifetime so that a retried release still succeeds.
        var outcome = await _store.ReleaseAsync(new ReleaseCommand(pool, agent.AgentId, leaseId, _options.LeaseTtl), cancellationToken);
        if (outcome is ReleaseOutcome.Released)
        {
            _events.Record(new SeatEvent(pool, SeatEventKind.Released, agent.AgentId, leaseId, agent.AgentId, _time.GetUtcNow()));
        }

        return outcome;
    }

    /// <summary>128 random bits, URL-safe: a lease id cannot be guessed from another.</summary>
    public static string NewLeaseId()
    {
        Span<byte> bytes = stackalloc byte[16];
        RandomNumberGenerator.Fill(bytes);
        return "ls_" + Base64Url.EncodeToString(bytes);
    }
}
