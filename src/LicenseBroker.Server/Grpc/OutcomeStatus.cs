using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using LicenseBroker.Domain.Administration;
using LicenseBroker.Domain.Seats;
using PlanOutcome = LicenseBroker.Domain.Planning.PlanOutcome;

namespace LicenseBroker.Server.Grpc;

/// <summary>The one place where refusals of the seat rules become gRPC status codes and error details.</summary>
internal static class OutcomeStatus
{
    public const string Domain = "licensebroker.v1";

    public const string LeaseRevokedReason = "LEASE_REVOKED";
    public const string IdleReleasedReason = "IDLE_RELEASED";
    public const string LeaseExpiredReason = "LEASE_EXPIRED";

    public const string AllSharedSeatsInUseMessage =
        "All shared seats are in use. To start a session, please wait for a seat to become available.";

    /// <summary>No shared seat now, with the rule that says so: every seat taken, the group's cap, or seats reserved for other groups.</summary>
    public static RpcException PoolFull(AcquireOutcome.PoolFull full)
    {
        var metadata = new Dictionary<string, string>
        {
            ["in_use"] = Text(full.InUse),
            ["limit"] = Text(full.Limit),
            ["waiting"] = Text(full.Waiting),
        };
        switch (full.Why)
        {
            case SharedSeatRefusal.GroupCapReached or SharedSeatRefusal.GroupOverageCapReached:
                var group = full.GroupName ?? full.Group;
                metadata["group"] = full.Group ?? string.Empty;
                metadata["group_name"] = group ?? string.Empty;
                metadata["cap"] = Text(full.Cap);
                return full.Why == SharedSeatRefusal.GroupCapReached
                    ? Error(
                        Code.ResourceExhausted,
                        $"Your group {group} already holds its {full.Cap} shared seats. To start a session, please wait for one of them to become available.",
                        "GROUP_CAP_REACHED",
                        metadata)
                    : Error(
                        Code.ResourceExhausted,
                        $"Every purchased shared seat is taken and your group {group} already holds its {full.Cap} seats beyond them. To start a session, please wait for a seat to become available.",
                        "GROUP_OVERAGE_CAP_REACHED",
                        metadata);
            case SharedSeatRefusal.SeatsReserved:
                var groups = string.Join(", ", full.ReservedForNames ?? full.ReservedFor ?? []);
                metadata["reserved_for"] = string.Join(",", full.ReservedFor ?? []);
                metadata["reserved_for_names"] = groups;
                return Error(
                    Code.ResourceExhausted,
                    $"The free shared seats are reserved for the groups {groups}. To start a session, please wait for a seat to become available.",
                    "SEATS_RESERVED",
                    metadata);
            default:
                return Error(Code.ResourceExhausted, AllSharedSeatsInUseMessage, "ALL_SHARED_SEATS_IN_USE", metadata);
        }
    }

    public static RpcException NoSeatAssigned(string product) =>
        Error(Code.PermissionDenied, $"You have no seat of {product}. Ask an administrator to give you one.", "NO_SEAT_ASSIGNED", new() { ["product"] = product });

    public static RpcException NoActiveSubscription(string product) =>
        Error(Code.FailedPrecondition, $"The account has no active trial or paid plan for {product}.", "NO_ACTIVE_SUBSCRIPTION", new() { ["product"] = product });

    public static RpcException LeaseNotFound(string leaseId) =>
        Error(Code.NotFound, "The lease is unknown or has expired. Acquire a seat again.", LeaseExpiredReason, new() { ["lease_id"] = leaseId });

