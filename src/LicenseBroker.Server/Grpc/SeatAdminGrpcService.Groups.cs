using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.Domain.Administration;
using LicenseBroker.Server.Identity;
using Microsoft.AspNetCore.Authorization;

namespace LicenseBroker.Server.Grpc;

/// <summary>Agent groups and their seat rules (reservations and caps of shared seats).</summary>
internal sealed partial class SeatAdminGrpcService
{
    private const int MaxGroupMembers = 10_000;

    [Authorize(Policy = BrokerPolicies.ViewAgents)]
    public override async Task<ListAgentGroupsResponse> ListAgentGroups(ListAgentGroupsRequest request, ServerCallContext context)
    {
        var (accountId, _) = CallerIdentity.Admin(context);
        new RequestValidation()
            .Check(request.GroupId.Length == 0 || RequestValidation.IsId(request.GroupId), "group_id", "must be empty or a group id")
            .ThrowIfInvalid();
        var groups = await _groups.ListGroupsAsync(accountId, request.GroupId.Length == 0 ? null : request.GroupId, context.CancellationToken);
        if (request.GroupId.Length > 0 && groups.Count == 0)
        {
            throw OutcomeStatus.Refused(new GroupOutcome.UnknownGroup());
        }

        var response = new ListAgentGroupsResponse();
        response.Groups.AddRange(groups.Select(g => g.ToProto()));
        return response;
    }

    [Authorize(Policy = BrokerPolicies.ManageUsers)]
    public override async Task<UpsertAgentGroupResponse> UpsertAgentGroup(UpsertAgentGroupRequest request, ServerCallContext context)
    {
        var (accountId, actor) = CallerIdentity.Admin(context);
        var validation = new RequestValidation()
            .Id(request.GroupId, "group_id")
            .Text(request.DisplayName, "display_name")
            .Count(request.MemberIds.Count, MaxGroupMembers, "member_ids")
            .Check(request.ReplaceMembers || request.MemberIds.Count == 0, "member_ids", "is only read with replace_members");
        for (var i = 0; i < Math.Min(request.MemberIds.Count, MaxGroupMembers); i++)
        {
            validation.Id(request.MemberIds[i], $"member_ids[{i}]");
        }

        validation.ThrowIfInvalid();
        var outcome = await _groups.UpsertGroupAsync(
            actor, accountId, request.GroupId, request.DisplayName, request.ReplaceMembers ? request.MemberIds.ToList() : null, context.CancellationToken);
        return outcome is GroupOutcome.Saved saved
            ? new UpsertAgentGroupResponse { Group = saved.Group.ToProto(), Created = saved.Created }
            : throw OutcomeStatus.Refused(outcome);
    }

    [Authorize(Policy = BrokerPolicies.ManageUsers)]
    public override async Task<DeleteAgentGroupResponse> DeleteAgentGroup(DeleteAgentGroupRequest request, ServerCallContext context)
    {
        var (accountId, actor) = CallerIdentity.Admin(context);
        new RequestValidation().Id(request.GroupId, "group_id").ThrowIfInvalid();
        return new DeleteAgentGroupResponse { Deleted = await _groups.DeleteGroupAsync(actor, accountId, request.GroupId, context.CancellationToken) };
    }

    [Authorize(Policy = BrokerPolicies.ManageSeats)]
    public override async Task<SetGroupSeatRuleResponse> SetGroupSeatRule(SetGroupSeatRuleRequest request, ServerCallContext context)
    {
        var (accountId, actor) = CallerIdentity.Admin(context);
        new RequestValidation()
            .Product(request.Product)
            .Id(request.GroupId, "group_id")
            .Limit(request.ReservedSeats, "reserved_seats")
            .Check(!request.HasMaxSeats || (request.MaxSeats >= request.ReservedSeats && request.MaxSeats <= RequestValidation.MaxLimit), "max_seats", "must be between reserved_seats and 1000000 when given")
            .Check(!request.HasOverageMaxSeats || request.OverageMaxSeats is >= 0 and <= RequestValidation.MaxLimit, "overage_max_seats", "must be between 0 and 1000000 when given")
            .Check(Enum.IsDefined(request.QueuePriority), "queue_priority", "must be one of INCIDENT, HIGH, STANDARD, BACKGROUND (or unset)")
            .ThrowIfInvalid();
        var rule = new Domain.Catalog.GroupSeatRule(
            request.Product, request.GroupId, request.ReservedSeats, request.HasMaxSeats ? request.MaxSeats : null, request.HasOverageMaxSeats ? request.OverageMaxSeats : null,
            request.QueuePriority.ToDomain());
        var outcome = await _groups.SetRuleAsync(actor, accountId, rule, context.CancellationToken);
        if (outcome is not GroupRuleOutcome.Saved saved)
        {
            throw OutcomeStatus.Refused(outcome, request.Product);
        }

        var response = new SetGroupSeatRuleResponse { Rule = saved.Rule.ToProto() };
        if (saved.ReservationUnusable)
        {
            response.Warnings.Add(new RuleWarning
            {
                Code = "RESERVATION_UNUSABLE",
                Message = $"{saved.Rule.Reserved} shared seats are kept for group {saved.Rule.GroupId}, but only {saved.MembersWhoMayShare} of its members can take a shared seat of {request.Product} " +
                          "(the others hold named seats or no seat): the rest stay free while others wait. Give its members concurrent seats, or reserve fewer.",
                MembersWhoMayShare = saved.MembersWhoMayShare,
            });
        }

        return response;
    }

    [Authorize(Policy = BrokerPolicies.ManageSeats)]
    public override async Task<RemoveGroupSeatRuleResponse> RemoveGroupSeatRule(RemoveGroupSeatRuleRequest request, ServerCallContext context)
    {
        var (accountId, actor) = CallerIdentity.Admin(context);
        new RequestValidation().Product(request.Product).Id(request.GroupId, "group_id").ThrowIfInvalid();
        return new RemoveGroupSeatRuleResponse { Removed = await _groups.RemoveRuleAsync(actor, accountId, request.Product, request.GroupId, context.CancellationToken) };
    }
}
