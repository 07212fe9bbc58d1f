using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;

namespace LicenseBroker.Server.Identity;

/// <summary>
/// Who may call what, in one place. Every gRPC method names one of these policies:
/// <list type="bullet">
/// <item><see cref="Agent"/>: any agent of an account (sub + account claim) — SeatService, for themselves only.</item>
/// <item><see cref="ManageSeats"/>: role ADMIN, or privilege MANAGE_SEATS — seats, sessions, devices, usage.</item>
/// <item><see cref="ManageUsers"/>: role ADMIN, or privilege MANAGE_USERS — agents.</item>
/// <item><see cref="ViewAgents"/>: role ADMIN, or either privilege — listing agents, which both kinds of manager need.</item>
/// <item><see cref="Admin"/>: role ADMIN — the audit log.</item>
/// <item><see cref="Service"/>: scope <c>licensebroker.service</c> — SubscriptionService, EntitlementService;
/// with Auth:RequireClientCertificateForServices, also a client certificate from the configured CA (mTLS).</item>
/// </list>
/// Roles and privileges are read from the token, as the identity provider issued them.
/// </summary>
public static class BrokerPolicies
{
    public const string Agent = "agent";
    public const string ManageSeats = "manage-seats";
    public const string ManageUsers = "manage-users";
    public const string ViewAgents = "view-agents";
    public const string Admin = "admin";
    public const string Service = "service";

    public const string RoleClaim = "role";
    public const string PrivilegesClaim = "privileges";
    public const string ScopeClaim = "scope";
    public const string ServiceScope = "licensebroker.service";

    public static void Add(AuthorizationOptions options, string accountClaim, bool requireClientCertificateForServices = false)
    {
        options.AddPolicy(Agent, policy => policy.RequireAuthenticatedUser().RequireClaim("sub").RequireClaim(accountClaim));
        options.AddPolicy(ManageSeats, policy => policy
            .RequireAuthenticatedUser().RequireClaim("sub").RequireClaim(accountClaim)
            .RequireAssertion(context => IsAdminOr(context.User, "MANAGE_SEATS")));
        options.AddPolicy(ManageUsers, policy => policy
            .RequireAuthenticatedUser().RequireClaim("sub").RequireClaim(accountClaim)
            .RequireAssertion(context => IsAdminOr(context.User, "MANAGE_USERS")));
        options.AddPolicy(ViewAgents, policy => policy
            .RequireAuthenticatedUser().RequireClaim("sub").RequireClaim(accountClaim)
            .RequireAssertion(context => IsAdminOr(context.User, "MANAGE_SEATS") || IsAdminOr(context.User, "MANAGE_USERS")));
        options.AddPolicy(Admin, policy => policy
            .RequireAuthenticatedUser().RequireClaim("sub").RequireClaim(accountClaim)
            .RequireClaim(RoleClaim, "ADMIN"));
        options.AddPolicy(Service, policy => policy
            .RequireAuthenticatedUser()
            .RequireAssertion(context => context.User.FindAll(ScopeClaim)
                .SelectMany(claim => claim.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Contains(ServiceScope, StringComparer.Ordinal))
            .RequireAssertion(context => !requireClientCertificateForServices
                || context.Resource is HttpContext { Connection.ClientCertificate: not null }));
    }

    private static bool IsAdminOr(ClaimsPrincipal user, string privilege) =>
        user.HasClaim(RoleClaim, "ADMIN") || user.HasClaim(PrivilegesClaim, privilege);
}
