using System.CommandLine;
using LicenseBroker.Cli.Commands;

var root = new RootCommand("licensebroker-cli: the admin center from a terminal, development tokens, and an agent-app simulator.");
root.Subcommands.Add(TokenCommand.Create());
root.Subcommands.Add(AgentCommand.Create());
root.Subcommands.Add(SessionsCommand.Create());
root.Subcommands.Add(UsageCommand.Create());
root.Subcommands.Add(AgentsCommand.Agents());
root.Subcommands.Add(AgentsCommand.Seats());
root.Subcommands.Add(AgentsCommand.Subscription());
return await root.Parse(args).InvokeAsync();
