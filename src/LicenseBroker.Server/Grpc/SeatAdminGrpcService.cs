using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.Domain.Administration;
using PoolId = LicenseBroker.Domain.Seats.PoolId;
using LicenseBroker.Server.Identity;
using Microsoft.AspNetCore.Authorization;

namespace LicenseBroker.Server.Grpc;

/// <summary>
/// SeatAdminService: every call acts inside the caller's own account (from the token).
/// Validate, call the administration once, map the outcome.
/// </summary>
// Each method names its own policy (a class-level one would be required in addition, not instead).
internal sealed partial class SeatAdminGrpcService : SeatAdminService.SeatAdminServiceBase
{
    private readonly SeatAdministration _administration;
    private readonly UsageReports _reports;
    private readonly ReportAdmission _admission;
    private readonly Domain.Provisioning.ProvisioningService _provisioning;
    private readonly AgentGroups _groups;
    private readonly Domain.Seats.SeatOptions _seats;

    public SeatAdminGrpcService(
        SeatAdministration administration,
        UsageReports reports,
        ReportAdmission admission,
        Domain.Provisioning.ProvisioningService provisioning,
        AgentGroups groups,
        Domain.Webhooks.IWebhookStore webhooks,
        Webhooks.WebhookTargets targets,
        Webhooks.WebhookOptions webhookSettings,
        Domain.Planning.SeatPlanning planning,
        Domain.Seats.SeatOptions seats,
        TimeProvider time)
    {
        _seats = seats;
        Planning = planning;
        _groups = groups;
        Webhooks = webhooks;
        Targets = targets;
        WebhookSettings = webhookSettings;
        Time = time;
        _admission = admission;
        _provisioning = provisioning;
        _administration = administration;
        _reports = reports;
    }

    private Domain.Webhooks.IWebhookStore Webhooks { get; }

    private Webhooks.WebhookTargets Targets { get; }

    private Webhooks.WebhookOptions WebhookSettings { get; }

    private TimeProvider Time { get; }

    private Domain.Planning.SeatPlanning Planning { get; }

    [Authorize(Policy = BrokerPolicies.ManageSeats)]
    public override async Task<ListSharedSessionsResponse> ListSharedSessions(ListSharedSessionsRequest request, ServerCallContext context)
    {
        var (accountId, _) = CallerIdentity.Admin(context);
        new RequestValidation()
            .Product(request.Product)
            .Page(request.Page, out var page)
            .ThrowIfInvalid();

        var result = await _reports.ListSharedSessionsAsync(new PoolId(accountId, request.Product), page.Cursor, page.Size, context.CancellationToken);
        var response = new ListSharedSessionsResponse
        {
            NextPageToken = AdminMapping.EncodePageToken(result.NextCursor),
            TotalSessions = result.Total,
            SeatsInUse = result.SeatsInUse,
            AgentsWaiting = result.Waiting,
        };
        response.Sessions.AddRange(result.Sessions.Select(s => s.ToProto(request.Product)));
        response.Queue.AddRange((result.Queue ?? []).Select(q => new QueuedAgent
        {
            AgentId = q.Agent.AgentId,
            DisplayName = q.Contact?.DisplayName ?? string.Empty,
            Email = q.Contact?.Email ?? string.Empty,
            Position = q.Agent.Position,
            WaitingSince = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(q.Agent.WaitingSince),
            Priority = q.Agent.Priority.ToProto(),
            WaitDeadline = q.Agent.Deadline is { } deadline ? Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(deadline) : null,
        }));
        return response;
    }

    [Authorize(Policy = BrokerPolicies.ManageSeats)]
    public override async Task<ForceReleaseResponse> ForceRelease(ForceReleaseRequest request, ServerCallContext context)
    {
        var (accountId, actor) = CallerIdentity.Admin(context);
        var validation = new RequestValidation()
            .Product(request.Product)
            .Check(request.LeaseIds.Count + request.AgentIds.Count > 0, "lease_ids", "or agent_ids must name at least one session")
            .Count(request.LeaseIds.Count, RequestValidation.MaxBatch, "lease_ids")
            .Count(request.AgentIds.Count, RequestValidation.MaxBatch, "agent_ids");
        for (var i = 0; i < request.LeaseIds.Count && i < RequestValidation.MaxBatch; i++)
        {
            validation.LeaseId(request.LeaseIds[i], $"lease_ids[{i}]");
        }

        for (var i = 0; i < request.AgentIds.Count && i < RequestValidation.MaxBatch; i++)
        {
            validation.Id(request.AgentIds[i], $"agent_ids[{i}]");
        }

        validation.ThrowIfInvalid();
        var released = await _reports.ForceReleaseAsync(
            new PoolId(accountId, request.Product), actor, request.LeaseIds.Distinct().ToList(), request.AgentIds.Distinct().ToList(), context.CancellationToken);
        if (released.Count > 0)
        {
            await _administration.RememberActorNameAsync(accountId, actor, context.CancellationToken); // the seat events name the admin by id only
        }

        var response = new ForceReleaseResponse();
        response.Released.AddRange(released.Select(s => s.ToProto(request.Product)));
        return response;
    }

