using System.Text.RegularExpressions;
using Grpc.Core;
using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Server.Identity;

/// <summary>Who is calling, taken from the validated token only, never from a request body.</summary>
internal static partial class CallerIdentity
{
    public static AgentIdentity Agent(ServerCallContext context) => Agent(context.GetHttpContext());

    /// <summary>As <see cref="Agent(ServerCallContext)"/>, for the plain HTTP routes (the statement's CSV).</summary>
    public static AgentIdentity Agent(HttpContext http)
    {
        var user = http.User;
        var accountClaim = http.RequestServices.GetRequiredService<AuthOptions>().AccountClaim;
        var agentId = user.FindFirst("sub")?.Value;
        var accountId = user.FindFirst(accountClaim)?.Value;

        // A token without these claims (or with ids we could never store) proves no agent.
        if (agentId is null || accountId is null || !IdPattern().IsMatch(agentId) || !IdPattern().IsMatch(accountId))
        {
            throw new RpcException(new Status(
                StatusCode.Unauthenticated, $"The token must carry an agent id (sub) and an account id ({accountClaim})."));
        }

        return new AgentIdentity(accountId, agentId);
    }

    /// <summary>The admin or manager making a change, and the account they act in.</summary>
    public static (string AccountId, LicenseBroker.Domain.Administration.Actor Actor) Admin(ServerCallContext context)
    {
        var agent = Agent(context);
        return (agent.AccountId, new LicenseBroker.Domain.Administration.Actor(agent.AgentId, Name(context.GetHttpContext())));
    }

    /// <summary>
    /// The caller's name from the validated token's `name` claim, for the audit log: at most 200 characters, no control
    /// characters (a name is shown in pages and CSV files); null when the token has none or only such characters.
    /// </summary>
    private static string? Name(HttpContext http)
    {
        var name = http.User.FindFirst("name")?.Value;
        if (name is null)
        {
            return null;
        }

        name = new string(name.Where(c => !char.IsControl(c)).Take(200).ToArray()).Trim();
        return name.Length == 0 ? null : name;
    }

    /// <summary>The back-office service calling (its `sub`, or "service" when it has none).</summary>
    public static LicenseBroker.Domain.Administration.Actor Service(ServerCallContext context) =>
        new("service:" + (context.GetHttpContext().User.FindFirst("sub")?.Value ?? "unnamed"));

    [GeneratedRegex("^[A-Za-z0-9._:@-]{1,128}$")]
    private static partial Regex IdPattern();
}
