using LicenseBroker.Contracts.V1;
using Microsoft.AspNetCore.Authorization;

namespace LicenseBroker.Server.Grpc;

// Declared and served now so clients can discover them (reflection); every RPC answers
// UNIMPLEMENTED (the generated base classes do) until its issue fills it in.

/// <summary>SeatAdminService: not implemented yet.</summary>
[Authorize]
internal sealed class SeatAdminGrpcService : SeatAdminService.SeatAdminServiceBase;

/// <summary>SubscriptionService: not implemented yet.</summary>
[Authorize]
internal sealed class SubscriptionGrpcService : SubscriptionService.SubscriptionServiceBase;

/// <summary>EntitlementService: not implemented yet.</summary>
[Authorize]
internal sealed class EntitlementGrpcService : EntitlementService.EntitlementServiceBase;