    [Authorize(Policy = BrokerPolicies.Agent)]
    public override async Task<AdminPreferences> GetMyPreferences(GetMyPreferencesRequest request, ServerCallContext context)
    {
        var caller = CallerIdentity.Agent(context);
        return new AdminPreferences { TimeZone = await _administration.GetTimeZoneAsync(caller.AccountId, caller.AgentId, context.CancellationToken) ?? string.Empty };
    }

    [Authorize(Policy = BrokerPolicies.Agent)]
    public override async Task<AdminPreferences> SetMyPreferences(SetMyPreferencesRequest request, ServerCallContext context)
    {
        var caller = CallerIdentity.Agent(context);
        new RequestValidation().TimeZone(request.TimeZone, "time_zone").ThrowIfInvalid();
        await _administration.SetTimeZoneAsync(caller.AccountId, caller.AgentId, request.TimeZone.Length == 0 ? null : request.TimeZone, context.CancellationToken);
        return new AdminPreferences { TimeZone = request.TimeZone };
    }

    [Authorize(Policy = BrokerPolicies.ManageSeats)]
    public override async Task<SetSessionTimeoutsResponse> SetSessionTimeouts(SetSessionTimeoutsRequest request, ServerCallContext context)
    {
        var (accountId, actor) = CallerIdentity.Admin(context);
        new RequestValidation()
            .Product(request.Product)
            .IdleTimeout(request.PendingTimeoutSeconds, _seats.MinIdleTimeout, "pending_timeout_seconds")
            .IdleTimeout(request.IdleTimeoutSeconds, _seats.MinIdleTimeout, "idle_timeout_seconds")
            .ThrowIfInvalid();
        var rules = new Domain.Seats.IdleRules(TimeSpan.FromSeconds(request.PendingTimeoutSeconds), TimeSpan.FromSeconds(request.IdleTimeoutSeconds));
        if (!await _administration.SetSessionTimeoutsAsync(actor, accountId, request.Product, rules, context.CancellationToken))
        {
            throw OutcomeStatus.NotFound("The account has no subscription to this product.", "NO_SUBSCRIPTION");
        }

        return new SetSessionTimeoutsResponse { PendingTimeoutSeconds = request.PendingTimeoutSeconds, IdleTimeoutSeconds = request.IdleTimeoutSeconds };
    }

    [Authorize(Policy = BrokerPolicies.ManageSeats)]
    public override async Task<GetSeatUsageResponse> GetSeatUsage(GetSeatUsageRequest request, ServerCallContext context)
    {
        var (accountId, _) = CallerIdentity.Admin(context);
        new RequestValidation()
            .Check(request.Product.Length == 0 || RequestValidation.IsProduct(request.Product), "product", "must be empty or a product code")
            .ThrowIfInvalid();
        var usage = await _reports.GetSeatUsageAsync(accountId, request.Product.Length == 0 ? null : request.Product, context.CancellationToken);
        var response = new GetSeatUsageResponse();
        response.Products.AddRange(usage.Select(u => u.ToProto()));
        return response;
    }

