using System.CommandLine;
using LicenseBroker.Cli.Commands;

using LicenseBroker.Cli;

var root = new RootCommand("licensebroker-cli: the admin center from a terminal, development tokens, and an agent-app simulator.\n" + ExitCodes.Help);
root.Subcommands.Add(TokenCommand.Create());
root.Subcommands.Add(AgentCommand.Create());
root.Subcommands.Add(SessionsCommand.Create());
root.Subcommands.Add(UsageCommand.Create());
root.Subcommands.Add(PlanCommand.Create());
root.Subcommands.Add(AgentsCommand.Agents());
root.Subcommands.Add(AgentsCommand.Seats());
root.Subcommands.Add(AgentsCommand.Subscription());
root.Subcommands.Add(ProvisioningCommand.Create());
root.Subcommands.Add(AuditCommand.Create());
root.Subcommands.Add(GroupsCommand.Create());
root.Subcommands.Add(WebhooksCommand.Create());
root.Subcommands.Add(EntitlementsCommand.Create());
var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    // A wrong command line is exit code 2 (the library's default, 1, is the broker's refusal here).
    foreach (var error in parse.Errors)
    {
        Console.Error.WriteLine("error: " + error.Message);
    }

    Console.Error.WriteLine("Run with --help for the usage.");
    return ExitCodes.Usage;
}

return await parse.InvokeAsync();
