using System.Security.Claims;
using Microsoft.IdentityModel.JsonWebTokens;

namespace LicenseBroker.AdminCenter.Auth;

/// <summary>
/// Who the signed-in person is, read from the access token the broker will check. The console uses
/// it only to choose what to show; the broker decides what is allowed on every call.
/// </summary>
public static class AdminClaims
{
    public const string Account = "account_id";
    public const string Role = "role";
    public const string Privileges = "privileges";
    public const string SeatsPolicy = "seats";
    public const string UsersPolicy = "users";
    public const string AdminPolicy = "admin";
    public const string PeoplePolicy = "people";

    /// <summary>Copies the broker-relevant claims of a JWT access token onto the cookie identity.</summary>
    public static ClaimsIdentity FromAccessToken(string accessToken, string accountClaim, string authenticationType)
    {
        var token = new JsonWebToken(accessToken);
        var identity = new ClaimsIdentity(authenticationType, "name", Role);
        foreach (var claim in token.Claims)
        {
            var type = claim.Type == accountClaim ? Account : claim.Type;
            if (type is "sub" or "name" or "email" or Account or Role or Privileges)
            {
                identity.AddClaim(new Claim(type, claim.Value));
            }
        }

        if (identity.FindFirst("name") is null && identity.FindFirst("sub") is { } sub)
        {
            identity.AddClaim(new Claim("name", sub.Value));
        }

        return identity;
    }

    public static bool IsAdmin(this ClaimsPrincipal user) => user.HasClaim(Role, "ADMIN");

    public static bool MaySeats(this ClaimsPrincipal user) => user.IsAdmin() || user.HasClaim(Privileges, "MANAGE_SEATS");

    public static bool MayUsers(this ClaimsPrincipal user) => user.IsAdmin() || user.HasClaim(Privileges, "MANAGE_USERS");

    public static string AccountId(this ClaimsPrincipal user) => user.FindFirst(Account)?.Value ?? string.Empty;
}