    [Authorize(Policy = BrokerPolicies.ManageSeats)]
    public override async Task<GetUsageHistoryResponse> GetUsageHistory(GetUsageHistoryRequest request, ServerCallContext context)
    {
        var (accountId, _) = CallerIdentity.Admin(context);
        new RequestValidation()
            .Product(request.Product)
            .Date(request.From, "from", out var from)
            .Date(request.To, "to", out var to)
            .Check(to >= from && to.DayNumber - from.DayNumber <= 366, "to", "must be on or after from, at most 366 days later")
            .ThrowIfInvalid();

        using var permit = _admission.TryEnterHistory(accountId) ?? throw OutcomeStatus.ReportsBusy();
        var days = await _reports.GetHistoryAsync(accountId, request.Product, from, to, context.CancellationToken);
        var response = new GetUsageHistoryResponse();
        response.Days.AddRange(days.Select(d => new Contracts.V1.UsageDay
        {
            Day = d.Day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
            PeakConcurrent = d.PeakConcurrent,
            Refused = d.Refused,
            DistinctAgents = d.DistinctAgents,
            QueueJoins = d.QueueJoins,
            QueueAbandoned = d.QueueAbandoned,
            NamedAgents = d.NamedAgents,
        }));
        return response;
    }

    [Authorize(Policy = BrokerPolicies.ManageSeats)]
    public override async Task<GetOverageStatementResponse> GetOverageStatement(GetOverageStatementRequest request, ServerCallContext context)
    {
        var (accountId, _) = CallerIdentity.Admin(context);
        new RequestValidation()
            .Product(request.Product)
            .Check(request.From is not null, "from", "is required")
            .Check(request.To is not null, "to", "is required")
            .Timestamp(request.From, "from", out var from)
            .Timestamp(request.To, "to", out var to)
            .Check(request.From is null || request.To is null || (to > from && to - from <= OverageStatement.MaxRange), "to", "must be after from, at most 400 days later")
            .ThrowIfInvalid();

        using var permit = _admission.TryEnterHistory(accountId) ?? throw OutcomeStatus.ReportsBusy();
        var (days, months) = await _reports.GetOverageStatementAsync(accountId, request.Product, from, to, context.CancellationToken);
        static Contracts.V1.OveragePeriod Map(Domain.Administration.OveragePeriod p) =>
            new() { Period = p.Period, OverageSeatSeconds = p.SeatSeconds, OverageSeatHours = p.SeatHours, PeakOverageSeats = p.PeakSeats };
        var response = new GetOverageStatementResponse();
        response.Days.AddRange(days.Select(Map));
        response.Months.AddRange(months.Select(Map));
        return response;
    }

    [Authorize(Policy = BrokerPolicies.ManageSeats)]
    public override async Task<AssignSeatResponse> AssignSeat(AssignSeatRequest request, ServerCallContext context)
    {
        var (accountId, actor) = CallerIdentity.Admin(context);
        new RequestValidation()
            .Id(request.AgentId, "agent_id")
            .Product(request.Product)
            .Check(request.SeatType is SeatType.Named or SeatType.Concurrent, "seat_type", "must be NAMED or CONCURRENT")
            .ThrowIfInvalid();

        var seatType = request.SeatType.ToAssignable()!.Value;
        var (outcome, wouldEnd) = request.ValidateOnly
            ? await _administration.PreviewAssignSeatAsync(actor, accountId, request.AgentId, request.Product, seatType, context.CancellationToken)
            : (await _administration.AssignSeatAsync(actor, accountId, request.AgentId, request.Product, seatType, context.CancellationToken), []);
        if (outcome is not AssignOutcome.Assigned assigned)
        {
            throw OutcomeStatus.Refused(outcome, request.Product);
        }

        var response = new AssignSeatResponse
        {
            Assignment = new SeatAssignment { Product = request.Product, SeatType = assigned.SeatType.ToProto() },
            Changed = assigned.Changed,
        };
        response.SessionsToEnd.AddRange(SessionsToEnd(wouldEnd, request.Product));
        return response;
    }

    [Authorize(Policy = BrokerPolicies.ManageSeats)]
    public override async Task<UnassignSeatResponse> UnassignSeat(UnassignSeatRequest request, ServerCallContext context)
    {
        var (accountId, actor) = CallerIdentity.Admin(context);
        new RequestValidation().Id(request.AgentId, "agent_id").Product(request.Product).ThrowIfInvalid();
        if (request.ValidateOnly)
        {
            var (removes, wouldEnd) = await _administration.PreviewUnassignSeatAsync(actor, accountId, request.AgentId, request.Product, context.CancellationToken);
            var preview = new UnassignSeatResponse { Removed = removes };
            preview.SessionsToEnd.AddRange(SessionsToEnd(wouldEnd, request.Product));
            return preview;
        }

        var result = await _administration.UnassignSeatAsync(actor, accountId, request.AgentId, request.Product, context.CancellationToken);
        return new UnassignSeatResponse { Removed = result.Removed, LeasesEnded = result.LeasesEnded };
    }

