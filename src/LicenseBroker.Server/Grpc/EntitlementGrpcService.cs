using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Server.Identity;
using Microsoft.AspNetCore.Authorization;

namespace LicenseBroker.Server.Grpc;

/// <summary>EntitlementService (other backends, service scope): answered from the cached catalog.</summary>
[Authorize(Policy = BrokerPolicies.Service)]
internal sealed class EntitlementGrpcService : EntitlementService.EntitlementServiceBase
{
    private readonly EntitlementChecker _checker;

    public EntitlementGrpcService(EntitlementChecker checker)
    {
        _checker = checker;
    }

    public override async Task<CheckEntitlementResponse> CheckEntitlement(CheckEntitlementRequest request, ServerCallContext context)
    {
        var validation = new RequestValidation();
        Validate(validation, request, string.Empty);
        validation.ThrowIfInvalid();
        var result = await _checker.CheckAsync([ToQuery(request)], context.CancellationToken);
        return ToProto(result[0]);
    }

    public override async Task<BatchCheckEntitlementsResponse> BatchCheckEntitlements(BatchCheckEntitlementsRequest request, ServerCallContext context)
    {
        var validation = new RequestValidation()
            .Check(request.Checks.Count > 0, "checks", "must hold at least one check")
            .Count(request.Checks.Count, RequestValidation.MaxBatch, "checks");
        for (var i = 0; i < request.Checks.Count && i < RequestValidation.MaxBatch; i++)
        {
            Validate(validation, request.Checks[i], $"checks[{i}].");
        }

        validation.ThrowIfInvalid();
        var results = await _checker.CheckAsync(request.Checks.Select(ToQuery).ToList(), context.CancellationToken);
        var response = new BatchCheckEntitlementsResponse();
        response.Results.AddRange(results.Select(ToProto));
        return response;
    }

    private static void Validate(RequestValidation validation, CheckEntitlementRequest check, string prefix) =>
        validation.Id(check.AccountId, prefix + "account_id").Id(check.AgentId, prefix + "agent_id").Product(check.Product, prefix + "product");

    private static EntitlementQuery ToQuery(CheckEntitlementRequest check) => new(check.AccountId, check.AgentId, check.Product);

    private static CheckEntitlementResponse ToProto(Entitlement entitlement) => new()
    {
        AccountId = entitlement.Query.AccountId,
        AgentId = entitlement.Query.AgentId,
        Product = entitlement.Query.Product,
        Status = entitlement.Status switch
        {
            Domain.Seats.EntitlementStatus.Entitled => Contracts.V1.EntitlementStatus.Entitled,
            Domain.Seats.EntitlementStatus.NoActiveSubscription => Contracts.V1.EntitlementStatus.NoActiveSubscription,
            Domain.Seats.EntitlementStatus.NoSeatAssigned => Contracts.V1.EntitlementStatus.NoSeatAssigned,
            _ => Contracts.V1.EntitlementStatus.UnknownAgent,
        },
        SeatType = entitlement.SeatType?.ToProto() ?? Contracts.V1.SeatType.Unspecified,
        HasLiveLease = entitlement.HasLiveLease,
    };
}
