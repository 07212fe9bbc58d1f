using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Server.Identity;
using LicenseBroker.Server.Localization;
using Microsoft.AspNetCore.Authorization;

namespace LicenseBroker.Server.Grpc;

/// <summary>SeatService: validate, call the seat broker once, map the outcome.</summary>
[Authorize(Policy = BrokerPolicies.Agent)]
internal sealed class SeatGrpcService : SeatService.SeatServiceBase
{
    private readonly SeatBroker _broker;
    private readonly SeatWaiter _waiter;
    private readonly Microsoft.Extensions.Hosting.IHostApplicationLifetime _lifetime;

    public SeatGrpcService(SeatBroker broker, SeatWaiter waiter, Microsoft.Extensions.Hosting.IHostApplicationLifetime lifetime)
    {
        _broker = broker;
        _waiter = waiter;
        _lifetime = lifetime;
    }

    public override async Task WaitForSeat(WaitForSeatRequest request, IServerStreamWriter<WaitForSeatResponse> responseStream, ServerCallContext context)
    {
        var agent = CallerIdentity.Agent(context);
        new RequestValidation()
            .Product(request.Product)
            .Id(request.SessionId, "session_id")
            .Device(request.Device)
            .SessionKind(request.SessionKind)
            .Check(RequestValidation.IsProofShaped(request.QueueTicket, LeaseProofs.MaxTicketLength), "queue_ticket", "must be the queue_ticket of a position this wait was sent")
            .Check(request.LostLease is null || RequestValidation.IsLeaseId(request.LostLease.LeaseId), "lost_lease.lease_id", "must be the lease id of the lost lease")
            .Check(request.LostLease is null || RequestValidation.IsId(request.LostLease.SessionId), "lost_lease.session_id", "must be the session id of the lost lease")
            .Check(request.LostLease is null || request.LostLease.FencingToken is > 0 and <= FencingTokens.MaxValue, "lost_lease.fencing_token", $"must be between 1 and {FencingTokens.MaxValue}")
            .Check(request.LostLease is null || request.LostLease.SeatType is Contracts.V1.SeatType.Concurrent, "lost_lease.seat_type", "must be CONCURRENT: only a shared seat is waited for")
            .Check(
                request.LostLease is null || (request.LostLease.LeaseProof.Length > 0 && RequestValidation.IsProofShaped(request.LostLease.LeaseProof, LeaseProofs.MaxLength)),
                "lost_lease.lease_proof",
                "must be the lease_proof returned with the lost lease")
            .ThrowIfInvalid();

        var culture = AgentMessages.Negotiate(context.RequestHeaders.GetValue("accept-language"));
        // A replica that stops ends its waits at once with UNAVAILABLE, without leaving the queue: the apps re-join through
        // another replica (with their tickets) and find their places. A ticket that does not verify is ignored (the wait
        // goes on by agent): it is never an error, and never a place.
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, _lifetime.ApplicationStopping);
        try
        {
            await foreach (var update in _waiter.WaitAsync(
                agent, request.Product, request.SessionId, request.Device.ToDomain(), request.SessionKind.ToDomain(), request.QueueTicket, _lifetime.ApplicationStopping,
                waiting.Token,
                request.LostLease is { } lost
                    ? new LostLease(lost.LeaseId, lost.SessionId, Domain.Seats.SeatType.Concurrent, lost.FencingToken, lost.LeaseProof)
                    : null))
            {
                switch (update)
                {
                    case WaitUpdate.InQueue queued:
                        await responseStream.WriteAsync(new WaitForSeatResponse { Position = OutcomeStatus.Position(queued, culture) });
                        break;
                    case WaitUpdate.Granted granted:
                        await responseStream.WriteAsync(new WaitForSeatResponse { Granted = granted.Lease.ToProto(_broker.Options) });
                        break;
                    case WaitUpdate.Refused refused:
                        throw OutcomeStatus.Refused(refused.Reason, request.Product);
                    case WaitUpdate.Dropped:
                        throw OutcomeStatus.DroppedFromQueue();
                    case WaitUpdate.QueueFull full:
                        throw OutcomeStatus.QueueFull(full, request.Product);
                    case WaitUpdate.Ended ended:
                        throw OutcomeStatus.WaitEnded(ended, request.Product);
                }
            }
        }
        catch (OperationCanceledException) when (_lifetime.ApplicationStopping.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
            throw OutcomeStatus.ReplicaStopping();
        }
    }

    public override async Task WatchLease(WatchLeaseRequest request, IServerStreamWriter<WatchLeaseResponse> responseStream, ServerCallContext context)
    {
        var agent = CallerIdentity.Agent(context);
        new RequestValidation().Product(request.Product).LeaseId(request.LeaseId).ThrowIfInvalid();
        await foreach (var state in _waiter.WatchAsync(agent, request.Product, request.LeaseId, context.CancellationToken))
        {
            await responseStream.WriteAsync(state switch
            {
                LeaseState.Live live => new WatchLeaseResponse { Status = LeaseStatus.Active, ExpiresAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(live.ExpiresAt) },
                LeaseState.Revoked revoked => new WatchLeaseResponse
                {
                    Status = LeaseStatus.Revoked, RevokedBy = revoked.RevokedBy, RevokedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(revoked.RevokedAt),
                    Reason = OutcomeStatus.LeaseRevokedReason,
                },
                LeaseState.IdleReleased released => new WatchLeaseResponse
                {
                    Status = LeaseStatus.IdleReleased, Reason = OutcomeStatus.IdleReleasedReason, IdleRule = OutcomeStatus.RuleName(released.Cause),
                    EndedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(released.At),
                },
                _ => new WatchLeaseResponse { Status = LeaseStatus.Ended, Reason = OutcomeStatus.LeaseExpiredReason },
            });
        }
    }

    public override async Task<AcquireSeatResponse> AcquireSeat(AcquireSeatRequest request, ServerCallContext context)
    {
        var agent = CallerIdentity.Agent(context);
        new RequestValidation()
            .Product(request.Product)
            .Id(request.SessionId, "session_id")
            .Device(request.Device)
            .SessionKind(request.SessionKind)
            .Check(request.UnattendedDeviceId.Length == 0 || request.SessionKind == Contracts.V1.SessionKind.Unattended, "unattended_device_id", "is only for UNATTENDED sessions")
            .Check(request.UnattendedDeviceId.Length == 0 || RequestValidation.IsId(request.UnattendedDeviceId), "unattended_device_id", "must be a device id")
            .ThrowIfInvalid();

        var outcome = await _broker.AcquireAsync(
            agent,
            request.Product,
            request.SessionId,
            request.Device.ToDomain(),
            request.SessionKind.ToDomain(),
            context.CancellationToken,
            request.UnattendedDeviceId.Length == 0 ? null : request.UnattendedDeviceId);
        return outcome switch
        {
            AcquireOutcome.Granted granted => new AcquireSeatResponse
            {
                Lease = granted.Lease.ToProto(_broker.Options),
                Resumed = granted.Resumed,
                Overage = granted.Overage is not null,
                OverageInfo = granted.Overage is { } over ? OutcomeStatus.OverageInfo(over) : null,
            },
            _ => throw OutcomeStatus.Refused(outcome, request.Product),
        };
    }

    public override async Task<HeartbeatResponse> Heartbeat(HeartbeatRequest request, ServerCallContext context)
    {
        var agent = CallerIdentity.Agent(context);
        new RequestValidation()
            .Product(request.Product)
            .LeaseId(request.LeaseId)
            .Check(request.FencingToken is >= 0 and <= FencingTokens.MaxValue, "fencing_token", $"must be between 0 and {FencingTokens.MaxValue}")
            .Check(RequestValidation.IsProofShaped(request.LeaseProof, LeaseProofs.MaxLength), "lease_proof", "must be the lease_proof returned with the lease")
            .Check(request.SessionId.Length == 0 || RequestValidation.IsId(request.SessionId), "session_id", "must be the session id of the lease")
            .Check(request.Device is null || (RequestValidation.IsId(request.Device.Id) && request.Device.Platform != Contracts.V1.Platform.Unspecified && Enum.IsDefined(request.Device.Platform)), "device", "must be a valid device when given")
            .Check(Enum.IsDefined(request.SessionKind), "session_kind", "must be a known session kind when given")
            .IdleFor(request.IdleFor, "idle_for", out var idleFor)
            .ThrowIfInvalid();

        var outcome = await _broker.HeartbeatAsync(
            agent,
            request.Product,
            request.LeaseId,
            context.CancellationToken,
            request.SessionId,
            request.FencingToken,
            request.Device?.ToDomain(),
            request.SessionKind == Contracts.V1.SessionKind.Unspecified ? null : request.SessionKind.ToDomain(),
            request.LeaseProof,
            idleFor);
        return outcome switch
        {
            HeartbeatOutcome.Renewed renewed => new HeartbeatResponse { Lease = renewed.Lease.ToProto(_broker.Options), Revived = renewed.Revived },
            HeartbeatOutcome.Revoked revoked => throw OutcomeStatus.Revoked(revoked),
            HeartbeatOutcome.IdleReleased released => throw OutcomeStatus.IdleReleased(released),
            HeartbeatOutcome.LeaseNotFound gone => throw OutcomeStatus.LeaseNotFound(request.LeaseId, gone),
            HeartbeatOutcome.CatchingUp catching => throw OutcomeStatus.CatchingUp(catching.RetryAfter),
            _ => throw new InvalidOperationException($"Unhandled outcome {outcome}"),
        };
    }

    public override async Task<ReleaseSeatResponse> ReleaseSeat(ReleaseSeatRequest request, ServerCallContext context)
    {
        var agent = CallerIdentity.Agent(context);
        new RequestValidation()
            .Product(request.Product)
            .LeaseId(request.LeaseId)
            .ThrowIfInvalid();

        var outcome = await _broker.ReleaseAsync(agent, request.Product, request.LeaseId, context.CancellationToken);
        return outcome switch
        {
            ReleaseOutcome.Released => new ReleaseSeatResponse { Released = true },
            ReleaseOutcome.AlreadyReleased => new ReleaseSeatResponse { Released = false },
            ReleaseOutcome.LeaseNotFound => throw OutcomeStatus.LeaseNotFound(request.LeaseId),
            _ => throw new InvalidOperationException($"Unhandled outcome {outcome}"),
        };
    }
}
