using System.Collections.Concurrent;
using Grpc.Core;
using LicenseBroker.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LicenseBroker.IntegrationTests;

/// <summary>Logs never hold a token, and errors sent to clients never hold a stack trace or SQL.</summary>
public sealed class LogHygieneTests
{
    [Fact]
    public async Task Tokens_never_reach_the_logs_and_errors_hold_no_internals()
    {
        var logs = new ConcurrentQueue<string>();
        await using var database = await TestDatabase.CreateAsync();
        await using var host = await BrokerTestHost.StartAsync(
            database,
            new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = "Trace" },
            configure: builder =>
            {
                builder.Logging.SetMinimumLevel(LogLevel.Trace);
                builder.Services.AddSingleton<ILoggerProvider>(new CapturingLoggerProvider(logs));
            });
        var seeder = new CatalogSeeder(database);
        var account = await seeder.AccountAsync(concurrentSeats: 1);
        var ids = await seeder.AgentsAsync(account, 2, "CONCURRENT");
        var token = Cli.DevTokens.Mint(host.SigningKey, account, ids[0], TimeSpan.FromMinutes(5));
        var forged = Cli.DevTokens.Mint(Convert.ToBase64String(new byte[32]), account, ids[0], TimeSpan.FromMinutes(5));
        var agent = new AgentClient(host.Channel, token);

        var details = new List<string>();
        var lease = (await agent.AcquireAsync("remote-support")).Lease;
        foreach (var call in new Func<Task>[]
        {
            () => new AgentClient(host.Channel, forged).AcquireAsync("remote-support"),
            () => host.Agent(account, ids[1]).AcquireAsync("remote-support"),
            () => agent.AcquireAsync("Bad Product"),
            async () => await host.AdminClient.AssignSeatAsync(new Contracts.V1.AssignSeatRequest { AgentId = "nobody", Product = "remote-support", SeatType = Contracts.V1.SeatType.Named }, host.AdminHeaders(account)),
        })
        {
            var error = await Assert.ThrowsAsync<RpcException>(call);
            details.Add(error.Status.Detail);
        }

        await agent.ReleaseAsync(lease);
        Assert.NotEmpty(logs);
        Assert.DoesNotContain(logs, line => line.Contains(token, StringComparison.Ordinal) || line.Contains(forged, StringComparison.Ordinal));
        Assert.DoesNotContain(logs, line => line.Contains("Bearer ey", StringComparison.Ordinal));
        Assert.All(details, detail =>
        {
            Assert.DoesNotContain("   at ", detail, StringComparison.Ordinal);
            Assert.DoesNotContain("SELECT", detail, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("Npgsql", detail, StringComparison.Ordinal);
        });
    }
}
