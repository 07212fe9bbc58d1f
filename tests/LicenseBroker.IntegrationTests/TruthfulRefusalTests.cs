using System.Collections.Concurrent;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Issue 25, item 4: refusals say which rule (the group's cap, seats reserved for other groups, every seat
/// taken), in English and French; a manager without the ADMIN role is told the role it lacks; a client
/// that cancels its wait leaves no warning or error in the log.
/// </summary>
public sealed class TruthfulRefusalTests : IAsyncLifetime
{
    private const string Product = "remote-support";
    private readonly ConcurrentQueue<(LogLevel Level, string Message)> _levels = new();
    private TestDatabase? _database;
    private BrokerTestHost? _host;

    private BrokerTestHost Host => _host!;

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync();
        _host = await BrokerTestHost.StartAsync(_database, configure: builder => builder.Services.AddSingleton<ILoggerProvider>(new LevelLoggerProvider(_levels)));
    }

    public async Task DisposeAsync()
    {
        await _host!.DisposeAsync();
        await _database!.DisposeAsync();
    }

    public static TheoryData<string, string, string> Refusals => new()
    {
        { "cap", "en", "Your group Capped already holds its 1 shared seats." },
        { "cap", "fr", "Votre groupe Capped occupe déjà ses 1 postes partagés." },
        { "reserved", "en", "The free shared seats are reserved for the groups Keepers." },
        { "reserved", "fr", "Les postes partagés libres sont réservés aux groupes Keepers." },
        { "full", "en", "All shared seats are in use." },
        { "full", "fr", "Tous les postes partagés sont utilisés." },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task A_refused_agent_is_told_the_rule_that_refused_it_in_its_language(string rule, string language, string message)
    {
        // Four seats: keepers reserve 2 (nobody of them in), capped may hold 1; c1 (capped) and o1 hold one each.
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: 4);
        var capped = await seeder.AgentsAsync(account, 2, "CONCURRENT", prefix: "c");
        var keepers = await seeder.AgentsAsync(account, 2, "CONCURRENT", prefix: "k");
        var others = await seeder.AgentsAsync(account, 4, "CONCURRENT", prefix: "o");
        var admin = Host.AdminHeaders(account);
        await Host.AdminClient.UpsertAgentGroupAsync(new UpsertAgentGroupRequest { GroupId = "capped", DisplayName = "Capped", ReplaceMembers = true, MemberIds = { capped } }, admin);
        await Host.AdminClient.UpsertAgentGroupAsync(new UpsertAgentGroupRequest { GroupId = "keepers", DisplayName = "Keepers", ReplaceMembers = true, MemberIds = { keepers } }, admin);
        await Host.AdminClient.SetGroupSeatRuleAsync(new SetGroupSeatRuleRequest { Product = Product, GroupId = "capped", ReservedSeats = 0, MaxSeats = 1 }, admin);
        await Host.AdminClient.SetGroupSeatRuleAsync(new SetGroupSeatRuleRequest { Product = Product, GroupId = "keepers", ReservedSeats = 2 }, admin);
        await Host.Agent(account, capped[0]).AcquireAsync(Product);
        await Host.Agent(account, others[0]).AcquireAsync(Product);
        if (rule == "full")
        {
            await Host.Agent(account, keepers[0]).AcquireAsync(Product);
            await Host.Agent(account, keepers[1]).AcquireAsync(Product);
        }

        var who = rule == "cap" ? capped[1] : others[1];
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await Host.Agent(account, who).Raw.AcquireSeatAsync(
            new AcquireSeatRequest { Product = Product, SessionId = "s-1", Device = new Device { Id = "pc", Platform = Platform.Windows }, SessionKind = SessionKind.Pending },
            new Metadata { { "Authorization", Host.Agent(account, who).Headers.GetValue("authorization")! }, { "accept-language", language } }));

        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        var info = Errors.Info(refused);
        var localized = refused.GetRpcStatus()!.GetDetail<Google.Rpc.LocalizedMessage>();
        Assert.StartsWith(message, localized.Message, StringComparison.Ordinal);
        switch (rule)
        {
            case "cap":
                Assert.Equal("GROUP_CAP_REACHED", info.Reason);
                Assert.Equal("capped", info.Metadata["group"]);
                Assert.Equal("1", info.Metadata["cap"]);
                break;
            case "reserved":
                Assert.Equal("SEATS_RESERVED", info.Reason);
                Assert.Equal("keepers", info.Metadata["reserved_for"]);
                Assert.Equal("2", info.Metadata["in_use"]);
                break;
            default:
                Assert.Equal("ALL_SHARED_SEATS_IN_USE", info.Reason);
                Assert.Equal("4", info.Metadata["in_use"]);
                break;
        }
    }

    [Fact]
    public async Task A_waiter_is_told_the_rule_it_waits_for_in_its_language()
    {
        // Three seats, capped may hold 1: c1 holds it, so c2 waits for its group's seat while two seats are free.
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: 3);
        var capped = await seeder.AgentsAsync(account, 2, "CONCURRENT", prefix: "c");
        var admin = Host.AdminHeaders(account);
        await Host.AdminClient.UpsertAgentGroupAsync(new UpsertAgentGroupRequest { GroupId = "capped", DisplayName = "Capped", ReplaceMembers = true, MemberIds = { capped } }, admin);
        await Host.AdminClient.SetGroupSeatRuleAsync(new SetGroupSeatRuleRequest { Product = Product, GroupId = "capped", ReservedSeats = 0, MaxSeats = 1 }, admin);
        await Host.Agent(account, capped[0]).AcquireAsync(Product);

        var waiter = Host.Agent(account, capped[1]);
        using var call = waiter.Raw.WaitForSeat(
            new WaitForSeatRequest { Product = Product, SessionId = "w", Device = new Device { Id = "d", Platform = Platform.Windows }, SessionKind = SessionKind.Pending },
            new Metadata { { "Authorization", waiter.Headers.GetValue("authorization")! }, { "accept-language", "fr" } });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var position = call.ResponseStream.Current.Position;
        Assert.Equal(("GROUP_CAP_REACHED", "capped", 1, 1), (position.Reason, position.GroupId, position.GroupCap, position.Position));
        Assert.StartsWith("En attente d’un poste\u00a0: votre groupe Capped occupe ses 1 postes partagés", position.LocalizedMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_manager_without_the_admin_role_is_told_the_role_it_needs()
    {
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await Host.AdminClient.ListWebhookEndpointsAsync(
            new ListWebhookEndpointsRequest(), Host.ManagerHeaders("acme")));
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        var info = Errors.Info(refused);
        Assert.Equal("MISSING_PRIVILEGE", info.Reason);
        Assert.Equal("ADMIN", info.Metadata["required_role"]);
    }

    [Fact]
    public async Task A_wait_the_client_cancels_leaves_no_warning_or_error_in_the_log()
    {
        var seeder = new CatalogSeeder(_database!);
        var account = await seeder.AccountAsync(concurrentSeats: 1);
        var agents = await seeder.AgentsAsync(account, 2, "CONCURRENT");
        await Host.Agent(account, agents[0]).AcquireAsync(Product);
        var waiter = Host.Agent(account, agents[1]);

        for (var round = 0; round < 5; round++)
        {
            using var cancel = new CancellationTokenSource();
            using var call = waiter.Raw.WaitForSeat(
                new WaitForSeatRequest { Product = Product, SessionId = "w-" + round, Device = new Device { Id = "d", Platform = Platform.Windows }, SessionKind = SessionKind.Pending },
                waiter.Headers,
                cancellationToken: cancel.Token);
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<RpcException>(async () => await call.ResponseStream.MoveNext(CancellationToken.None));
        }

        // The queue is left at once: nobody waits, and nothing the broker logged is a warning or an error.
        await Eventually.Until(
            async () => (await Host.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, Host.AdminHeaders(account))).Products.Single().AgentsWaiting == 0 ? "" : null,
            TimeSpan.FromSeconds(5),
            "the cancelled waiter to leave the queue");
        var bad = _levels.Where(l => l.Level >= LogLevel.Warning && l.Message.Contains("WaitForSeat", StringComparison.Ordinal)).ToList();
        Assert.True(bad.Count == 0, string.Join("\n", bad.Select(b => $"{b.Level}: {b.Message}")));
    }

    /// <summary>Keeps each log line with its level.</summary>
    private sealed class LevelLoggerProvider(ConcurrentQueue<(LogLevel, string)> logs) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Capturing(logs);

        public void Dispose()
        {
        }

        private sealed class Capturing(ConcurrentQueue<(LogLevel, string)> logs) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                logs.Enqueue((logLevel, formatter(state, exception) + (exception is null ? string.Empty : "\n" + exception)));
        }
    }
}