    [Authorize(Policy = BrokerPolicies.ManageSeats)]
    public override async Task<BulkAssignSeatsResponse> BulkAssignSeats(BulkAssignSeatsRequest request, ServerCallContext context)
    {
        var (accountId, actor) = CallerIdentity.Admin(context);
        var validation = new RequestValidation()
            .Check(request.Items.Count > 0, "items", "must hold at least one item")
            .Count(request.Items.Count, RequestValidation.MaxBatch, "items");
        for (var i = 0; i < request.Items.Count && i < RequestValidation.MaxBatch; i++)
        {
            var item = request.Items[i];
            validation
                .Id(item.AgentId, $"items[{i}].agent_id")
                .Product(item.Product, $"items[{i}].product")
                .Check(item.SeatType is SeatType.Named or SeatType.Concurrent or SeatType.Unspecified, $"items[{i}].seat_type", "must be NAMED, CONCURRENT, or UNSPECIFIED to remove");
        }

        validation.ThrowIfInvalid();
        var items = request.Items.Select(i => new Domain.Administration.BulkAssignItem(i.AgentId, i.Product, i.SeatType.ToAssignable())).ToList();
        var results = await _administration.BulkAssignAsync(actor, accountId, items, request.AllOrNothing, context.CancellationToken);

        var response = new BulkAssignSeatsResponse { Committed = !request.AllOrNothing || results.All(r => !r.Aborted) };
        foreach (var result in results)
        {
            var status = result.Outcome is null ? null : OutcomeStatus.Describe(result.Outcome, items[result.Index].Product);
            response.Results.Add(new BulkAssignResult
            {
                Index = result.Index,
                Code = result.Aborted && status is null ? (int)StatusCode.Aborted : status?.Code ?? (int)StatusCode.OK,
                Reason = result.Aborted && status is null ? "BATCH_ABORTED" : status?.Details.Count > 0 ? status.Details[0].Unpack<Google.Rpc.ErrorInfo>().Reason : string.Empty,
                Message = result.Aborted && status is null ? "Not applied: another item of this all-or-nothing batch failed." : status?.Message ?? string.Empty,
                Changed = !result.Aborted && (result.Removed || result.Outcome is AssignOutcome.Assigned { Changed: true }),
            });
        }

        return response;
    }

    [Authorize(Policy = BrokerPolicies.ManageUsers)]
    public override async Task<UpsertAgentResponse> UpsertAgent(UpsertAgentRequest request, ServerCallContext context)
    {
        var (accountId, actor) = CallerIdentity.Admin(context);
        var validation = new RequestValidation()
            .Id(request.AgentId, "agent_id")
            .Email(request.Email)
            .Text(request.DisplayName, "display_name")
            .Defined(request.Role, "role")
            .Count(request.Privileges.Count, 2, "privileges");
        for (var i = 0; i < request.Privileges.Count; i++)
        {
            validation.Defined(request.Privileges[i], $"privileges[{i}]");
        }

        validation.ThrowIfInvalid();
        var outcome = await _administration.UpsertAgentAsync(actor, accountId, request.ToDomain(), context.CancellationToken);
        return outcome is AgentOutcome.Saved saved
            ? new UpsertAgentResponse { Agent = saved.Agent.ToProto(), Created = saved.Created }
            : throw OutcomeStatus.Refused(outcome);
    }

    [Authorize(Policy = BrokerPolicies.ManageUsers)]
    public override async Task<RemoveAgentResponse> RemoveAgent(RemoveAgentRequest request, ServerCallContext context)
    {
        var (accountId, actor) = CallerIdentity.Admin(context);
        new RequestValidation().Id(request.AgentId, "agent_id").ThrowIfInvalid();
        if (request.ValidateOnly)
        {
            var (removes, wouldEnd) = await _administration.PreviewRemoveAgentAsync(accountId, request.AgentId, context.CancellationToken);
            var preview = new RemoveAgentResponse { Removed = removes };
            foreach (var group in wouldEnd.GroupBy(s => s.Product, StringComparer.Ordinal))
            {
                preview.SessionsToEnd.AddRange(SessionsToEnd(group.Select(s => s.Lease).ToList(), group.Key));
            }

            return preview;
        }

        var result = await _administration.RemoveAgentAsync(actor, accountId, request.AgentId, context.CancellationToken);
        return new RemoveAgentResponse { Removed = result.Removed, LeasesEnded = result.LeasesEnded };
    }

