using Grpc.Core;
using Grpc.Net.Client;
using LicenseBroker.Contracts.V1;

namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>Who an RPC is for.</summary>
internal enum Audience
{
    Agent,
    ManageSeats,
    ManageUsers,

    /// <summary>ADMIN, or a manager with either privilege.</summary>
    AnyManager,

    /// <summary>ADMIN only.</summary>
    Admin,
    Service,

    /// <summary>No token needed (public keys).</summary>
    Anyone,
}

/// <summary>One RPC of the public contract, with a well-formed request that would change or read state.</summary>
internal sealed record RpcCase(string Name, Audience Audience, Func<GrpcChannel, Metadata, Task> Call);

/// <summary>Every RPC of licensebroker.v1; a test fails if the contract grows an RPC this list lacks.</summary>
internal static class RpcCatalog
{
    public static IReadOnlyList<RpcCase> All(string agentId, string leaseId) =>
    [
        new("SeatService/AcquireSeat", Audience.Agent, async (c, h) => await new SeatService.SeatServiceClient(c).AcquireSeatAsync(
            new AcquireSeatRequest { Product = "remote-support", SessionId = "authz", Device = new Device { Id = "d", Platform = Platform.Mac }, SessionKind = SessionKind.Pending }, h)),
        new("SeatService/Heartbeat", Audience.Agent, async (c, h) => await new SeatService.SeatServiceClient(c).HeartbeatAsync(
            new HeartbeatRequest { Product = "remote-support", LeaseId = leaseId }, h)),
        new("SeatService/ReleaseSeat", Audience.Agent, async (c, h) => await new SeatService.SeatServiceClient(c).ReleaseSeatAsync(
            new ReleaseSeatRequest { Product = "remote-support", LeaseId = leaseId }, h)),
        new("SeatService/WaitForSeat", Audience.Agent, async (c, h) =>
        {
            using var call = new SeatService.SeatServiceClient(c).WaitForSeat(
                new WaitForSeatRequest { Product = "remote-support", SessionId = "authz", Device = new Device { Id = "d", Platform = Platform.Mac }, SessionKind = SessionKind.Pending },
                h, deadline: DateTime.UtcNow.AddSeconds(5));
            await call.ResponseStream.MoveNext(CancellationToken.None);
        }),
        new("SeatService/WatchLease", Audience.Agent, async (c, h) =>
        {
            using var call = new SeatService.SeatServiceClient(c).WatchLease(
                new WatchLeaseRequest { Product = "remote-support", LeaseId = leaseId }, h, deadline: DateTime.UtcNow.AddSeconds(5));
            await call.ResponseStream.MoveNext(CancellationToken.None);
        }),
        new("SeatAdminService/ForceRelease", Audience.ManageSeats, async (c, h) => await Admin(c).ForceReleaseAsync(
            new ForceReleaseRequest { Product = "remote-support", AgentIds = { agentId } }, h)),
        new("SeatAdminService/ListSharedSessions", Audience.ManageSeats, async (c, h) => await Admin(c).ListSharedSessionsAsync(
            new ListSharedSessionsRequest { Product = "remote-support" }, h)),
        new("SeatAdminService/GetSeatUsage", Audience.ManageSeats, async (c, h) => await Admin(c).GetSeatUsageAsync(new GetSeatUsageRequest(), h)),
        new("SeatAdminService/GetUsageHistory", Audience.ManageSeats, async (c, h) => await Admin(c).GetUsageHistoryAsync(
            new GetUsageHistoryRequest { Product = "remote-support", From = "2026-01-01", To = "2026-01-02" }, h)),
        new("SeatAdminService/GetOverageStatement", Audience.ManageSeats, async (c, h) => await Admin(c).GetOverageStatementAsync(
            new GetOverageStatementRequest
            {
                Product = "remote-support",
                From = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)),
                To = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(new DateTimeOffset(2026, 1, 2, 0, 0, 0, TimeSpan.Zero)),
            },
            h)),
        new("SeatAdminService/PlanSeats", Audience.ManageSeats, async (c, h) => await Admin(c).PlanSeatsAsync(
            new PlanSeatsRequest
            {
                Product = "remote-support",
                From = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(-1)),
                To = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow),
            },
            h)),
        new("SeatAdminService/AssignSeat", Audience.ManageSeats, async (c, h) => await Admin(c).AssignSeatAsync(
            new AssignSeatRequest { AgentId = agentId, Product = "remote-support", SeatType = SeatType.Named }, h)),
        new("SeatAdminService/UnassignSeat", Audience.ManageSeats, async (c, h) => await Admin(c).UnassignSeatAsync(
            new UnassignSeatRequest { AgentId = agentId, Product = "remote-support" }, h)),
        new("SeatAdminService/BulkAssignSeats", Audience.ManageSeats, async (c, h) => await Admin(c).BulkAssignSeatsAsync(
            new BulkAssignSeatsRequest { Items = { new BulkAssignItem { AgentId = agentId, Product = "remote-support", SeatType = SeatType.Named } } }, h)),
        new("SeatAdminService/ListAgents", Audience.AnyManager, async (c, h) => await Admin(c).ListAgentsAsync(new ListAgentsRequest(), h)),
        new("SeatAdminService/UpsertAgent", Audience.ManageUsers, async (c, h) => await Admin(c).UpsertAgentAsync(
            new UpsertAgentRequest { AgentId = agentId, Email = "changed@example.test", DisplayName = "Changed", Role = AgentRole.Admin }, h)),
        new("SeatAdminService/GetEventRetention", Audience.Admin, async (c, h) => await Admin(c).GetEventRetentionAsync(new GetEventRetentionRequest(), h)),
        new("SeatAdminService/SetEventRetention", Audience.Admin, async (c, h) => await Admin(c).SetEventRetentionAsync(new SetEventRetentionRequest { RetentionDays = 730 }, h)),
        new("SeatAdminService/EraseAgent", Audience.Admin, async (c, h) => await Admin(c).EraseAgentAsync(new EraseAgentRequest { AgentId = "nobody-to-erase" }, h)),
        new("SeatAdminService/RemoveAgent", Audience.ManageUsers, async (c, h) => await Admin(c).RemoveAgentAsync(new RemoveAgentRequest { AgentId = agentId }, h)),
        new("SeatAdminService/RegisterUnattendedDevice", Audience.ManageSeats, async (c, h) => await Admin(c).RegisterUnattendedDeviceAsync(
            new RegisterUnattendedDeviceRequest { Product = "remote-support", DeviceId = "pc", DisplayName = "PC", Platform = Platform.Windows }, h)),
        new("SeatAdminService/UnregisterUnattendedDevice", Audience.ManageSeats, async (c, h) => await Admin(c).UnregisterUnattendedDeviceAsync(
            new UnregisterUnattendedDeviceRequest { Product = "remote-support", DeviceId = "known-pc" }, h)),
        new("SeatAdminService/ListUnattendedDevices", Audience.ManageSeats, async (c, h) => await Admin(c).ListUnattendedDevicesAsync(
            new ListUnattendedDevicesRequest { Product = "remote-support" }, h)),
        new("SeatAdminService/ListAuditEvents", Audience.Admin, async (c, h) => await Admin(c).ListAuditEventsAsync(new ListAuditEventsRequest(), h)),
        new("SeatAdminService/CreateWebhookEndpoint", Audience.Admin, async (c, h) => await Admin(c).CreateWebhookEndpointAsync(
            new CreateWebhookEndpointRequest { Url = "https://93.184.216.34/hook", EventTypes = { "seat.granted" } }, h)),
        new("SeatAdminService/ListWebhookEndpoints", Audience.Admin, async (c, h) => await Admin(c).ListWebhookEndpointsAsync(new ListWebhookEndpointsRequest(), h)),
        new("SeatAdminService/UpdateWebhookEndpoint", Audience.Admin, async (c, h) => await Admin(c).UpdateWebhookEndpointAsync(
            new UpdateWebhookEndpointRequest { EndpointId = "whe_0123456789abcdef", Url = "https://93.184.216.34/hook", EventTypes = { "seat.granted" } }, h)),
        new("SeatAdminService/DeleteWebhookEndpoint", Audience.Admin, async (c, h) => await Admin(c).DeleteWebhookEndpointAsync(new DeleteWebhookEndpointRequest { EndpointId = "whe_0123456789abcdef" }, h)),
        new("SeatAdminService/RotateWebhookSecret", Audience.Admin, async (c, h) => await Admin(c).RotateWebhookSecretAsync(new RotateWebhookSecretRequest { EndpointId = "whe_0123456789abcdef" }, h)),
        new("SeatAdminService/ListWebhookDeliveries", Audience.Admin, async (c, h) => await Admin(c).ListWebhookDeliveriesAsync(new ListWebhookDeliveriesRequest { EndpointId = "whe_0123456789abcdef" }, h)),
        new("SeatAdminService/ListAgentGroups", Audience.AnyManager, async (c, h) => await Admin(c).ListAgentGroupsAsync(new ListAgentGroupsRequest(), h)),
        new("SeatAdminService/UpsertAgentGroup", Audience.ManageUsers, async (c, h) => await Admin(c).UpsertAgentGroupAsync(
            new UpsertAgentGroupRequest { GroupId = "authz-team", DisplayName = "Authz team", ReplaceMembers = true, MemberIds = { agentId } }, h)),
        new("SeatAdminService/DeleteAgentGroup", Audience.ManageUsers, async (c, h) => await Admin(c).DeleteAgentGroupAsync(new DeleteAgentGroupRequest { GroupId = "authz-team" }, h)),
        new("SeatAdminService/GetMyPreferences", Audience.Agent, async (c, h) => await Admin(c).GetMyPreferencesAsync(new GetMyPreferencesRequest(), h)),
        new("SeatAdminService/SetMyPreferences", Audience.Agent, async (c, h) => await Admin(c).SetMyPreferencesAsync(new SetMyPreferencesRequest { TimeZone = "Europe/Paris" }, h)),
        new("SeatAdminService/SetSessionTimeouts", Audience.ManageSeats, async (c, h) => await Admin(c).SetSessionTimeoutsAsync(
            new SetSessionTimeoutsRequest { Product = "remote-support", PendingTimeoutSeconds = 600, IdleTimeoutSeconds = 0 }, h)),
        new("SeatAdminService/SetGroupSeatRule", Audience.ManageSeats, async (c, h) => await Admin(c).SetGroupSeatRuleAsync(
            new SetGroupSeatRuleRequest { Product = "remote-support", GroupId = "authz-team", ReservedSeats = 1 }, h)),
        new("SeatAdminService/RemoveGroupSeatRule", Audience.ManageSeats, async (c, h) => await Admin(c).RemoveGroupSeatRuleAsync(
            new RemoveGroupSeatRuleRequest { Product = "remote-support", GroupId = "authz-team" }, h)),
        new("SeatAdminService/CreateProvisioningToken", Audience.ManageUsers, async (c, h) => await Admin(c).CreateProvisioningTokenAsync(
            new CreateProvisioningTokenRequest { Name = "Okta" }, h)),
        new("SeatAdminService/ListProvisioningTokens", Audience.ManageUsers, async (c, h) => await Admin(c).ListProvisioningTokensAsync(new ListProvisioningTokensRequest(), h)),
        new("SeatAdminService/RevokeProvisioningToken", Audience.ManageUsers, async (c, h) => await Admin(c).RevokeProvisioningTokenAsync(
            new RevokeProvisioningTokenRequest { TokenId = "pt_0123456789abcdef" }, h)),
        new("SeatAdminService/MapProvisioningGroup", Audience.ManageSeats, async (c, h) => await Admin(c).MapProvisioningGroupAsync(
            new MapProvisioningGroupRequest { GroupName = "Support", Product = "remote-support", SeatType = SeatType.Named }, h)),
        new("SeatAdminService/UnmapProvisioningGroup", Audience.ManageSeats, async (c, h) => await Admin(c).UnmapProvisioningGroupAsync(
            new UnmapProvisioningGroupRequest { GroupName = "Support", Product = "remote-support" }, h)),
        new("SeatAdminService/ListProvisioningGroupMappings", Audience.ManageSeats, async (c, h) => await Admin(c).ListProvisioningGroupMappingsAsync(new ListProvisioningGroupMappingsRequest(), h)),
        new("SeatAdminService/ListProvisioningProblems", Audience.ManageUsers, async (c, h) => await Admin(c).ListProvisioningProblemsAsync(new ListProvisioningProblemsRequest(), h)),
        new("SubscriptionService/UpsertSubscription", Audience.Service, async (c, h) => await new SubscriptionService.SubscriptionServiceClient(c).UpsertSubscriptionAsync(
            new UpsertSubscriptionRequest
            {
                Subscription = new Subscription
                {
                    AccountId = "victim", Product = "remote-support", Plan = Plan.Paid, ValidUntil = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(1)),
                    NamedSeatLimit = 99, ConcurrentSeatLimit = 99,
                },
            },
            h)),
        new("SubscriptionService/GetSubscription", Audience.Service, async (c, h) => await new SubscriptionService.SubscriptionServiceClient(c).GetSubscriptionAsync(
            new GetSubscriptionRequest { AccountId = "victim", Product = "remote-support" }, h)),
        new("EntitlementService/CheckEntitlement", Audience.Service, async (c, h) => await new EntitlementService.EntitlementServiceClient(c).CheckEntitlementAsync(
            new CheckEntitlementRequest { AccountId = "victim", AgentId = agentId, Product = "remote-support" }, h)),
        new("EntitlementService/BatchCheckEntitlements", Audience.Service, async (c, h) => await new EntitlementService.EntitlementServiceClient(c).BatchCheckEntitlementsAsync(
            new BatchCheckEntitlementsRequest { Checks = { new CheckEntitlementRequest { AccountId = "victim", AgentId = agentId, Product = "remote-support" } } }, h)),
        new("EntitlementService/GetEntitlementSnapshot", Audience.Service, async (c, h) => await new EntitlementService.EntitlementServiceClient(c).GetEntitlementSnapshotAsync(
            new GetEntitlementSnapshotRequest { AccountId = "victim" }, h)),
        new("EntitlementService/WatchEntitlements", Audience.Service, async (c, h) =>
        {
            using var call = new EntitlementService.EntitlementServiceClient(c).WatchEntitlements(
                new WatchEntitlementsRequest { AccountId = "victim" }, h, deadline: DateTime.UtcNow.AddSeconds(5));
            await call.ResponseStream.MoveNext(CancellationToken.None);
        }),
        new("EntitlementService/ListEntitlementKeys", Audience.Anyone, async (c, h) => await new EntitlementService.EntitlementServiceClient(c).ListEntitlementKeysAsync(
            new ListEntitlementKeysRequest(), h)),
        new("EntitlementService/RotateEntitlementKey", Audience.Service, async (c, h) => await new EntitlementService.EntitlementServiceClient(c).RotateEntitlementKeyAsync(
            new RotateEntitlementKeyRequest(), h)),
    ];

    /// <summary>Every RPC the generated descriptors declare, as "Service/Method".</summary>
    public static IReadOnlyList<string> Declared() =>
        new[] { SeatService.Descriptor, SeatAdminService.Descriptor, SubscriptionService.Descriptor, EntitlementService.Descriptor }
            .SelectMany(service => service.Methods.Select(m => $"{service.Name}/{m.Name}"))
            .ToList();

    private static SeatAdminService.SeatAdminServiceClient Admin(GrpcChannel channel) => new(channel);
}
