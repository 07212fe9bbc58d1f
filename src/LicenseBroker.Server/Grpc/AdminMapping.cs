using System.Buffers.Text;
using System.Text;
using Google.Protobuf.WellKnownTypes;
using LicenseBroker.Domain.Administration;
using LicenseBroker.Domain.Catalog;
using V1 = LicenseBroker.Contracts.V1;
using Domain = LicenseBroker.Domain;

namespace LicenseBroker.Server.Grpc;

/// <summary>Conversions of the admin and subscription contract.</summary>
internal static class AdminMapping
{
    public static V1.Subscription ToProto(this SubscriptionRecord s)
    {
        var proto = new V1.Subscription
        {
            AccountId = s.AccountId,
            Product = s.Product,
            Plan = s.Plan == Plan.Paid ? V1.Plan.Paid : V1.Plan.Trial,
            ValidUntil = Timestamp.FromDateTimeOffset(s.ValidUntil),
            NamedSeatLimit = s.NamedSeatLimit,
            ConcurrentSeatLimit = s.ConcurrentSeatLimit,
            UnattendedDeviceLimit = s.UnattendedDeviceLimit,
            PendingTimeoutSeconds = (int)s.IdleRules.PendingTimeout.TotalSeconds,
            IdleTimeoutSeconds = (int)s.IdleRules.IdleTimeout.TotalSeconds,
            DisplayName = s.DisplayName ?? string.Empty,
            ReviveWindowSeconds = (int)(s.ReviveWindow ?? Domain.Seats.LeaseRecovery.Default.ReviveWindow).TotalSeconds,
            OutageGraceSeconds = (int)(s.OutageGrace ?? Domain.Seats.LeaseRecovery.Default.OutageGrace).TotalSeconds,
            OverageMode = (s.OverageMode ?? Domain.Seats.OverageMode.None) switch
            {
                Domain.Seats.OverageMode.Alert => V1.OverageMode.Alert,
                Domain.Seats.OverageMode.Burst => V1.OverageMode.Burst,
                _ => V1.OverageMode.None,
            },
            OverageSeats = s.OverageSeats ?? 0,
            OveragePercent = s.OveragePercent ?? 0,
            QueueMaxWaiters = s.QueueMaxWaiters ?? 0,
            QueueMaxWaitSeconds = s.QueueMaxWaitSeconds ?? 0,
            QueueAgeStepSeconds = s.QueueAgeStepSeconds ?? 0,
        };
        if (s.MonitoredDeviceLimit is { } monitored)
        {
            proto.MonitoredDeviceLimit = monitored;
        }

        return proto;
    }

    public static SubscriptionRecord ToDomain(this V1.Subscription s) => new(
        s.AccountId,
        s.Product,
        s.Plan == V1.Plan.Paid ? Plan.Paid : Plan.Trial,
        s.ValidUntil.ToDateTimeOffset(),
        s.NamedSeatLimit,
        s.ConcurrentSeatLimit,
        s.UnattendedDeviceLimit,
        s.HasMonitoredDeviceLimit ? s.MonitoredDeviceLimit : null)
    {
        IdleRules = new Domain.Seats.IdleRules(TimeSpan.FromSeconds(s.PendingTimeoutSeconds), TimeSpan.FromSeconds(s.IdleTimeoutSeconds)),
        DisplayName = s.DisplayName.Length == 0 ? null : s.DisplayName.Trim(),
        ReviveWindow = s.HasReviveWindowSeconds ? TimeSpan.FromSeconds(s.ReviveWindowSeconds) : null,
        OutageGrace = s.HasOutageGraceSeconds ? TimeSpan.FromSeconds(s.OutageGraceSeconds) : null,
        OverageMode = !s.HasOverageMode ? null : s.OverageMode switch
        {
            V1.OverageMode.Alert => Domain.Seats.OverageMode.Alert,
            V1.OverageMode.Burst => Domain.Seats.OverageMode.Burst,
            _ => Domain.Seats.OverageMode.None,
        },
        OverageSeats = s.HasOverageSeats ? s.OverageSeats : null,
        OveragePercent = s.HasOveragePercent ? s.OveragePercent : null,
        QueueMaxWaiters = s.HasQueueMaxWaiters ? s.QueueMaxWaiters : null,
        QueueMaxWaitSeconds = s.HasQueueMaxWaitSeconds ? s.QueueMaxWaitSeconds : null,
        QueueAgeStepSeconds = s.HasQueueAgeStepSeconds ? s.QueueAgeStepSeconds : null,
    };

