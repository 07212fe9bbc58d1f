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
    private readonly LeaseProofs _proofs;

    public SeatBroker(ILicenseCatalog catalog, IOccupancyStore store, TimeProvider time, SeatOptions options, LeaseProofs proofs)
    {
        _proofs = proofs;
        _catalog = catalog;
        _store = store;
        _time = time;
        _options = options;
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
        var (outcome, _) = await RulesInForce.DecideAsync(
            _catalog,
            new PoolId(agent.AccountId, product),
            policy => AcquireByAsync(policy, agent, sessionId, device, sessionKind, unattendedDeviceId, cancellationToken),
            static outcome => (outcome as AcquireOutcome.RulesChanged)?.Version,
            cancellationToken);
        return outcome;
    }

    private async Task<AcquireOutcome> AcquireByAsync(
        PoolPolicy policy, AgentIdentity agent, string sessionId, DeviceInfo device, SessionKind sessionKind, string? unattendedDeviceId, CancellationToken cancellationToken)
    {
        var pool = policy.Pool;
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
            new RateLimits(_options.RateWindow, _options.AcquiresPerPoolPerWindow, _options.AcquiresPerAgentPerWindow),
            policy.IdleRules,
            policy.GroupSeatsOf(agent.AgentId),
            policy.Recovery,
            policy.Overage);
        // Seat events (granted, refused) are recorded by the store, from what the script reports.
        var outcome = await _store.AcquireAsync(command, cancellationToken);
        return outcome switch
        {
            AcquireOutcome.Granted granted => granted with { Lease = _proofs.Attach(pool, agent.AgentId, device.DeviceId, granted.Lease, policy.Recovery.OutageGrace) },

            // The agent is told the groups' names admins gave them, not their ids.
            AcquireOutcome.PoolFull full => full with
            {
                GroupName = full.Group is null ? null : policy.GroupName(full.Group),
                ReservedForNames = full.ReservedFor?.Select(policy.GroupName).ToList(),
            },
            _ => outcome,
        };
    }

    /// <summary>
    /// Renews a lease. What the app sends besides the lease id (session, fencing token, lease proof,
    /// device) lets the store re-establish the lease if Redis lost it, and only when the proof
    /// verifies: a fencing token without its proof is ignored. The seat type comes from the cached catalog.
    /// </summary>
    public async Task<HeartbeatOutcome> HeartbeatAsync(
        AgentIdentity agent,
        string product,
        string leaseId,
        CancellationToken cancellationToken,
        string sessionId = "",
        long fencingToken = 0,
        DeviceInfo? device = null,
        SessionKind? sessionKind = null,
        string leaseProof = "",
        TimeSpan idleFor = default)
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
        var deviceId = device?.DeviceId ?? string.Empty;
        var proof = seatType is { } type ? _proofs.Verify(pool, agent.AgentId, deviceId, leaseId, sessionId, type, fencingToken, leaseProof) : null;
        var recovery = policy?.Recovery ?? LeaseRecovery.Default;
        var outcome = await _store.HeartbeatAsync(
            new HeartbeatCommand(
                pool, agent.AgentId, leaseId, _options.LeaseTtl, sessionId, proof?.FencingToken ?? 0, seatType, policy?.ConcurrentLimit ?? 0, device, sessionKind,
                policy?.IdleRules, idleFor,
                policy?.GroupSeatsOf(agent.AgentId), recovery, proof?.GraceUntil),
            cancellationToken);
        // Signed anew on every renewal: the grace moves with the expiry.
        return outcome is HeartbeatOutcome.Renewed renewed
            ? renewed with { Lease = _proofs.Attach(pool, agent.AgentId, deviceId, renewed.Lease, recovery.OutageGrace) }
            : outcome;
    }

    public async Task<ReleaseOutcome> ReleaseAsync(
        AgentIdentity agent, string product, string leaseId, CancellationToken cancellationToken)
    {
        var pool = new PoolId(agent.AccountId, product);

        // A release is remembered for one lease lifetime so that a retried release still succeeds.
        return await _store.ReleaseAsync(new ReleaseCommand(pool, agent.AgentId, leaseId, _options.LeaseTtl), cancellationToken);
    }

    /// <summary>128 random bits, URL-safe: a lease id cannot be guessed from another.</summary>
    public static string NewLeaseId()
    {
        Span<byte> bytes = stackalloc byte[16];
        RandomNumberGenerator.Fill(bytes);
        return "ls_" + Base64Url.EncodeToString(bytes);
    }
}
