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

        using var browser = new Browser();
        browser.Go(new Uri(console.Address, "sessions"));
        browser.Click("#sign-in-as-sam");
        browser.WaitUntil(b => b.Has("#sessions-summary"), "the sessions page after signing in as a seat manager");
        Assert.Equal("Sam Seats", browser.Find("#signed-in-as").Text);
        Assert.False(browser.Has("#nav-activity"), "a manager sees no Activity link");
        browser.Go(new Uri(console.Address, "activity"));
        browser.Find("#not-allowed");

        browser.Click("#sign-out");
        browser.Find("#sign-in-as-alice").Click();
        browser.WaitUntil(b => b.Has("#nav-activity"), "the admin's menu");
    }
}