    /// <summary>A heartbeat's lease is gone and was not given back: why, and the place waiting would give now.</summary>
    public static RpcException LeaseNotFound(string leaseId, HeartbeatOutcome.LeaseNotFound gone)
    {
        var (why, message) = gone.Why switch
        {
            LeaseGoneReason.SeatTaken => ("SEAT_TAKEN", $"The lease expired and its seat has been taken since; WaitForSeat would place you number {gone.QueuePosition} in the queue."),
            LeaseGoneReason.WindowPassed => ("WINDOW_PASSED", "The lease expired longer ago than the revive window and its grace allow. Acquire a seat again."),
            LeaseGoneReason.Ended => ("ENDED", "The lease was released. Acquire a seat again."),
            LeaseGoneReason.Unproven => ("UNPROVEN", "The lease expired and the lease proof sent does not verify for this lease, agent, device and product. Acquire a seat again."),
            LeaseGoneReason.NoSeat => ("NO_SEAT", "The lease expired and you have no seat of this product now. Ask an administrator."),
            _ => ("UNKNOWN", "The lease is unknown or has expired. Acquire a seat again."),
        };
        return Error(Code.NotFound, message, LeaseExpiredReason, new()
        {
            ["lease_id"] = leaseId,
            ["why"] = why,
            ["queue_position"] = Text(gone.QueuePosition),
            ["in_use"] = Text(gone.InUse),
            ["limit"] = Text(gone.Limit),
            ["waiting"] = Text(gone.Waiting),
        });
    }

    /// <summary>A grant beyond the purchased seats, told as an ErrorInfo would tell it (reason and metadata).</summary>
    public static ErrorInfo OverageInfo(OverageGrant over) => new()
    {
        Reason = over.Mode == OverageMode.Burst ? "OVERAGE_BURST" : "OVERAGE_ALERT",
        Domain = "licensebroker",
        Metadata = { ["in_use"] = Text(over.InUse), ["limit"] = Text(over.Limit), ["cap"] = Text(over.Cap) },
    };

    /// <summary>The pool is still dropping leases that expired meanwhile (a mass expiry); the heartbeat is answered in a moment.</summary>
    public static RpcException CatchingUp(TimeSpan retryAfter)
    {
        var status = Status(
            Code.Unavailable,
            $"The license service is still dropping sessions that expired while it could not be reached; your session's turn comes in {Math.Ceiling(retryAfter.TotalSeconds)} s.",
            "POOL_CATCHING_UP",
            new() { ["retry_after_ms"] = ((long)retryAfter.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture) });
        status.Details.Add(Any.Pack(new RetryInfo { RetryDelay = Duration.FromTimeSpan(retryAfter) }));
        return status.ToRpcException();
    }

    /// <summary>An admin ended the lease; <c>why</c> says what they did (the app's message differs: sign in again, or ask for a seat).</summary>
    public static RpcException Revoked(HeartbeatOutcome.Revoked revoked) =>
        Error(Code.FailedPrecondition, $"An administrator ({revoked.RevokedBy}) ended this lease at {revoked.RevokedAt:O}.", LeaseRevokedReason, new()
        {
            ["revoked_by"] = revoked.RevokedBy,
            ["revoked_at"] = revoked.RevokedAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            ["why"] = revoked.Cause.Code(),
        });

    public static RpcException IdleReleased(HeartbeatOutcome.IdleReleased released) =>
        Error(
            Code.FailedPrecondition,
            released.Cause == IdleReleaseCause.PendingTimeout
                ? $"The seat was given back at {released.At:O}: the session stayed pending (nobody connected) longer than the account allows. Acquire a seat again to work."
                : $"The seat was given back at {released.At:O}: you were idle longer than the account allows. Acquire a seat again to work.",
            IdleReleasedReason,
            new()
            {
                ["rule"] = RuleName(released.Cause),
                ["released_at"] = released.At.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            });

    /// <summary>The name of an idle rule in replies and the audit log: the subscription field it comes from.</summary>
    public static string RuleName(IdleReleaseCause cause) => cause == IdleReleaseCause.PendingTimeout ? "pending_timeout" : "idle_timeout";

