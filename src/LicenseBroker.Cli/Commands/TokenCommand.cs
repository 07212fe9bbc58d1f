using System.CommandLine;

namespace LicenseBroker.Cli.Commands;

/// <summary>`token`: prints a development bearer token.</summary>
internal static class TokenCommand
{
    public static Command Create()
    {
        var account = CommonOptions.Account();
        var agent = CommonOptions.Agent();
        var keyFile = CommonOptions.SigningKeyFile();
        var lifetime = CommonOptions.Duration("--lifetime", "Token lifetime", TimeSpan.FromHours(8));
        var role = CommonOptions.Role(defaultValue: null);
        var privileges = CommonOptions.Privilege();
        var service = new Option<bool>("--service") { Description = "A back-office service token (scope licensebroker.service)." };

        var command = new Command("token", "Mint a development token signed with the local key.") { account, agent, keyFile, lifetime, role, privileges, service };
        command.SetAction(parse =>
        {
            var token = DevTokens.Mint(
                CommonOptions.ReadKey(parse.GetValue(keyFile)!),
                parse.GetValue(account)!,
                parse.GetValue(agent)!,
                parse.GetValue(lifetime)!.Value,
                extraClaims: DevTokens.Claims(parse.GetValue(role) is { Length: > 0 } chosen ? chosen : null, parse.GetValue(privileges), parse.GetValue(service)));
            Console.WriteLine(token);
            return 0;
        });
        return command;
    }
}