    [Authorize(Policy = BrokerPolicies.Admin)]
    public override async Task<EraseAgentResponse> EraseAgent(EraseAgentRequest request, ServerCallContext context)
    {
        var (accountId, actor) = CallerIdentity.Admin(context);
        new RequestValidation().Id(request.AgentId, "agent_id").ThrowIfInvalid();
        var result = await _administration.EraseAgentAsync(actor, accountId, request.AgentId, context.CancellationToken)
            ?? throw OutcomeStatus.NotFound("No such agent in the account.", "UNKNOWN_AGENT");
        return new EraseAgentResponse { ErasedId = result.Erased.ErasedId, LeasesEnded = result.LeasesEnded, EventsRewritten = result.Erased.EventsRewritten };
    }

    [Authorize(Policy = BrokerPolicies.Admin)]
    public override async Task<EventRetention> GetEventRetention(GetEventRetentionRequest request, ServerCallContext context)
    {
        var (accountId, _) = CallerIdentity.Admin(context);
        return RetentionReply(await _administration.GetEventRetentionAsync(accountId, context.CancellationToken));
    }

    [Authorize(Policy = BrokerPolicies.Admin)]
    public override async Task<EventRetention> SetEventRetention(SetEventRetentionRequest request, ServerCallContext context)
    {
        var (accountId, actor) = CallerIdentity.Admin(context);
        new RequestValidation()
            .Check(Domain.Administration.EventRetentionClasses.IsAllowed(request.RetentionDays), "retention_days",
                $"must be one of {string.Join(", ", Domain.Administration.EventRetentionClasses.AllowedDays)} (days)")
            .ThrowIfInvalid();
        await _administration.SetEventRetentionAsync(actor, accountId, request.RetentionDays, context.CancellationToken);
        return RetentionReply(request.RetentionDays);
    }

    private static EventRetention RetentionReply(int days)
    {
        var reply = new EventRetention { RetentionDays = days };
        reply.AllowedDays.AddRange(Domain.Administration.EventRetentionClasses.AllowedDays);
        return reply;
    }

    [Authorize(Policy = BrokerPolicies.ViewAgents)]
    public override async Task<ListAgentsResponse> ListAgents(ListAgentsRequest request, ServerCallContext context)
    {
        var (accountId, _) = CallerIdentity.Admin(context);
        new RequestValidation()
            .Check(request.Product.Length == 0 || RequestValidation.IsProduct(request.Product), "product", "must be empty or a product code")
            .Check(request.SeatFilter == Contracts.V1.SeatFilter.Unspecified || request.Product.Length > 0, "seat_filter", "needs a product")
            .Check(Enum.IsDefined(request.SeatFilter), "seat_filter", "must be a known filter")
            .Check(request.Query.Length <= 100 && !request.Query.Any(char.IsControl), "query", "must be at most 100 printable characters")
            .Page(request.Page, out var page)
            .ThrowIfInvalid();

        var result = await _administration.ListAgentsAsync(
            accountId,
            request.Product.Length == 0 ? null : request.Product,
            request.SeatFilter.ToDomain(),
            request.Query.Trim(),
            page.Size,
            page.Cursor,
            context.CancellationToken);
        var response = new ListAgentsResponse { NextPageToken = AdminMapping.EncodePageToken(result.NextAfter) };
        response.Agents.AddRange(result.Agents.Select(a => a.ToProto()));
        return response;
    }

    [Authorize(Policy = BrokerPolicies.ManageSeats)]
    public override async Task<RegisterUnattendedDeviceResponse> RegisterUnattendedDevice(RegisterUnattendedDeviceRequest request, ServerCallContext context)
    {
        var (accountId, actor) = CallerIdentity.Admin(context);
        new RequestValidation()
            .Product(request.Product)
            .Id(request.DeviceId, "device_id")
            .Text(request.DisplayName, "display_name")
            .Defined(request.Platform, "platform")
            .ThrowIfInvalid();

        var outcome = await _administration.RegisterDeviceAsync(
            actor,
            accountId,
            request.Product,
            new DeviceRegistration(request.DeviceId, request.DisplayName, new Device { Id = request.DeviceId, Platform = request.Platform }.ToDomain().Platform),
            context.CancellationToken);
        return outcome is DeviceOutcome.Registered registered
            ? new RegisterUnattendedDeviceResponse { DevicesInUse = registered.InUse, DeviceLimit = registered.Limit ?? -1 }
            : throw OutcomeStatus.Refused(outcome, request.Product);
    }