    public static RpcException Recovering(TimeSpan retryAfter)
    {
        var status = Status(
            Code.Unavailable,
            $"The license service is re-establishing live sessions after a storage failover or an outage; new sessions can start in {Math.Ceiling(retryAfter.TotalSeconds)} s.",
            "POOL_RECOVERING",
            new() { ["retry_after_ms"] = ((long)retryAfter.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture) });
        status.Details.Add(Any.Pack(new RetryInfo { RetryDelay = Duration.FromTimeSpan(retryAfter) }));
        return status.ToRpcException();
    }

    public static RpcException RateLimited(TimeSpan retryAfter)
    {
        var status = Status(
            Code.ResourceExhausted,
            $"Too many attempts to take a seat; try again in {Math.Ceiling(retryAfter.TotalSeconds)} s.",
            "RATE_LIMITED",
            new() { ["retry_after_ms"] = ((long)retryAfter.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture) });
        status.Details.Add(Any.Pack(new RetryInfo { RetryDelay = Duration.FromTimeSpan(retryAfter) }));
        return status.ToRpcException();
    }

    /// <summary>The account already runs as many report calls as it may; one finishes within seconds.</summary>
    public static RpcException ReportsBusy()
    {
        var status = Status(
            Code.ResourceExhausted,
            "Your account is already running the most usage reports allowed at once; try again in a moment.",
            "REPORTS_BUSY",
            []);
        status.Details.Add(Any.Pack(new RetryInfo { RetryDelay = Duration.FromTimeSpan(TimeSpan.FromSeconds(1)) }));
        return status.ToRpcException();
    }

    /// <summary>The pool's queue holds its most waiters: not queued.</summary>
    public static RpcException QueueFull(WaitUpdate.QueueFull full, string product) =>
        Error(Code.ResourceExhausted, $"The queue for a seat of {product} is full ({Text(full.Waiting)} agents wait, at most {Text(full.MaxWaiters)}). Try again later.", "QUEUE_FULL", new()
        {
            ["product"] = product,
            ["waiting"] = Text(full.Waiting),
            ["max_waiting"] = Text(full.MaxWaiters),
            ["seats_in_use"] = Text(full.SeatsInUse),
        });

    /// <summary>This replica stops: the wait is not over, the app re-joins through another replica with its queue ticket.</summary>
    public static RpcException ReplicaStopping() =>
        Error(Code.Unavailable, "This broker replica is stopping. Wait again (send your queue_ticket) to keep your place in the queue.", "REPLICA_STOPPING", []);

    public static RpcException DroppedFromQueue() =>
        Error(Code.Aborted, "You left the queue: a seat offered to you was not claimed in time. Wait again.", "DROPPED_FROM_QUEUE", []);

