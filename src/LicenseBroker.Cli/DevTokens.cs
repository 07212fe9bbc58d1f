using System.Security.Claims;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace LicenseBroker.Cli;

/// <summary>Mints development tokens signed with the broker's configured HMAC key.</summary>
public static class DevTokens
{
    public const string DefaultIssuer = "licensebroker-dev";
    public const string DefaultAudience = "licensebroker";

    /// <summary>Role, privileges and service scope claims as the broker reads them.</summary>
    public static Dictionary<string, object> Claims(string? role = null, IEnumerable<string>? privileges = null, bool service = false)
    {
        var claims = new Dictionary<string, object>();
        if (role is not null)
        {
            claims["role"] = role;
        }

        if (privileges?.ToArray() is { Length: > 0 } list)
        {
            claims["privileges"] = list;
        }

        if (service)
        {
            claims["scope"] = "licensebroker.service";
        }

        return claims;
    }

    /// <param name="base64Key">The signing key, base64 (as in Auth:SigningKeys).</param>
    /// <param name="accountId">Goes into the `account_id` claim.</param>
    /// <param name="agentId">Goes into `sub`.</param>
    /// <param name="lifetime">Time until `exp`.</param>
    /// <param name="extraClaims">Further claims (roles, privileges, scope) for later uses.</param>
    public static string Mint(
        string base64Key,
        string accountId,
        string agentId,
        TimeSpan lifetime,
        string issuer = DefaultIssuer,
        string audience = DefaultAudience,
        IReadOnlyDictionary<string, object>? extraClaims = null,
        DateTime? notBefore = null)
    {
        var key = new SymmetricSecurityKey(Convert.FromBase64String(base64Key.Trim()));
        var issuedAt = notBefore ?? DateTime.UtcNow;
        var claims = new Dictionary<string, object> { ["account_id"] = accountId };
        if (extraClaims is not null)
        {
            foreach (var (name, value) in extraClaims)
            {
                claims[name] = value;
            }
        }

        var descriptor = new SecurityTokenDescriptor
        {
            Subject = new ClaimsIdentity([new Claim("sub", agentId)]),
            Claims = claims,
            Issuer = issuer,
            Audience = audience,
            IssuedAt = issuedAt,
            NotBefore = issuedAt,
            Expires = issuedAt + lifetime,
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.HmacSha256),
        };
        return new JsonWebTokenHandler().CreateToken(descriptor);
    }
}
