using System.Globalization;
using System.Net;
using Dapper;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;
using Npgsql;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// The Activity page as an admin reads it: every action in words, in English and French, people and things by their
/// names, each change as before → after; and its CSV export of a large log, streamed with the console's memory bounded.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class AdminCenterActivityTests : IClassFixture<AdminCenterFixture>
{
    private const string Product = "remote-support";
    private const string ClaireId = "adm-7f3c";
    private readonly AdminCenterFixture _fixture;
    private readonly Xunit.Abstractions.ITestOutputHelper _output;

    public AdminCenterActivityTests(AdminCenterFixture fixture, Xunit.Abstractions.ITestOutputHelper output)
    {
        _fixture = fixture;
        _output = output;
    }

    private Uri Page(string path) => new(_fixture.Console.Address, path.TrimStart('/'));

    private void SignIn(Browser browser, string account)
    {
        var admin = new OidcPerson("admin-" + account, account, "Alice Admin", $"alice@{account}.test", "ADMIN");
        _fixture.Provider.Add(admin);
        browser.Go(Page("/activity"));
        browser.Find("#username").SendKeys(admin.UserName);
        browser.Submit("#login");
        browser.WaitUntil(b => b.Url.StartsWith(_fixture.Console.Address.ToString(), StringComparison.Ordinal) && b.Has("main"), "back in the console after sign-in");
    }

    [Fact]
    public async Task Twenty_actions_read_as_sentences_with_names_and_before_and_after_in_both_languages()
    {
        var host = _fixture.Host;
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 3, namedSeats: 2);
        var claire = host.NamedAdminHeaders(account, ClaireId, "Claire Dubois"); // an admin the people list does not hold
        var admin = host.AdminClient;

        // The back office gives the account two unattended machines and an idle timeout.
        var subscription = (await host.SubscriptionClient.GetSubscriptionAsync(new GetSubscriptionRequest { AccountId = account, Product = Product }, host.ServiceHeaders())).Subscription;
        subscription.UnattendedDeviceLimit = 2;
        subscription.IdleTimeoutSeconds = 600;
        await host.SubscriptionClient.UpsertSubscriptionAsync(new UpsertSubscriptionRequest { Subscription = subscription }, host.ServiceHeaders());

        // People, seats, teams and their rules, machines, webhooks, provisioning: each by Claire.
        await admin.UpsertAgentAsync(new UpsertAgentRequest { AgentId = "u-bob", Email = "bob@example.test", DisplayName = "Bob Martin", Role = AgentRole.Member }, claire);
        await admin.UpsertAgentAsync(new UpsertAgentRequest { AgentId = "u-bob", Email = "bob@example.test", DisplayName = "Bob Martin", Role = AgentRole.Manager, Privileges = { Privilege.ManageSeats } }, claire);
        await admin.UpsertAgentAsync(new UpsertAgentRequest { AgentId = "u-eve", Email = "eve@example.test", DisplayName = "Eve Laurent", Role = AgentRole.Member }, claire);
        await admin.UpsertAgentAsync(new UpsertAgentRequest { AgentId = "u-lea", Email = "lea@example.test", DisplayName = "Léa Martin", Role = AgentRole.Member }, claire);
        await admin.AssignSeatAsync(new AssignSeatRequest { AgentId = "u-bob", Product = Product, SeatType = SeatType.Concurrent }, claire);
        await admin.AssignSeatAsync(new AssignSeatRequest { AgentId = "u-eve", Product = Product, SeatType = SeatType.Concurrent }, claire);
        await admin.AssignSeatAsync(new AssignSeatRequest { AgentId = "u-eve", Product = Product, SeatType = SeatType.Named }, claire);
        await admin.UnassignSeatAsync(new UnassignSeatRequest { AgentId = "u-eve", Product = Product }, claire);
        await admin.UpsertAgentGroupAsync(new UpsertAgentGroupRequest { GroupId = "t-nights", DisplayName = "Night shift", ReplaceMembers = true, MemberIds = { "u-bob" } }, claire);
        await admin.UpsertAgentGroupAsync(new UpsertAgentGroupRequest { GroupId = "t-nights", DisplayName = "Night team", ReplaceMembers = true, MemberIds = { "u-bob", "u-eve" } }, claire);
        await admin.SetGroupSeatRuleAsync(new SetGroupSeatRuleRequest { Product = Product, GroupId = "t-nights", ReservedSeats = 1 }, claire);
        await admin.SetGroupSeatRuleAsync(new SetGroupSeatRuleRequest { Product = Product, GroupId = "t-nights", ReservedSeats = 2, MaxSeats = 3 }, claire);
        await admin.RemoveGroupSeatRuleAsync(new RemoveGroupSeatRuleRequest { Product = Product, GroupId = "t-nights" }, claire);
        await admin.UpsertAgentGroupAsync(new UpsertAgentGroupRequest { GroupId = "t-gone", DisplayName = "Weekend crew" }, claire);
        await admin.DeleteAgentGroupAsync(new DeleteAgentGroupRequest { GroupId = "t-gone" }, claire);
        await admin.RegisterUnattendedDeviceAsync(new RegisterUnattendedDeviceRequest { Product = Product, DeviceId = "srv-17", DisplayName = "Build server", Platform = Platform.Linux }, claire);
        await admin.UnregisterUnattendedDeviceAsync(new UnregisterUnattendedDeviceRequest { Product = Product, DeviceId = "srv-17" }, claire);
        var hook = (await admin.CreateWebhookEndpointAsync(new CreateWebhookEndpointRequest { Url = "https://203.0.113.10/hooks/seats", EventTypes = { "seat.granted" } }, claire)).Endpoint;
        await admin.UpdateWebhookEndpointAsync(new UpdateWebhookEndpointRequest { EndpointId = hook.EndpointId, Url = hook.Url, EventTypes = { "seat.granted" }, State = WebhookEndpointState.Disabled }, claire);
        await admin.RotateWebhookSecretAsync(new RotateWebhookSecretRequest { EndpointId = hook.EndpointId }, claire);
        await admin.DeleteWebhookEndpointAsync(new DeleteWebhookEndpointRequest { EndpointId = hook.EndpointId }, claire);
        var token = (await admin.CreateProvisioningTokenAsync(new CreateProvisioningTokenRequest { Name = "Okta production" }, claire)).Token;
        await admin.RevokeProvisioningTokenAsync(new RevokeProvisioningTokenRequest { TokenId = token.TokenId }, claire);
        await admin.MapProvisioningGroupAsync(new MapProvisioningGroupRequest { GroupName = "Support EU", Product = Product, SeatType = SeatType.Concurrent }, claire);
        await admin.UnmapProvisioningGroupAsync(new UnmapProvisioningGroupRequest { GroupName = "Support EU", Product = Product }, claire);
        await admin.SetEventRetentionAsync(new SetEventRetentionRequest { RetentionDays = 90 }, claire);

        // Bob works, Claire ends his session; then she removes Eve.
        var lease = (await host.Agent(account, "u-bob").AcquireAsync(Product, deviceId: "bob-desk")).Lease;
        await admin.ForceReleaseAsync(new ForceReleaseRequest { Product = Product, LeaseIds = { lease.LeaseId } }, claire);
        await admin.RemoveAgentAsync(new RemoveAgentRequest { AgentId = "u-eve" }, claire);
        await host.AuditWrittenAsync();

        // What each language must say: the action's row holds these words (names, and the change before → after).
        var english = new (string Action, string[] Words)[]
        {
            ("subscription.upsert", ["The back office (billing) changed the subscription to Remote Support", "Unattended machines: 0 → 2", "Idle timeout: never → 10 min"]),
            ("agent.upsert", ["Claire Dubois added or changed Bob Martin", "Role: Member → Manager", "Privileges: — → May manage seats and sessions"]),
            ("seat.assign", ["Claire Dubois gave Eve Laurent a seat of Remote Support", "Seat: Concurrent seat → Named seat"]),
            ("seat.unassign", ["Seat: Named seat → —"]),
            ("group.upsert", ["Claire Dubois created or changed the team Night team", "Name: Night shift → Night team", "Members: 1 → 2"]),
            ("group.rule_set", ["Seats reserved: 1 → 2", "Cap: — → 3"]),
            ("group.rule_remove", ["Claire Dubois removed the seat rule of the team Night team on Remote Support"]),
            ("group.remove", ["Claire Dubois deleted the team Weekend crew", "Name: Weekend crew → —"]),
            ("device.register", ["Claire Dubois registered the machine Build server for Remote Support", "Name: — → Build server"]),
            ("device.unregister", ["Claire Dubois removed the machine Build server from Remote Support"]),
            ("webhook.create", ["Claire Dubois added an address told of events"]),
            ("webhook.update", ["State: Sending → Paused"]),
            ("webhook.rotate_secret", ["Claire Dubois gave an address told of events a new signing secret"]),
            ("webhook.delete", ["Claire Dubois deleted an address told of events"]),
            ("provisioning.token.create", ["Claire Dubois created a token for an identity provider", "Name: — → Okta production"]),
            ("provisioning.token.revoke", ["Claire Dubois revoked an identity provider’s token"]),
            ("provisioning.group.map", ["Claire Dubois made the team Support EU give a seat of Remote Support", "Seat: — → Concurrent seat"]),
            ("provisioning.group.unmap", ["Claire Dubois stopped the team Support EU giving a seat of Remote Support"]),
            ("account.retention_set", ["Claire Dubois changed how long the account’s events are kept", "→ 90 days"]),
            ("seat.granted", ["Bob Martin took a seat on Remote Support"]),
            ("seat.force_released", ["Claire Dubois ended the session of Bob Martin on Remote Support"]),
            ("agent.remove", ["Claire Dubois removed Eve Laurent", "Name: Eve Laurent → —"]),
        };
        var french = new (string Action, string[] Words)[]
        {
            ("subscription.upsert", ["Le back-office (billing)", "Machines sans surveillance\u00a0: 0 → 2", "Délai d’inactivité\u00a0: jamais → 10 min"]),
            ("agent.upsert", ["Claire Dubois a ajouté ou modifié Bob Martin", "Rôle\u00a0:", "Privilèges\u00a0: — → Peut gérer les postes et les sessions"]),
            ("seat.assign", ["Claire Dubois a donné à Eve Laurent un poste", "Poste\u00a0: Poste simultané → Poste nominatif"]),
            ("group.upsert", ["Nom\u00a0: Night shift → Night team", "Membres\u00a0: 1 → 2"]),
            ("group.rule_set", ["Postes réservés\u00a0: 1 → 2", "Plafond\u00a0: — → 3"]),
            ("webhook.update", ["État\u00a0:"]),
            ("account.retention_set", ["→ 90 jours"]),
            ("seat.force_released", ["Claire Dubois a mis fin à la session de Bob Martin"]),
            ("agent.remove", ["Claire Dubois a supprimé Eve Laurent", "Nom\u00a0: Eve Laurent → —"]),
        };

        foreach (var (language, expected) in new[] { ("en-US", english), ("fr-FR", french) })
        {
            using var browser = new Browser(language);
            SignIn(browser, account);
            browser.Go(Page("/activity"));
            browser.Find("#activity");
            var rows = browser.All("#activity tbody tr")
                .Select(row => (Action: row.GetAttribute("data-action")!, Text: row.Text))
                .ToList();

            // 20 or more kinds of action, each in a sentence of this language, none showing a code or an id.
            var kinds = rows.Select(r => r.Action).Distinct().ToList();
            Assert.True(kinds.Count >= 20, $"{language}: {kinds.Count} kinds of action: {string.Join(", ", kinds)}");
            foreach (var (action, text) in rows)
            {
                Assert.DoesNotContain(action, text, StringComparison.Ordinal);
                Assert.DoesNotContain(ClaireId, text, StringComparison.Ordinal);
                Assert.DoesNotContain("u-bob", text, StringComparison.Ordinal);
                Assert.DoesNotContain("u-eve", text, StringComparison.Ordinal);
                Assert.DoesNotContain("service:", text, StringComparison.Ordinal);
                Assert.DoesNotContain(Product, text, StringComparison.Ordinal);
            }

            browser.Screenshot(language == "fr-FR" ? "activite" : "activity-in-words");
            foreach (var (action, words) in expected)
            {
                var texts = rows.Where(r => r.Action == action).Select(r => r.Text).ToList();
                Assert.True(texts.Count > 0, $"{language}: no {action} row");
                foreach (var word in words)
                {
                    // WebDriver reads a no-break space as a space (the resource test checks the French spaces).
                    var seen = word.Replace('\u00a0', ' ');
                    Assert.True(texts.Any(t => t.Replace('\u00a0', ' ').Contains(seen, StringComparison.Ordinal)), $"{language}: no {action} row says «{word}»:\n{string.Join("\n", texts)}");
                }
            }
        }
    }

    [Fact]
    public async Task The_person_filter_takes_a_name_and_offers_a_choice_when_several_people_match()
    {
        var host = _fixture.Host;
        var account = await _fixture.Seeder.AccountAsync();
        var headers = host.AdminHeaders(account);
        await host.AdminClient.UpsertAgentAsync(new UpsertAgentRequest { AgentId = "u-bob", Email = "bob@example.test", DisplayName = "Bob Martin", Role = AgentRole.Member }, headers);
        await host.AdminClient.UpsertAgentAsync(new UpsertAgentRequest { AgentId = "u-lea", Email = "lea@example.test", DisplayName = "Léa Martin", Role = AgentRole.Member }, headers);
        await host.AdminClient.AssignSeatAsync(new AssignSeatRequest { AgentId = "u-bob", Product = Product, SeatType = SeatType.Named }, headers);

        using var browser = new Browser("en-US");
        SignIn(browser, account);

        // "Martin": two people; the page asks which, and lists no events until then. The export refuses the same text.
        browser.Go(Page("/activity?person=Martin"));
        Assert.Equal(["Bob Martin bob@example.test", "Léa Martin lea@example.test"], browser.All("#person-choices li").Select(li => li.Text).Order(StringComparer.Ordinal));
        Assert.Empty(browser.All("#activity tbody tr"));
        var refused = (string)((OpenQA.Selenium.IJavaScriptExecutor)browser.Driver).ExecuteAsyncScript(
            "const done = arguments[arguments.length - 1]; fetch('/activity.csv?person=Martin').then(r => r.text().then(t => done(r.status + ' ' + t)));")!;
        Assert.StartsWith("400 Several people match", refused, StringComparison.Ordinal);

        // Choosing Bob, or typing his e-mail: his events only, named at the top.
        browser.Click("#person-choices a[href*='u-bob']");
        Assert.Contains("Events of Bob Martin (bob@example.test)", browser.Find("#person-shown").Text, StringComparison.Ordinal);
        browser.Go(Page("/activity?person=bob%40example.test"));
        Assert.Contains("Bob Martin", browser.Find("#person-shown").Text, StringComparison.Ordinal);
        var rows = browser.All("#activity tbody tr").Select(r => r.Text).ToList();
        Assert.Equal(2, rows.Count); // added, and given a seat
        Assert.All(rows, row => Assert.Contains("Bob Martin", row, StringComparison.Ordinal));
        Assert.Contains("person=u-bob", browser.Find("#export-csv").GetAttribute("href"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_admin_sets_the_session_timeouts_in_the_console_the_broker_has_them_and_the_activity_says_before_and_after()
    {
        var account = await _fixture.Seeder.AccountAsync();
        using var browser = new Browser("fr-FR");
        SignIn(browser, account);
        browser.Go(Page("/"));
        var pending = browser.Find($"#pending-{Product}");
        pending.Clear();
        pending.SendKeys("5");
        var idle = browser.Find($"#idle-{Product}");
        idle.Clear();
        idle.SendKeys("20");
        browser.Submit($"#save-timeouts-{Product}");
        Assert.Contains("Les délais de Remote Support sont enregistrés.", browser.Find("#done").Text, StringComparison.Ordinal);

        var subscription = (await _fixture.Host.SubscriptionClient.GetSubscriptionAsync(
            new GetSubscriptionRequest { AccountId = account, Product = Product }, _fixture.Host.ServiceHeaders())).Subscription;
        Assert.Equal((300, 1200), (subscription.PendingTimeoutSeconds, subscription.IdleTimeoutSeconds));
        Assert.Equal("5", browser.Find($"#pending-{Product}").GetAttribute("value"));

        browser.Go(Page("/activity?kind=subscription"));
        var row = browser.Find("#activity tbody tr");
        Assert.Equal("subscription.session_timeouts", row.GetAttribute("data-action"));
        Assert.Contains("Alice Admin a modifié quand les postes de Remote Support sont repris aux sessions en attente ou inactives", row.Text, StringComparison.Ordinal);
        Assert.Contains("Délai en attente : jamais → 5 min", row.Text.Replace('\u00a0', ' '), StringComparison.Ordinal);
        Assert.Contains("Délai d’inactivité : jamais → 20 min", row.Text.Replace('\u00a0', ' '), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_csv_export_of_fifty_thousand_events_streams_with_the_consoles_memory_bounded_and_parses_back()
    {
        const int Events = 50_000;
        var account = await _fixture.Seeder.AccountAsync();
        await AddChangesAsync(account, Events);

        using var browser = new Browser("fr-FR");
        SignIn(browser, account);
        var cookies = new CookieContainer();
        foreach (var cookie in browser.Driver.Manage().Cookies.AllCookies)
        {
            cookies.Add(_fixture.Console.Address, new System.Net.Cookie(cookie.Name, cookie.Value, "/"));
        }

        using var http = new HttpClient(new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false }) { Timeout = TimeSpan.FromMinutes(5) };
        http.DefaultRequestHeaders.AcceptLanguage.ParseAdd("fr-FR");

        // A first export of the whole log, unmeasured: the code paths are compiled and the pools warmed, as in a console
        // that has served for a while. Then the console's peak resident memory is reset (Linux clear_refs 5) and read
        // after the measured export (VmHWM).
        using (var warmUp = await http.GetAsync(Page("/activity.csv?kind=agent"), HttpCompletionOption.ResponseHeadersRead))
        {
            await (await warmUp.Content.ReadAsStreamAsync()).CopyToAsync(Stream.Null);
        }

        await File.WriteAllTextAsync($"/proc/{_fixture.Console.ProcessId}/clear_refs", "5");
        var baseline = ResidentKilobytes("VmRSS");
        using var response = await http.GetAsync(Page("/activity.csv?kind=agent"), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Null(response.Content.Headers.ContentLength); // streamed: the size is not known when it starts

        await using var body = await response.Content.ReadAsStreamAsync();
        var counted = new CountingStream(body);
        using var reader = CsvHelper.CsvReader.Create(new StreamReader(counted, System.Text.Encoding.UTF8), new CsvHelper.CsvReaderOptions(), false);
        reader.ReadHeader();
        var rows = 0;
        var previous = long.MaxValue;
        while (await reader.ReadAsync())
        {
            rows++;
            Assert.Equal("agent.upsert", reader.GetString("action"));
            var at = DateTimeOffset.Parse(reader.GetString("occurred_at")!, CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
            Assert.True(at <= previous, "newest first");
            previous = at;
            if (rows == 1)
            {
                Assert.Contains("Rôle\u00a0: Membre → Gestionnaire", reader.GetString("change"), StringComparison.Ordinal);
            }
        }

        var peak = ResidentKilobytes("VmHWM");
        Assert.Equal(Events, rows);
        var megabytes = counted.Bytes / 1_000_000.0;
        var grewMegabytes = (peak - baseline) / 1000.0;
        _output.WriteLine($"{rows} rows, {megabytes:F1} MB; the console's resident memory: {baseline / 1000} MB before, peak {peak / 1000} MB during");
        Assert.True(megabytes > 50, $"the file was {megabytes:F1} MB");

        // Bounded: the console's resident memory grew by far less than the file it sent (a console holding the log, as
        // protobuf messages and then as text, would need several times the file).
        Assert.True(grewMegabytes < megabytes / 4, $"the console's resident memory grew by {grewMegabytes:F0} MB for a {megabytes:F0} MB file");
    }

    /// <summary>
    /// Adds <paramref name="count"/> changes of people to the account's log, newest last, each with a before and an after of
    /// about 450 bytes (a name of 200 characters): about 1.6 KB a row in the CSV.
    /// </summary>
    private async Task AddChangesAsync(string account, int count)
    {
        await using var connection = new NpgsqlConnection(_fixture.Host.Database.ConnectionString);
        await connection.ExecuteAsync(
            """
            INSERT INTO audit_events (occurred_at, account_id, product_code, actor, action, subject, before, after, retention_days)
            SELECT now() - make_interval(secs => @count - i), @account, NULL, 'broker', 'agent.upsert', 'agent-' || i,
                   jsonb_build_object('DisplayName', 'Before ' || repeat('a', 200) || i, 'Email', 'p' || i || '@example.test', 'Role', 'MEMBER'),
                   jsonb_build_object('DisplayName', 'After ' || repeat('b', 200) || i, 'Email', 'p' || i || '@example.test', 'Role', 'MANAGER'),
                   lb_event_retention_days(@account)
            FROM generate_series(1, @count) AS i
            """,
            new { account, count },
            commandTimeout: 300);
    }

    private long ResidentKilobytes(string field)
    {
        var line = File.ReadLines($"/proc/{_fixture.Console.ProcessId}/status").Single(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
    }

    /// <summary>Counts the bytes read through it.</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        public long Bytes { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => Bytes; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var read = inner.Read(buffer, offset, count);
            Bytes += read;
            return read;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await inner.ReadAsync(buffer, cancellationToken);
            Bytes += read;
            return read;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