    /// <summary>A waiter's place, with the rule that keeps it waiting, worded in the agent's language.</summary>
    public static Contracts.V1.QueuePosition Position(WaitUpdate.InQueue queued, System.Globalization.CultureInfo culture)
    {
        var (reason, key) = queued.Why switch
        {
            SharedSeatRefusal.GroupCapReached => ("GROUP_CAP_REACHED", "WAITING_GROUP_CAP_REACHED"),
            SharedSeatRefusal.GroupOverageCapReached => ("GROUP_OVERAGE_CAP_REACHED", "WAITING_GROUP_OVERAGE_CAP_REACHED"),
            SharedSeatRefusal.SeatsReserved => ("SEATS_RESERVED", "WAITING_SEATS_RESERVED"),
            _ => ("ALL_SHARED_SEATS_IN_USE", "WAITING"),
        };
        var position = new Contracts.V1.QueuePosition
        {
            Position = queued.Position,
            SeatsInUse = queued.SeatsInUse,
            Waiting = queued.Waiting,
            Reason = reason,
            GroupId = queued.Group ?? string.Empty,
            GroupCap = queued.Cap,
            ReservedFor = { (queued.ReservedFor ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries) },
            Priority = queued.Priority.ToProto(),
            EstimatedWait = queued.EstimatedWait is { } eta ? Duration.FromTimeSpan(eta) : null,
            WaitDeadline = queued.Deadline is { } deadline ? Timestamp.FromDateTimeOffset(deadline) : null,
            QueueTicket = queued.Ticket ?? string.Empty,
        };
        position.LocalizedMessage = Localization.AgentMessages.Format(key, culture, new Dictionary<string, string>
        {
            ["position"] = queued.Position.ToString(culture),
            ["waiting"] = queued.Waiting.ToString(culture),
            ["seats_in_use"] = queued.SeatsInUse.ToString(culture),
            ["group"] = queued.GroupName ?? position.GroupId,
            ["cap"] = queued.Cap.ToString(culture),
            ["reserved_for"] = queued.ReservedForNames is { } names ? string.Join(", ", names.Split(',')) : string.Join(", ", position.ReservedFor),
        }) ?? string.Empty;
        if (queued.EstimatedWait is { } wait && queued.Position > 0)
        {
            // "about 3 min", not a spinner: whole minutes, rounded up, or under a minute.
            var minutes = (int)Math.Ceiling(wait.TotalMinutes);
            var about = minutes <= 1 && wait < TimeSpan.FromMinutes(1)
                ? Localization.AgentMessages.Format("ETA_UNDER_A_MINUTE", culture, new Dictionary<string, string>())
                : Localization.AgentMessages.Format("ETA_MINUTES", culture, new Dictionary<string, string> { ["minutes"] = minutes.ToString(culture) });
            position.LocalizedMessage += " " + Localization.AgentMessages.Format("WAITING_ETA", culture, new Dictionary<string, string> { ["eta"] = about ?? string.Empty });
        }

        return position;
    }

    /// <summary>An admin's change ended the wait: the seat was withdrawn (removed, switched, suspended) or the agent's sessions ended.</summary>
    public static RpcException WaitEnded(WaitUpdate.Ended ended, string product) => ended.Reason switch
    {
        WaitEndReason.QueueTimeout => Error(
            Code.ResourceExhausted,
            $"No seat of {product} became free within the longest wait allowed. Wait again, or try later.",
            "QUEUE_TIMEOUT",
            new() { ["product"] = product, ["timed_out_at"] = ended.At.ToString("O", System.Globalization.CultureInfo.InvariantCulture) }),
        WaitEndReason.Revoked => Error(Code.FailedPrecondition, $"An administrator ({ended.By}) ended your sessions of {product}: you are no longer waiting for a seat.", "WAIT_REVOKED", new()
        {
            ["product"] = product,
            ["revoked_by"] = ended.By,
            ["revoked_at"] = ended.At.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
        }),
        _ => Error(Code.PermissionDenied, $"Your shared seat of {product} was removed or changed by an administrator: you are no longer waiting for one. Sign in again.", "SEAT_WITHDRAWN", new()
        {
            ["product"] = product,
            ["changed_at"] = ended.At.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
        }),
    };

    /// <summary>The rules kept changing under every attempt: nothing was taken; try again.</summary>
    public static RpcException RulesChanged() =>
        Error(Code.Aborted, "The account's seat rules changed while your request was decided. Please try again.", "RULES_CHANGED", []);

    public static RpcException UnattendedDeviceNotRegistered(string deviceId) =>
        Error(Code.FailedPrecondition, $"Machine {deviceId} is not registered for unattended access.", "DEVICE_NOT_REGISTERED", new() { ["device_id"] = deviceId });

