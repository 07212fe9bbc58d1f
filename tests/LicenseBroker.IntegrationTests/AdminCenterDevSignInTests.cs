using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;

namespace LicenseBroker.IntegrationTests;

/// <summary>./scripts/run's development sign-in: people of one account, on loopback only.</summary>
[Collection(BrowserCollection.Name)]
public sealed class AdminCenterDevSignInTests : IClassFixture<BrokerFixture>
{
    private readonly BrokerFixture _fixture;

    public AdminCenterDevSignInTests(BrokerFixture fixture)
    {
        _fixture = fixture;
    }

    private Dictionary<string, string> Settings(string account) => new()
    {
        ["AdminCenter__BrokerUrl"] = _fixture.Host.Address.ToString(),
        ["AdminCenter__DevSignIn__Enabled"] = "true",
        ["AdminCenter__DevSignIn__SigningKey"] = _fixture.Host.SigningKey,
        ["AdminCenter__DevSignIn__AccountId"] = account,
    };

    [Fact]
    public async Task The_console_refuses_to_start_with_the_development_sign_in_on_a_public_address()
    {
        var account = await _fixture.Seeder.AccountAsync();
        await using var console = await AdminCenterProcess.StartAsync(Processes.FreePort(), Settings(account), waitUntilServing: false, host: "0.0.0.0");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await console.WaitForExitAsync(timeout.Token);
        Assert.Equal(1, console.ExitCode);
        Assert.Contains("refusing to start", console.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_development_sign_in_lists_the_accounts_people_and_signs_in_with_their_role()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 4);
        await _fixture.Host.AdminClient.UpsertAgentAsync(
            new UpsertAgentRequest { AgentId = "alice", Email = "alice@example.test", DisplayName = "Alice Admin", Role = AgentRole.Admin }, _fixture.Host.AdminHeaders(account));
        await _fixture.Host.AdminClient.UpsertAgentAsync(
            new UpsertAgentRequest { AgentId = "sam", Email = "sam@example.test", DisplayName = "Sam Seats", Role = AgentRole.Manager, Privileges = { Privilege.ManageSeats } }, _fixture.Host.AdminHeaders(account));
        await using var console = await AdminCenterProcess.StartAsync(Processes.FreePort(), Settings(account));

        // Roles in the reader's language, not the contract's enum names.
        using (var french = new Browser("fr-FR,fr"))
        {
            french.Go(new Uri(console.Address, "dev-sign-in"));
            Assert.Equal("Administrateur du compte", french.Find("#role-alice").Text);
        }

        using var browser = new Browser();
        browser.Go(new Uri(console.Address, "sessions"));
        Assert.Equal("Account admin", browser.Find("#role-alice").Text);
        browser.Submit("#sign-in-as-sam");
        browser.WaitUntil(b => b.Has("#sessions-summary"), "the sessions page after signing in as a seat manager");
        Assert.Equal("Sam Seats", browser.Find("#signed-in-as").Text);
        Assert.False(browser.Has("#nav-activity"), "a manager sees no Activity link");
        browser.Go(new Uri(console.Address, "activity"));
        browser.Find("#not-allowed");

        browser.Submit("#sign-out");
        browser.Submit("#sign-in-as-alice");
        browser.WaitUntil(b => b.Has("#nav-activity"), "the admin's menu");
    }

    [Fact]
    public async Task With_the_broker_gone_a_signed_in_admin_is_told_it_cannot_be_reached_and_the_console_keeps_serving()
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var broker = await BrokerProcess.StartAsync(database, new Dictionary<string, string>());
        var account = await new CatalogSeeder(database).AccountAsync();
        await new SeatAdminService.SeatAdminServiceClient(broker.Channel).UpsertAgentAsync(
            new UpsertAgentRequest { AgentId = "alice", Email = "alice@example.test", DisplayName = "Alice Admin", Role = AgentRole.Admin },
            BrokerTestHost.Bearer(Cli.DevTokens.Mint(broker.SigningKey, account, "root", TimeSpan.FromMinutes(5), extraClaims: Cli.DevTokens.Claims("ADMIN"))));
        await using var console = await AdminCenterProcess.StartAsync(Processes.FreePort(), new Dictionary<string, string>
        {
            ["AdminCenter__BrokerUrl"] = broker.Address.ToString(),
            ["AdminCenter__DevSignIn__Enabled"] = "true",
            ["AdminCenter__DevSignIn__SigningKey"] = broker.SigningKey,
            ["AdminCenter__DevSignIn__AccountId"] = account,
        });

        using var browser = new Browser();
        browser.Go(new Uri(console.Address, "sessions"));
        browser.Submit("#sign-in-as-alice");
        browser.WaitUntil(b => b.Has("#sessions-summary"), "the sessions page");

        await broker.TerminateAsync();
        using (var stopped = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            await broker.WaitForExitAsync(stopped.Token);
        }

        foreach (var path in new[] { "/", "/sessions", "/users/alice", "/activity" })
        {
            browser.Go(new Uri(console.Address, path.TrimStart('/')));
            Assert.Contains("cannot be reached", browser.Find("#problem").Text, StringComparison.Ordinal);
        }

        Assert.False(console.HasExited);
    }
}
