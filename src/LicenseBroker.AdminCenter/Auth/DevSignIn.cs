using System.Globalization;
using System.Security.Claims;
using Grpc.Core;
using LicenseBroker.AdminCenter.Broker;
using LicenseBroker.Cli;
using LicenseBroker.Contracts.V1;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.Extensions.Options;

namespace LicenseBroker.AdminCenter.Auth;

/// <summary>
/// ./scripts/run's sign-in: lists the people of one account and signs in as one of them with a token
/// from the broker's development key. Off unless AdminCenter:DevSignIn:Enabled; never on a public address.
/// </summary>
public sealed class DevSignIn
{
    private readonly BrokerChannel _channel;
    private readonly DevSignInOptions _options;
    private readonly TimeProvider _time;

    public DevSignIn(BrokerChannel channel, IOptions<AdminCenterOptions> options, TimeProvider time)
    {
        _channel = channel;
        _options = options.Value.DevSignIn;
        _time = time;
    }

    public bool Enabled => _options.Enabled;

    /// <summary>The people of the account, read with a short-lived admin token of that account.</summary>
    public async Task<IReadOnlyList<Agent>> PeopleAsync(CancellationToken cancellationToken)
    {
        var lister = DevTokens.Mint(_options.SigningKey!, _options.AccountId!, "dev-sign-in", TimeSpan.FromMinutes(1), _options.Issuer, _options.Audience, DevTokens.Claims("ADMIN"));
        var response = await new SeatAdminService.SeatAdminServiceClient(_channel.Channel).ListAgentsAsync(
            new ListAgentsRequest { Page = new PageRequest { PageSize = 200 } },
            new Metadata { { "authorization", "Bearer " + lister } },
            cancellationToken: cancellationToken);
        return response.Agents;
    }

    public async Task<bool> SignInAsync(HttpContext context, string agentId)
    {
        var person = (await PeopleAsync(context.RequestAborted)).FirstOrDefault(a => a.AgentId == agentId);
        if (person is null)
        {
            return false;
        }

        var claims = DevTokens.Claims(
            person.Role.ToString().ToUpperInvariant(),
            person.Privileges.Select(p => p == Privilege.ManageSeats ? "MANAGE_SEATS" : "MANAGE_USERS"));
        claims["name"] = person.DisplayName;
        claims["email"] = person.Email;
        var lifetime = TimeSpan.FromHours(1);
        var token = DevTokens.Mint(_options.SigningKey!, _options.AccountId!, person.AgentId, lifetime, _options.Issuer, _options.Audience, claims);
        var properties = new AuthenticationProperties { IsPersistent = false };
        properties.Items[TokenRefresher.DevSignInProperty] = "1";
        properties.StoreTokens(
        [
            new AuthenticationToken { Name = "access_token", Value = token },
            new AuthenticationToken { Name = "expires_at", Value = (_time.GetUtcNow() + lifetime).ToString("o", CultureInfo.InvariantCulture) },
        ]);
        var identity = AdminClaims.FromAccessToken(token, AdminClaims.Account, CookieAuthenticationDefaults.AuthenticationScheme);
        await context.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, new ClaimsPrincipal(identity), properties);
        return true;
    }

    /// <summary>The claims a renewed development token carries again.</summary>
    public static Dictionary<string, object> ClaimsOf(ClaimsPrincipal user)
    {
        var claims = DevTokens.Claims(user.FindFirst(AdminClaims.Role)?.Value, user.FindAll(AdminClaims.Privileges).Select(c => c.Value));
        foreach (var type in new[] { "name", "email" })
        {
            if (user.FindFirst(type) is { } claim)
            {
                claims[type] = claim.Value;
            }
        }

        return claims;
    }
}