    public static V1.Agent ToProto(this AgentRecord a)
    {
        var proto = new V1.Agent
        {
            AgentId = a.AgentId,
            Email = a.Email,
            DisplayName = a.DisplayName,
            Role = a.Role switch
            {
                AgentRole.Admin => V1.AgentRole.Admin,
                AgentRole.Manager => V1.AgentRole.Manager,
                _ => V1.AgentRole.Member,
            },
        };
        proto.Privileges.AddRange(a.Privileges.Select(p => p == Privilege.ManageUsers ? V1.Privilege.ManageUsers : V1.Privilege.ManageSeats));
        proto.Seats.AddRange(a.Seats.Select(s => new V1.SeatAssignment { Product = s.Product, SeatType = s.SeatType.ToProto() }));
        return proto;
    }

    public static AgentRecord ToDomain(this V1.UpsertAgentRequest r) => new(
        r.AgentId,
        r.Email,
        r.DisplayName,
        r.Role switch
        {
            V1.AgentRole.Admin => AgentRole.Admin,
            V1.AgentRole.Manager => AgentRole.Manager,
            _ => AgentRole.Member,
        },
        r.Privileges.Select(p => p == V1.Privilege.ManageUsers ? Privilege.ManageUsers : Privilege.ManageSeats).Distinct().ToList(),
        []);

    /// <summary>The one mapping of seat types to the contract; a value this version does not know is a bug, not a guess.</summary>
    public static V1.SeatType ToProto(this Domain.Seats.SeatType seatType) => seatType switch
    {
        Domain.Seats.SeatType.Named => V1.SeatType.Named,
        Domain.Seats.SeatType.Concurrent => V1.SeatType.Concurrent,
        Domain.Seats.SeatType.Unlimited => V1.SeatType.Unlimited,
        _ => throw new ArgumentOutOfRangeException(nameof(seatType), seatType, "unknown seat type"),
    };

    /// <summary>NAMED or CONCURRENT (validated before); anything else means "no seat".</summary>
    public static Domain.Seats.SeatType? ToAssignable(this V1.SeatType seatType) => seatType switch
    {
        V1.SeatType.Named => Domain.Seats.SeatType.Named,
        V1.SeatType.Concurrent => Domain.Seats.SeatType.Concurrent,
        _ => null,
    };

    public static SeatFilter ToDomain(this V1.SeatFilter filter) => filter switch
    {
        V1.SeatFilter.Named => SeatFilter.Named,
        V1.SeatFilter.Concurrent => SeatFilter.Concurrent,
        V1.SeatFilter.None => SeatFilter.None,
        _ => SeatFilter.Any,
    };

    public static V1.SharedSession ToProto(this SharedSession session, string product) => new()
    {
        LeaseId = session.Lease.LeaseId,
        AgentId = session.Lease.AgentId,
        DisplayName = session.Agent?.DisplayName ?? string.Empty,
        Email = session.Agent?.Email ?? string.Empty,
        Device = new V1.Device { Id = session.Lease.Device.DeviceId, Platform = session.Lease.Device.Platform.ToProto() },
        SessionKind = session.Lease.SessionKind.ToProto(),
        StartedAt = Timestamp.FromDateTimeOffset(session.Lease.StartedAt),
        LastHeartbeatAt = Timestamp.FromDateTimeOffset(session.Lease.LastHeartbeatAt),
        ExpiresAt = Timestamp.FromDateTimeOffset(session.Lease.ExpiresAt),
        Product = product,
        GroupId = session.Lease.SeatGroup ?? string.Empty,
        OnReservedSeat = session.Lease.OnReservedSeat,
        Overage = session.Lease.Overage,
    };

    public static V1.GroupSeatRule ToProto(this GroupSeatRule rule)
    {
        var proto = new V1.GroupSeatRule { Product = rule.Product, GroupId = rule.GroupId, ReservedSeats = rule.Reserved };
        if (rule.Max is { } max)
        {
            proto.MaxSeats = max;
        }

        if (rule.OverageMax is { } overageMax)
        {
            proto.OverageMaxSeats = overageMax;
        }

        proto.QueuePriority = rule.Priority is { } priority ? priority.ToProto() : V1.QueuePriority.Unspecified;
        return proto;
    }

    public static V1.WebhookEndpoint ToProto(this Domain.Webhooks.WebhookEndpoint endpoint)
    {
        var proto = new V1.WebhookEndpoint
        {
            EndpointId = endpoint.EndpointId,
            Url = endpoint.Url,
            State = endpoint.State switch
            {
                Domain.Webhooks.WebhookEndpointState.Active => V1.WebhookEndpointState.Active,
                Domain.Webhooks.WebhookEndpointState.Failing => V1.WebhookEndpointState.Failing,
                _ => V1.WebhookEndpointState.Disabled,
            },
            CreatedAt = Timestamp.FromDateTimeOffset(endpoint.CreatedAt),
            PendingMessages = endpoint.Pending,
        };
        proto.EventTypes.AddRange(endpoint.EventTypes);
        if (endpoint.ThresholdPercent is { } threshold)
        {
            proto.ThresholdPercent = threshold;
        }

        return proto;
    }

