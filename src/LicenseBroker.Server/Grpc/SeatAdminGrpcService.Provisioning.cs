using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.Domain.Provisioning;
using LicenseBroker.Server.Identity;
using Microsoft.AspNetCore.Authorization;

namespace LicenseBroker.Server.Grpc;

/// <summary>SeatAdminService, provisioning part: SCIM tokens, group-to-seat mappings, problems.</summary>
internal sealed partial class SeatAdminGrpcService
{
    [Authorize(Policy = BrokerPolicies.ManageUsers)]
    public override async Task<CreateProvisioningTokenResponse> CreateProvisioningToken(CreateProvisioningTokenRequest request, ServerCallContext context)
    {
        var (accountId, actor) = CallerIdentity.Admin(context);
        new RequestValidation().Text(request.Name, "name", maxLength: 100).ThrowIfInvalid();
        var (info, secret) = await _provisioning.CreateTokenAsync(actor, accountId, request.Name, context.CancellationToken);
        return new CreateProvisioningTokenResponse { Token = ToProto(info), Secret = secret };
    }

    [Authorize(Policy = BrokerPolicies.ManageUsers)]
    public override async Task<ListProvisioningTokensResponse> ListProvisioningTokens(ListProvisioningTokensRequest request, ServerCallContext context)
    {
        var (accountId, _) = CallerIdentity.Admin(context);
        var response = new ListProvisioningTokensResponse();
        response.Tokens.AddRange((await _provisioning.Store.ListTokensAsync(accountId, context.CancellationToken)).Select(ToProto));
        return response;
    }

    [Authorize(Policy = BrokerPolicies.ManageUsers)]
    public override async Task<RevokeProvisioningTokenResponse> RevokeProvisioningToken(RevokeProvisioningTokenRequest request, ServerCallContext context)
    {
        var (accountId, actor) = CallerIdentity.Admin(context);
        new RequestValidation().Check(TokenIdPattern().IsMatch(request.TokenId), "token_id", "must be a token id (pt_ and 16 hex digits)").ThrowIfInvalid();
        return await _provisioning.Store.RevokeTokenAsync(actor, accountId, request.TokenId, context.CancellationToken)
            ? new RevokeProvisioningTokenResponse()
            : throw OutcomeStatus.NotFound("No such live provisioning token in the account.", "UNKNOWN_TOKEN");
    }

    [Authorize(Policy = BrokerPolicies.ManageSeats)]
    public override async Task<MapProvisioningGroupResponse> MapProvisioningGroup(MapProvisioningGroupRequest request, ServerCallContext context)
    {
        var (accountId, actor) = CallerIdentity.Admin(context);
        new RequestValidation()
            .Text(request.GroupName, "group_name", maxLength: 256)
            .Product(request.Product)
            .Check(request.SeatType is SeatType.Named or SeatType.Concurrent, "seat_type", "must be NAMED or CONCURRENT")
            .ThrowIfInvalid();
        var outcome = await _provisioning.MapGroupAsync(actor, accountId, request.GroupName, request.Product, request.SeatType.ToAssignable()!.Value, context.CancellationToken);
        return outcome switch
        {
            MappingOutcome.Mapped mapped => new MapProvisioningGroupResponse { Mapping = ToProto(mapped.Mapping), SeatsChanged = mapped.Seats.Changed.Count },
            MappingOutcome.UnknownProduct => throw OutcomeStatus.NotFound("No such product.", "UNKNOWN_PRODUCT"),
            _ => throw OutcomeStatus.Refused(new Domain.Administration.AssignOutcome.ProductHasNoSeats(), request.Product),
        };
    }

    [Authorize(Policy = BrokerPolicies.ManageSeats)]
    public override async Task<UnmapProvisioningGroupResponse> UnmapProvisioningGroup(UnmapProvisioningGroupRequest request, ServerCallContext context)
    {
        var (accountId, actor) = CallerIdentity.Admin(context);
        new RequestValidation().Text(request.GroupName, "group_name", maxLength: 256).Product(request.Product).ThrowIfInvalid();
        return await _provisioning.UnmapGroupAsync(actor, accountId, request.GroupName, request.Product, context.CancellationToken)
            ? new UnmapProvisioningGroupResponse()
            : throw OutcomeStatus.NotFound("No such group mapping in the account.", "UNKNOWN_MAPPING");
    }

    [Authorize(Policy = BrokerPolicies.ManageSeats)]
    public override async Task<ListProvisioningGroupMappingsResponse> ListProvisioningGroupMappings(ListProvisioningGroupMappingsRequest request, ServerCallContext context)
    {
        var (accountId, _) = CallerIdentity.Admin(context);
        var response = new ListProvisioningGroupMappingsResponse();
        response.Mappings.AddRange((await _provisioning.Store.ListMappingsAsync(accountId, context.CancellationToken)).Select(ToProto));
        return response;
    }

    [Authorize(Policy = BrokerPolicies.ManageUsers)]
    public override async Task<ListProvisioningProblemsResponse> ListProvisioningProblems(ListProvisioningProblemsRequest request, ServerCallContext context)
    {
        var (accountId, _) = CallerIdentity.Admin(context);
        var response = new ListProvisioningProblemsResponse();
        response.Problems.AddRange((await _provisioning.Store.ListProblemsAsync(accountId, context.CancellationToken)).Select(p => new Contracts.V1.ProvisioningProblem
        {
            AgentId = p.AgentId,
            Product = p.Product,
            Reason = p.Reason,
            Detail = p.Detail,
            FirstSeen = Timestamp.FromDateTimeOffset(p.FirstSeen),
            DisplayName = p.DisplayName ?? string.Empty,
            Email = p.Email ?? string.Empty,
        }));
        return response;
    }

    private static ProvisioningToken ToProto(ProvisioningTokenInfo info)
    {
        var token = new ProvisioningToken { TokenId = info.Id, Name = info.Name, CreatedBy = info.CreatedBy, CreatedAt = Timestamp.FromDateTimeOffset(info.CreatedAt) };
        if (info.LastUsedAt is { } used)
        {
            token.LastUsedAt = Timestamp.FromDateTimeOffset(used);
        }

        if (info.RevokedAt is { } revoked)
        {
            token.RevokedAt = Timestamp.FromDateTimeOffset(revoked);
        }

        return token;
    }

    private static ProvisioningGroupMapping ToProto(GroupSeatMapping mapping) => new()
    {
        GroupName = mapping.GroupName,
        Product = mapping.Product,
        SeatType = mapping.SeatType.ToProto(),
        CreatedAt = Timestamp.FromDateTimeOffset(mapping.CreatedAt),
    };

    [System.Text.RegularExpressions.GeneratedRegex("^pt_[0-9a-f]{16}$")]
    private static partial System.Text.RegularExpressions.Regex TokenIdPattern();
}