    /// <summary>Why an agent did not get a seat, for AcquireSeat and WaitForSeat alike.</summary>
    public static RpcException Refused(AcquireOutcome outcome, string product) => outcome switch
    {
        AcquireOutcome.PoolFull full => PoolFull(full),
        AcquireOutcome.NoSeatAssigned => NoSeatAssigned(product),
        AcquireOutcome.NoActiveSubscription => NoActiveSubscription(product),
        AcquireOutcome.UnattendedDeviceNotRegistered device => UnattendedDeviceNotRegistered(device.DeviceId),
        AcquireOutcome.Recovering recovering => Recovering(recovering.RetryAfter),
        AcquireOutcome.RateLimited limited => RateLimited(limited.RetryAfter),
        AcquireOutcome.RulesChanged => RulesChanged(),
        _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome, "not a refusal"),
    };

    public static RpcException Refused(SubscriptionOutcome outcome) => outcome switch
    {
        SubscriptionOutcome.LimitBelowUsage below => Error(
            Code.FailedPrecondition,
            $"{below.InUse} {below.Limit} are in use: remove {below.InUse - below.RequestedLimit} before lowering the limit to {below.RequestedLimit}.",
            "LIMIT_BELOW_USAGE",
            new() { ["limit"] = below.Limit, ["in_use"] = Text(below.InUse), ["requested_limit"] = Text(below.RequestedLimit), ["must_remove"] = Text(below.InUse - below.RequestedLimit) }),
        SubscriptionOutcome.UnknownProduct => Error(Code.NotFound, "No such product.", "UNKNOWN_PRODUCT", []),
        _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome, "not a refusal"),
    };

    public static RpcException Refused(AgentOutcome outcome) => outcome switch
    {
        AgentOutcome.EmailTaken => Error(Code.AlreadyExists, "Another agent of the account has this e-mail.", "EMAIL_TAKEN", []),
        AgentOutcome.UnknownAccount => Error(Code.FailedPrecondition, "The account has no subscription yet.", "UNKNOWN_ACCOUNT", []),
        _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome, "not a refusal"),
    };

    public static RpcException Refused(AssignOutcome outcome, string product) => Describe(outcome, product)!.ToRpcException();

    /// <summary>The status an assignment refusal maps to; null when it is not a refusal.</summary>
    public static Google.Rpc.Status? Describe(AssignOutcome outcome, string product) => outcome switch
    {
        AssignOutcome.NoActiveSubscription => Status(Code.FailedPrecondition, $"The account has no active trial or paid plan for {product}.", "NO_ACTIVE_SUBSCRIPTION", new() { ["product"] = product }),
        AssignOutcome.ProductHasNoSeats => Status(Code.FailedPrecondition, $"{product} has no seats to give: every agent of the account may use it.", "PRODUCT_HAS_NO_SEATS", new() { ["product"] = product }),
        AssignOutcome.UnknownAgent => Status(Code.NotFound, "No such agent in the account.", "UNKNOWN_AGENT", []),
        AssignOutcome.NamedSeatLimitReached full => Status(
            Code.FailedPrecondition,
            $"All {full.Limit} named seats of {product} are assigned. Remove one, or raise the limit, first.",
            "NAMED_SEAT_LIMIT_REACHED",
            new() { ["product"] = product, ["limit"] = Text(full.Limit) }),
        _ => null,
    };

    public static RpcException Refused(DeviceOutcome outcome, string product) => outcome switch
    {
        DeviceOutcome.DeviceLimitReached full => Error(
            Code.FailedPrecondition,
            $"All {full.Limit} device slots of {product} are used. Remove a device, or raise the limit, first.",
            "DEVICE_LIMIT_REACHED",
            new() { ["product"] = product, ["limit"] = Text(full.Limit) }),
        DeviceOutcome.NoActiveSubscription => NoActiveSubscription(product),
        DeviceOutcome.ProductHasNoDevices => Error(Code.FailedPrecondition, $"{product} registers no devices.", "PRODUCT_HAS_NO_DEVICES", new() { ["product"] = product }),
        _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome, "not a refusal"),
    };

    public static RpcException Refused(GroupOutcome outcome) => outcome switch
    {
        GroupOutcome.UnknownGroup => Error(Code.NotFound, "No such group in the account.", "UNKNOWN_GROUP", []),
        GroupOutcome.NameTaken => Error(Code.AlreadyExists, "Another group of the account has this name.", "GROUP_NAME_TAKEN", []),
        GroupOutcome.UnknownAgents unknown => Error(
            Code.FailedPrecondition,
            $"These members are not agents of the account: {string.Join(", ", unknown.AgentIds)}.",
            "UNKNOWN_AGENT",
            new() { ["agent_ids"] = string.Join(",", unknown.AgentIds) }),
        _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome, "not a refusal"),
    };

    public static RpcException Refused(GroupRuleOutcome outcome, string product) => outcome switch
    {
        GroupRuleOutcome.UnknownGroup => Error(Code.NotFound, "No such group in the account.", "UNKNOWN_GROUP", []),
        GroupRuleOutcome.NoSubscription => NoActiveSubscription(product),
        GroupRuleOutcome.TooManyRules many => Error(
            Code.FailedPrecondition, $"At most {many.Max} groups may have seats reserved or capped in {product}; remove a rule first.", "TOO_MANY_GROUP_RULES",
            new() { ["max"] = Text(many.Max) }),
        GroupRuleOutcome.ReservationsOverLimit over => Error(
            Code.FailedPrecondition,
            $"{product} has {over.ConcurrentLimit} shared seats and other groups reserve {over.ReservedElsewhere}: at most {Math.Max(0, over.ConcurrentLimit - over.ReservedElsewhere)} can be reserved for this group (asked {over.Requested}).",
            "RESERVATIONS_OVER_LIMIT",
            new() { ["concurrent_limit"] = Text(over.ConcurrentLimit), ["reserved_elsewhere"] = Text(over.ReservedElsewhere), ["requested"] = Text(over.Requested) }),
        GroupRuleOutcome.OverageCapOverAllowance cap => RequestValidation.Invalid(
            [new BadRequest.Types.FieldViolation { Field = "overage_max_seats", Description = $"must be at most the pool's overage allowance ({cap.Allowance} seats beyond the purchased ones; asked {cap.Requested})" }]).ToRpcException(),
        _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome, "not a refusal"),
    };

    public static RpcException Refused(PlanOutcome outcome, string product) => outcome switch
    {
        PlanOutcome.UnknownProduct => RequestValidation.Invalid(
            [new BadRequest.Types.FieldViolation { Field = "product", Description = $"is not a product of the catalog ({product})" }]).ToRpcException(),
        PlanOutcome.NotSubscribed => Error(
            Code.NotFound, $"The account has no subscription to {product}.", "NO_SUBSCRIPTION", new() { ["product"] = product }),
        PlanOutcome.ProductHasNoSeats => Error(
            Code.FailedPrecondition, $"{product} has no seats to plan: every agent of the account may use it.", "PRODUCT_HAS_NO_SEATS", new() { ["product"] = product }),
        _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome, "not a refusal"),
    };

    public static RpcException NotFound(string what, string reason) => Error(Code.NotFound, what, reason, []);

    /// <summary>A service token whose accounts claim does not name the account asked about (whether it exists or not).</summary>
    public static RpcException AccountNotInTokenScope(string accountId, string field) =>
        Error(
            Code.PermissionDenied,
            $"This service token is scoped to other accounts than {accountId} ({field}).",
            "ACCOUNT_NOT_IN_TOKEN_SCOPE",
            new() { ["account_id"] = accountId, ["field"] = field });

    public static RpcException PlatformTokenRequired() =>
        Error(Code.PermissionDenied, "Only a platform service token (no accounts claim) may rotate the entitlement signing key.", "PLATFORM_TOKEN_REQUIRED", []);

    private static string Text(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static RpcException Error(Code code, string message, string reason, Dictionary<string, string> metadata) =>
        Status(code, message, reason, metadata).ToRpcException();

    /// <summary>A status with its ErrorInfo (domain licensebroker.v1): the shape of every refusal the broker answers.</summary>
    internal static Google.Rpc.Status Status(Code code, string message, string reason, Dictionary<string, string> metadata)
    {
        var info = new ErrorInfo { Reason = reason, Domain = Domain };
        info.Metadata.Add(metadata);
        return new Google.Rpc.Status
        {
            Code = (int)code,
            Message = message,
            Details = { Any.Pack(info) },
        };
    }
}
