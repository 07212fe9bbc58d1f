using System.Security.Cryptography;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.Domain.Webhooks;
using LicenseBroker.Server.Identity;
using LicenseBroker.Server.Webhooks;
using Microsoft.AspNetCore.Authorization;

namespace LicenseBroker.Server.Grpc;

/// <summary>Webhook endpoints of the account (admin only): they expose every seat event of the account.</summary>
internal sealed partial class SeatAdminGrpcService
{
    [Authorize(Policy = BrokerPolicies.Admin)]
    public override async Task<CreateWebhookEndpointResponse> CreateWebhookEndpoint(CreateWebhookEndpointRequest request, ServerCallContext context)
    {
        var (accountId, actor) = CallerIdentity.Admin(context);
        var settings = await ValidateWebhookAsync(request.Url, request.EventTypes, request.HasThresholdPercent ? request.ThresholdPercent : null, null, context);
        var secret = NewWebhookSecret();
        var endpoint = await Webhooks.CreateAsync(actor, accountId, "whe_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)), settings, secret, context.CancellationToken)
            ?? throw OutcomeStatus.Status(
                Google.Rpc.Code.FailedPrecondition,
                $"The account already has {IWebhookStore.MaxEndpointsPerAccount} webhook endpoints; delete one first.",
                "TOO_MANY_WEBHOOK_ENDPOINTS",
                []).ToRpcException();
        return new CreateWebhookEndpointResponse { Endpoint = endpoint.ToProto(), Secret = secret };
    }

    [Authorize(Policy = BrokerPolicies.Admin)]
    public override async Task<ListWebhookEndpointsResponse> ListWebhookEndpoints(ListWebhookEndpointsRequest request, ServerCallContext context)
    {
        var (accountId, _) = CallerIdentity.Admin(context);
        var response = new ListWebhookEndpointsResponse();
        response.Endpoints.AddRange((await Webhooks.ListAsync(accountId, context.CancellationToken)).Select(e => e.ToProto()));
        return response;
    }

    [Authorize(Policy = BrokerPolicies.Admin)]
    public override async Task<UpdateWebhookEndpointResponse> UpdateWebhookEndpoint(UpdateWebhookEndpointRequest request, ServerCallContext context)
    {
        var (accountId, actor) = CallerIdentity.Admin(context);
        var settings = await ValidateWebhookAsync(
            request.Url, request.EventTypes, request.HasThresholdPercent ? request.ThresholdPercent : null, v => v.EndpointId(request.EndpointId).Check(
                System.Enum.IsDefined(request.State) && request.State != Contracts.V1.WebhookEndpointState.Failing, "state", "must be ACTIVE, DISABLED or unset"),
            context);
        Domain.Webhooks.WebhookEndpointState? state = request.State switch
        {
            Contracts.V1.WebhookEndpointState.Active => Domain.Webhooks.WebhookEndpointState.Active,
            Contracts.V1.WebhookEndpointState.Disabled => Domain.Webhooks.WebhookEndpointState.Disabled,
            _ => null,
        };
        var endpoint = await Webhooks.UpdateAsync(actor, accountId, request.EndpointId, settings, state, context.CancellationToken)
            ?? throw UnknownEndpoint();
        return new UpdateWebhookEndpointResponse { Endpoint = endpoint.ToProto() };
    }

    [Authorize(Policy = BrokerPolicies.Admin)]
    public override async Task<DeleteWebhookEndpointResponse> DeleteWebhookEndpoint(DeleteWebhookEndpointRequest request, ServerCallContext context)
    {
        var (accountId, actor) = CallerIdentity.Admin(context);
        new RequestValidation().EndpointId(request.EndpointId).ThrowIfInvalid();
        return new DeleteWebhookEndpointResponse { Deleted = await Webhooks.DeleteAsync(actor, accountId, request.EndpointId, context.CancellationToken) };
    }

    [Authorize(Policy = BrokerPolicies.Admin)]
    public override async Task<RotateWebhookSecretResponse> RotateWebhookSecret(RotateWebhookSecretRequest request, ServerCallContext context)
    {
        var (accountId, actor) = CallerIdentity.Admin(context);
        new RequestValidation().EndpointId(request.EndpointId).ThrowIfInvalid();
        var secret = NewWebhookSecret();
        var until = Time.GetUtcNow() + WebhookSettings.RotationOverlap;
        return await Webhooks.RotateSecretAsync(actor, accountId, request.EndpointId, secret, until, context.CancellationToken)
            ? new RotateWebhookSecretResponse { Secret = secret, PreviousValidUntil = Timestamp.FromDateTimeOffset(until) }
            : throw UnknownEndpoint();
    }

    [Authorize(Policy = BrokerPolicies.Admin)]
    public override async Task<ListWebhookDeliveriesResponse> ListWebhookDeliveries(ListWebhookDeliveriesRequest request, ServerCallContext context)
    {
        var (accountId, _) = CallerIdentity.Admin(context);
        new RequestValidation().EndpointId(request.EndpointId).Page(request.Page, out var page).ThrowIfInvalid();
        long? before = page.Cursor is null ? null : long.TryParse(page.Cursor, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id) && id > 0 ? id
            : throw RequestValidation.Invalid([new Google.Rpc.BadRequest.Types.FieldViolation { Field = "page.page_token", Description = "must be a token from a previous response" }]).ToRpcException();
        var attempts = await Webhooks.ListDeliveriesAsync(accountId, request.EndpointId, page.Size, before, context.CancellationToken)
            ?? throw UnknownEndpoint();
        var response = new ListWebhookDeliveriesResponse
        {
            NextPageToken = attempts.Count == page.Size ? AdminMapping.EncodePageToken(attempts[^1].Id.ToString(System.Globalization.CultureInfo.InvariantCulture)) : string.Empty,
        };
        response.Deliveries.AddRange(attempts.Select(a => new WebhookDelivery
        {
            MessageId = a.MessageId,
            EventType = a.EventType,
            Attempt = a.Attempt,
            AttemptedAt = Timestamp.FromDateTimeOffset(a.AttemptedAt),
            StatusCode = a.StatusCode ?? 0,
            Error = a.Error ?? string.Empty,
            DurationMs = a.DurationMs,
        }));
        return response;
    }

    /// <summary>Checks an endpoint's settings; the URL is resolved, so an internal address is refused naming "url".</summary>
    private async Task<WebhookEndpointSettings> ValidateWebhookAsync(
        string url, Google.Protobuf.Collections.RepeatedField<string> eventTypes, int? thresholdPercent, Action<RequestValidation>? more, ServerCallContext context)
    {
        var validation = new RequestValidation()
            .Check(eventTypes.Count is >= 1 and <= 10, "event_types", "must hold 1 to 10 event types")
            .Check(thresholdPercent is null or (>= 1 and <= 100), "threshold_percent", "must be between 1 and 100")
            .Check(thresholdPercent is not null || !eventTypes.Contains(WebhookEventTypes.PoolThreshold), "threshold_percent", "is required with pool.threshold");
        for (var i = 0; i < Math.Min(eventTypes.Count, 10); i++)
        {
            validation.Check(WebhookEventTypes.Subscribable.Contains(eventTypes[i]), $"event_types[{i}]", "must be one of " + string.Join(", ", WebhookEventTypes.All) + $" ({WebhookEventTypes.SeatRevokedAlias}: the old name of {WebhookEventTypes.SeatForceReleased}, until 2.0)");
        }

        more?.Invoke(validation);
        if (await Targets.RefusalAsync(url, context.CancellationToken) is { } refusal)
        {
            validation.Check(false, "url", refusal);
        }

        validation.ThrowIfInvalid();
        return new WebhookEndpointSettings(url, eventTypes.Distinct(StringComparer.Ordinal).ToList(), thresholdPercent);
    }

    private static RpcException UnknownEndpoint() => OutcomeStatus.NotFound("No such webhook endpoint in the account.", "UNKNOWN_WEBHOOK_ENDPOINT");

    /// <summary>A Standard Webhooks secret: "whsec_" and 32 random bytes in base64.</summary>
    private static string NewWebhookSecret() => "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
}
