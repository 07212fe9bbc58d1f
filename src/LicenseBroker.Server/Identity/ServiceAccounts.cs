using System.Security.Claims;
using Grpc.Core;
using LicenseBroker.Server.Grpc;

namespace LicenseBroker.Server.Identity;

/// <summary>
/// Which accounts a service token may read. A token with an <c>accounts</c> claim (space-separated ids, or
/// the claim repeated) is scoped to those accounts; a service token without one is the platform's and may
/// read every account (and rotate the entitlement signing key).
/// </summary>
internal static class ServiceAccounts
{
    public const string Claim = "accounts";

    public static bool IsPlatform(ClaimsPrincipal user) => !user.HasClaim(c => c.Type == Claim);

    public static bool MayRead(ClaimsPrincipal user, string accountId) =>
        IsPlatform(user) || user.FindAll(Claim).SelectMany(c => c.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Contains(accountId, StringComparer.Ordinal);

    /// <summary>PERMISSION_DENIED unless the caller may read <paramref name="accountId"/>; says which account was refused.</summary>
    public static void Demand(ServerCallContext context, string accountId, string field = "account_id")
    {
        if (!MayRead(context.GetHttpContext().User, accountId))
        {
            throw OutcomeStatus.AccountNotInTokenScope(accountId, field);
        }
    }

    public static void DemandPlatform(ServerCallContext context)
    {
        if (!IsPlatform(context.GetHttpContext().User))
        {
            throw OutcomeStatus.PlatformTokenRequired();
        }
    }
}