    [Authorize(Policy = BrokerPolicies.ManageSeats)]
    public override async Task<UnregisterUnattendedDeviceResponse> UnregisterUnattendedDevice(UnregisterUnattendedDeviceRequest request, ServerCallContext context)
    {
        var (accountId, actor) = CallerIdentity.Admin(context);
        new RequestValidation().Product(request.Product).Id(request.DeviceId, "device_id").ThrowIfInvalid();
        var removed = await _administration.UnregisterDeviceAsync(actor, accountId, request.Product, request.DeviceId, context.CancellationToken);
        return new UnregisterUnattendedDeviceResponse { Removed = removed };
    }

    [Authorize(Policy = BrokerPolicies.ManageSeats)]
    public override async Task<ListUnattendedDevicesResponse> ListUnattendedDevices(ListUnattendedDevicesRequest request, ServerCallContext context)
    {
        var (accountId, _) = CallerIdentity.Admin(context);
        new RequestValidation().Product(request.Product).Page(request.Page, out var page).ThrowIfInvalid();
        var result = await _administration.ListDevicesAsync(accountId, request.Product, page.Size, page.Cursor, context.CancellationToken)
            ?? throw OutcomeStatus.NoActiveSubscription(request.Product);
        var response = new ListUnattendedDevicesResponse
        {
            NextPageToken = AdminMapping.EncodePageToken(result.NextAfter),
            DevicesInUse = result.InUse,
            DeviceLimit = result.Limit ?? -1,
        };
        response.Devices.AddRange(result.Devices.Select(d => d.ToProto()));
        return response;
    }

    [Authorize(Policy = BrokerPolicies.Admin)]
    public override async Task<ListAuditEventsResponse> ListAuditEvents(ListAuditEventsRequest request, ServerCallContext context)
    {
        var (accountId, _) = CallerIdentity.Admin(context);
        var validation = new RequestValidation()
            .Check(request.Product.Length == 0 || RequestValidation.IsProduct(request.Product), "product", "must be empty or a product code")
            .Count(request.Actions.Count, 20, "actions");
        for (var i = 0; i < request.Actions.Count && i < 20; i++)
        {
            validation.Check(RequestValidation.IsAuditAction(request.Actions[i]), $"actions[{i}]", "must be a category such as \"seat\" or an action such as \"seat.refused\"");
        }

        DateTimeOffset? from = null, to = null;
        if (request.From is not null)
        {
            validation.Timestamp(request.From, "from", out var at);
            from = at;
        }

        if (request.To is not null)
        {
            validation.Timestamp(request.To, "to", out var at);
            to = at;
        }

        if (request.AgentId.Length > 0)
        {
            validation.Id(request.AgentId, "agent_id");
        }

        validation
            .Check(from is null || to is null || to >= from, "to", "must be at or after from")
            .Page(request.Page, out var page);
        long before = 0;
        validation
            .Check(page.Cursor is null || (long.TryParse(page.Cursor, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out before) && before > 0), "page.page_token", "must be a token from a previous response")
            .ThrowIfInvalid();

        var query = new AuditQuery(
            request.Product.Length == 0 ? null : request.Product,
            request.Actions.Where(a => !a.Contains('.', StringComparison.Ordinal)).Distinct().ToList(),
            request.Actions.Where(a => a.Contains('.', StringComparison.Ordinal)).Distinct().ToList(),
            from,
            to,
            page.Cursor is null ? null : before,
            page.Size)
        {
            AgentId = request.AgentId.Length == 0 ? null : request.AgentId,
        };
        var result = await _administration.ListAuditEventsAsync(accountId, query, context.CancellationToken);
        var response = new ListAuditEventsResponse
        {
            NextPageToken = AdminMapping.EncodePageToken(result.NextBefore?.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        };
        response.Events.AddRange(result.Events.Select(e => e.ToProto()));
        return response;
    }

    /// <summary>The live sessions a seat change would end, as the previews report them (no contact details: the caller knows the agent).</summary>
    private static IEnumerable<Contracts.V1.SharedSession> SessionsToEnd(IReadOnlyList<Domain.Seats.LeaseView> leases, string product) =>
        leases.Select(lease => new Domain.Administration.SharedSession(lease, null).ToProto(product));
}
