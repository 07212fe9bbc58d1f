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
        var lifetime = new Option<TimeSpan>("--lifetime")
        {
            Description = "Token lifetime, e.g. 08:00:00.",
            DefaultValueFactory = _ => TimeSpan.FromHours(8),
        };

        var command = new Command("token", "Mint a development token signed with the local key.") { account, agent, keyFile, lifetime };
        command.SetAction(parse =>
        {
            var token = DevTokens.Mint(
                CommonOptions.ReadKey(parse.GetValue(keyFile)!),
                parse.GetValue(account)!,
                parse.GetValue(agent)!,
                parse.GetValue(lifetime));
            Console.WriteLine(token);
            return 0;
        });
        return command;
    }
}
