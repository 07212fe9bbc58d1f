using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.Domain.Administration;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Server.Identity;
using Microsoft.AspNetCore.Authorization;

namespace LicenseBroker.Server.Grpc;

/// <summary>SubscriptionService (billing and back office, service scope): validate, call once, map.</summary>
[Authorize(Policy = BrokerPolicies.Service)]
internal sealed class SubscriptionGrpcService : SubscriptionService.SubscriptionServiceBase
{
    // A valid_until a little in the past is "end it now" sent from a clock slightly ahead, or over a slow link.
    private static readonly TimeSpan PastTolerance = TimeSpan.FromMinutes(5);

    private readonly SeatAdministration _administration;
    private readonly TimeProvider _time;
    private readonly SeatOptions _seats;

    public SubscriptionGrpcService(SeatAdministration administration, TimeProvider time, SeatOptions seats)
    {
        _administration = administration;
        _time = time;
        _seats = seats;
    }

    public override async Task<UpsertSubscriptionResponse> UpsertSubscription(UpsertSubscriptionRequest request, ServerCallContext context)
    {
        var subscription = request.Subscription;
        var validation = new RequestValidation().Check(subscription is not null, "subscription", "is required");
        if (subscription is not null)
        {
            validation
                .Id(subscription.AccountId, "subscription.account_id")
                .Product(subscription.Product, "subscription.product")
                .Defined(subscription.Plan, "subscription.plan")
                .Timestamp(subscription.ValidUntil, "subscription.valid_until", out var validUntil)
                .Check(validUntil == default || validUntil >= _time.GetUtcNow() - PastTolerance, "subscription.valid_until", "must not be in the past (to end a subscription now, send the current time)")
                .Limit(subscription.NamedSeatLimit, "subscription.named_seat_limit")
                .Limit(subscription.ConcurrentSeatLimit, "subscription.concurrent_seat_limit")
                .Limit(subscription.UnattendedDeviceLimit, "subscription.unattended_device_limit")
                .IdleTimeout(subscription.PendingTimeoutSeconds, _seats.MinIdleTimeout, "subscription.pending_timeout_seconds")
                .IdleTimeout(subscription.IdleTimeoutSeconds, _seats.MinIdleTimeout, "subscription.idle_timeout_seconds");
            if (subscription.HasReviveWindowSeconds)
            {
                validation.RecoverySeconds(subscription.ReviveWindowSeconds, "subscription.revive_window_seconds");
            }

            if (subscription.HasOutageGraceSeconds)
            {
                validation.RecoverySeconds(subscription.OutageGraceSeconds, "subscription.outage_grace_seconds");
            }

            validation
                .Check(!subscription.HasQueueMaxWaiters || subscription.QueueMaxWaiters is >= 0 and <= 1_000_000, "subscription.queue_max_waiters", "must be between 0 (the default) and 1000000")
                .Check(!subscription.HasQueueMaxWaitSeconds || subscription.QueueMaxWaitSeconds is >= 0 and <= 86_400, "subscription.queue_max_wait_seconds", "must be between 0 (the default) and 86400")
                .Check(!subscription.HasQueueAgeStepSeconds || subscription.QueueAgeStepSeconds is >= 0 and <= 3_600, "subscription.queue_age_step_seconds", "must be between 0 (the default) and 3600");
            if (subscription.HasOverageMode)
            {
                validation.Check(
                    subscription.OverageMode != Contracts.V1.OverageMode.Unspecified && Enum.IsDefined(subscription.OverageMode),
                    "subscription.overage_mode",
                    "must be NONE, ALERT or BURST");
            }

            validation
                .Check(!subscription.HasOverageSeats || subscription.OverageSeats is >= 0 and <= OveragePolicy.MaxSeats, "subscription.overage_seats", $"must be between 0 and {OveragePolicy.MaxSeats}")
                .Check(
                    !subscription.HasOveragePercent || subscription.OveragePercent is >= 0 and <= OveragePolicy.MaxPercent,
                    "subscription.overage_percent",
                    $"must be between 0 and {OveragePolicy.MaxPercent}")
                .Check(
                    !(subscription.OverageSeats > 0 && subscription.OveragePercent > 0),
                    "subscription.overage_percent",
                    "give the allowance in seats or in percent, not both");

            if (subscription.HasMonitoredDeviceLimit)
            {
                validation.Limit(subscription.MonitoredDeviceLimit, "subscription.monitored_device_limit");
            }

            if (subscription.DisplayName.Length > 0)
            {
                validation.Text(subscription.DisplayName, "subscription.display_name", maxLength: 80);
            }
        }

        validation.ThrowIfInvalid();
        var outcome = await _administration.UpsertSubscriptionAsync(CallerIdentity.Service(context), subscription!.ToDomain(), context.CancellationToken);
        return outcome is SubscriptionOutcome.Saved saved
            ? new UpsertSubscriptionResponse { Subscription = saved.Subscription.ToProto() }
            : throw OutcomeStatus.Refused(outcome);
    }

    public override async Task<GetSubscriptionResponse> GetSubscription(GetSubscriptionRequest request, ServerCallContext context)
    {
        new RequestValidation().Id(request.AccountId, "account_id").Product(request.Product).ThrowIfInvalid();
        var subscription = await _administration.GetSubscriptionAsync(request.AccountId, request.Product, context.CancellationToken)
            ?? throw OutcomeStatus.NotFound("The account has no subscription to this product.", "NO_SUBSCRIPTION");
        return new GetSubscriptionResponse { Subscription = subscription.ToProto() };
    }
}
