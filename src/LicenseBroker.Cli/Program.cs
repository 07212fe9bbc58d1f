using System.CommandLine;
using LicenseBroker.Cli.Commands;

var root = new RootCommand("licensebroker-cli: development tokens, agent-app simulation and (later) seat administration.");
root.Subcommands.Add(TokenCommand.Create());
root.Subcommands.Add(AgentCommand.Create());
return await root.Parse(args).InvokeAsync();
