using System.Diagnostics;
using System.Text.Json;
using LicenseBroker.IntegrationTests.Infrastructure;

namespace LicenseBroker.IntegrationTests;

/// <summary>The licensebroker-cli binary against a real broker: output, confirmation and exit codes.</summary>
public sealed class CliTests : IClassFixture<BrokerFixture>
{
    private const string Product = "remote-support";
    private readonly BrokerFixture _fixture;

    public CliTests(BrokerFixture fixture)
    {
        _fixture = fixture;
    }

    [Fact]
    public async Task Sessions_list_and_end_through_the_cli()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 2);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        var first = (await _fixture.Host.Agent(account, ids[0]).AcquireAsync(Product, deviceId: "laptop-1")).Lease;
        await _fixture.Host.Agent(account, ids[1]).AcquireAsync(Product);

        var table = await RunCli(account, null, "sessions", "list");
        Assert.Equal(0, table.ExitCode);
        Assert.Contains(first.LeaseId, table.Output, StringComparison.Ordinal);
        Assert.Contains("laptop-1", table.Output, StringComparison.Ordinal);
        Assert.Contains("2 session(s), 2 shared seat(s) in use", table.Output, StringComparison.Ordinal);

        var json = await RunCli(account, null, "sessions", "list", "--json");
        Assert.Equal(0, json.ExitCode);
        using (var document = JsonDocument.Parse(json.Output))
        {
            Assert.Equal(2, document.RootElement.GetProperty("sessions").GetArrayLength());
            Assert.Equal(2, document.RootElement.GetProperty("seatsInUse").GetInt32());
        }

        var declined = await RunCli(account, "n\n", "sessions", "end", first.LeaseId);
        Assert.Equal(3, declined.ExitCode);
        Assert.Contains("nothing ended", declined.Error, StringComparison.Ordinal);
        Assert.Equal(2, (await RunCli(account, null, "sessions", "list", "--json")).Output.Split("leaseId").Length - 1);

        var ended = await RunCli(account, "y\n", "sessions", "end", first.LeaseId);
        Assert.Equal(0, ended.ExitCode);
        Assert.Contains($"ended {first.LeaseId}", ended.Output, StringComparison.Ordinal);

        var byAgent = await RunCli(account, null, "sessions", "end", "--agent", ids[1], "--yes");
        Assert.Equal(0, byAgent.ExitCode);
        Assert.Contains("1 session(s) ended", byAgent.Output, StringComparison.Ordinal);
        Assert.Contains("0 session(s)", (await RunCli(account, null, "sessions", "list")).Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Usage_agents_and_seat_commands_print_tables_and_fail_with_the_server_message()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 3, namedSeats: 1);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, seatType: null);

        var assigned = await RunCli(account, null, "seats", "assign", "--agent-id", ids[0], "--type", "named");
        Assert.Equal(0, assigned.ExitCode);
        Assert.Contains("now has a Named seat", assigned.Output, StringComparison.Ordinal);

        var refused = await RunCli(account, null, "seats", "assign", "--agent-id", ids[1], "--type", "named");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("FailedPrecondition: All 1 named seats", refused.Error, StringComparison.Ordinal);

        var agents = await RunCli(account, null, "agents", "list", "--product", Product, "--seat-type", "named");
        Assert.Equal(0, agents.ExitCode);
        Assert.Contains(ids[0], agents.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(ids[1], agents.Output, StringComparison.Ordinal);

        var usage = await RunCli(account, null, "usage", "--product", Product);
        Assert.Equal(0, usage.ExitCode);
        Assert.Contains("1/1", usage.Output, StringComparison.Ordinal);
        Assert.Contains("0/3", usage.Output, StringComparison.Ordinal);

        var history = await RunCli(account, null, "usage", "history", "--product", Product, "--days", "3", "--json");
        Assert.Equal(0, history.ExitCode);
        using var document = JsonDocument.Parse(history.Output);
        Assert.Equal(3, document.RootElement.GetProperty("days").GetArrayLength());
    }

    private async Task<(int ExitCode, string Output, string Error)> RunCli(string account, string? input, params string[] args)
    {
        var token = Cli.DevTokens.Mint(_fixture.Host.SigningKey, account, "cli-admin", TimeSpan.FromMinutes(10), extraClaims: Cli.DevTokens.Claims(role: "ADMIN"));
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(BuildOutputs.Cli);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.ArgumentList.Add("--server");
        start.ArgumentList.Add(_fixture.Host.Address.ToString());
        start.ArgumentList.Add("--account");
        start.ArgumentList.Add(account);
        start.ArgumentList.Add("--token");
        start.ArgumentList.Add(token);

        using var process = Process.Start(start)!;
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input);
        }

        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }
}