    public static V1.AgentGroup ToProto(this AgentGroupRecord group)
    {
        var proto = new V1.AgentGroup { GroupId = group.GroupId, DisplayName = group.DisplayName, MemberCount = group.MemberCount };
        proto.Rules.AddRange(group.Rules.Select(r => r.ToProto()));
        proto.MemberIds.AddRange(group.Members ?? []);
        return proto;
    }

    public static V1.ProductSeatUsage ToProto(this ProductUsage usage)
    {
        var proto = usage.ToProtoWithoutGroups();
        proto.Groups.AddRange(usage.Groups.Select(g =>
        {
            var group = new V1.GroupSeatUsage
            {
                GroupId = g.Rule.GroupId,
                DisplayName = g.DisplayName,
                ReservedSeats = g.Rule.Reserved,
                Holding = g.Live.Holding,
                OnReservedSeats = g.Live.OnReservedSeats,
                Waiting = g.Live.Waiting,
            };
            if (g.Rule.Max is { } max)
            {
                group.MaxSeats = max;
            }

            return group;
        }));
        return proto;
    }

    private static V1.ProductSeatUsage ToProtoWithoutGroups(this ProductUsage usage) => new()
    {
        Product = usage.Durable.Product,
        NamedSeatsAssigned = usage.Durable.NamedSeatsAssigned,
        NamedSeatLimit = usage.Durable.NamedSeatLimit,
        ConcurrentSeatsInUse = usage.Live.SeatsInUse,
        ConcurrentSeatLimit = usage.Durable.ConcurrentSeatLimit,
        ConcurrentEligibleAgents = usage.Durable.ConcurrentEligibleAgents,
        UnattendedDevicesInUse = usage.Durable.UnattendedDevicesInUse,
        UnattendedDeviceLimit = usage.Durable.UnattendedDeviceLimit,
        MonitoredDevices = usage.Durable.MonitoredDevices,
        ConcurrentPeakToday = usage.PeakToday,
        RefusalsToday = usage.RefusedToday,
        AgentsWaiting = usage.Live.Waiting,
        SeatsReclaimedToday = usage.Live.ReclaimedToday,
        PendingTimeoutSeconds = usage.Durable.PendingTimeoutSeconds,
        IdleTimeoutSeconds = usage.Durable.IdleTimeoutSeconds,
        Plan = usage.Durable.Plan == "PAID" ? V1.Plan.Paid : V1.Plan.Trial,
        ValidUntil = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTime(DateTime.SpecifyKind(usage.Durable.ValidUntil, DateTimeKind.Utc)),
        DisplayName = usage.Durable.Name,
        Unlimited = usage.Durable.Unlimited,
        RecoveringUntil = usage.Live.RecoveringUntil is { } until ? Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(until) : null,
        OverageSeatsInUse = usage.Live.OverageSeats,
    };

    public static V1.UnattendedDevice ToProto(this DeviceRecord device) => new()
    {
        DeviceId = device.DeviceId,
        DisplayName = device.DisplayName,
        Platform = device.Platform.ToProto(),
        RegisteredAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(device.RegisteredAt),
    };

    public static V1.AuditEvent ToProto(this AuditEntry entry) => new()
    {
        EventId = entry.Id,
        OccurredAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(entry.OccurredAt),
        Product = entry.Product ?? string.Empty,
        Actor = entry.Actor,
        Action = entry.Action,
        Subject = entry.Subject ?? string.Empty,
        BeforeJson = entry.BeforeJson ?? string.Empty,
        AfterJson = entry.AfterJson ?? string.Empty,
        ActorName = entry.ActorName ?? string.Empty,
        SubjectName = entry.SubjectName ?? string.Empty,
    };

    /// <summary>Page tokens are the last id of the previous page, opaque to clients.</summary>
    public static string EncodePageToken(string? after) =>
        after is null ? string.Empty : Base64Url.EncodeToString(Encoding.UTF8.GetBytes(after));

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static string? DecodePageToken(string token)
    {
        if (token.Length == 0)
        {
            return null;
        }

        try
        {
            return StrictUtf8.GetString(Base64Url.DecodeFromChars(token));
        }
        catch (Exception ex) when (ex is FormatException or DecoderFallbackException)
        {
            return string.Empty;
        }
    }
}
