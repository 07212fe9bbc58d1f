using System.Net;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;
using OpenQA.Selenium;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// The Admin Center in headless Chromium: signed in through a real OpenID Connect provider whose
/// tokens the broker also validates; every change made in a page is checked on the broker.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class AdminCenterBrowserTests : IClassFixture<AdminCenterFixture>
{
    private const string Product = "remote-support";
    private readonly AdminCenterFixture _fixture;

    public AdminCenterBrowserTests(AdminCenterFixture fixture)
    {
        _fixture = fixture;
    }

    private Uri Page(string path) => new(_fixture.Console.Address, path.TrimStart('/'));

    /// <summary>Opens a page; the first time, the identity provider asks who signs in.</summary>
    private void SignIn(Browser browser, OidcPerson person, string path)
    {
        _fixture.Provider.Add(person);
        browser.Go(Page(path));
        browser.Find("#username").SendKeys(person.UserName);
        browser.Submit("#login");
        browser.WaitUntil(b => b.Url.StartsWith(_fixture.Console.Address.ToString(), StringComparison.Ordinal) && b.Has("main"), "back in the console after sign-in");
    }

    private static OidcPerson Admin(string account) => new("admin-" + account, account, "Alice Admin", $"alice@{account}.test", "ADMIN");

    [Fact]
    public async Task Admin_ends_two_shared_sessions_after_confirming_and_a_waiting_agent_gets_a_seat()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 3);
        var ids = await _fixture.Seeder.AgentsAsync(account, 4, "CONCURRENT");
        var leases = new List<Lease>();
        foreach (var id in ids.Take(3))
        {
            leases.Add((await _fixture.Host.Agent(account, id).AcquireAsync(Product, deviceId: "desk-" + id)).Lease);
        }

        Assert.Equal(StatusCode.ResourceExhausted, (await Assert.ThrowsAsync<RpcException>(() => _fixture.Host.Agent(account, ids[3]).AcquireAsync(Product))).StatusCode);

        using var browser = new Browser();
        SignIn(browser, Admin(account), "/sessions");
        browser.Find("#sessions");
        foreach (var id in ids.Take(3))
        {
            Assert.Contains(id + "@example.test", browser.PageText, StringComparison.Ordinal);
        }

        Assert.Equal(3, browser.All("#sessions tbody tr").Count);
        browser.Screenshot("sessions");
        browser.Click($"#select-{leases[0].LeaseId}");
        browser.Click($"#select-{leases[1].LeaseId}");
        browser.Submit("#end-selected");

        // Nothing ends before the confirmation.
        browser.Find("#confirm-end");
        Assert.Equal(3, (await _fixture.Host.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, _fixture.Host.AdminHeaders(account))).TotalSessions);
        browser.Submit("#confirm-end-button");
        Assert.Contains("2", browser.Find("#ended").Text, StringComparison.Ordinal);
        Assert.Single(browser.All("#sessions tbody tr"));
        Assert.DoesNotContain(leases[0].LeaseId, browser.Find("#sessions").GetAttribute("outerHTML"), StringComparison.Ordinal);

        // "Select all": every session of the page goes to the confirmation; cancelling ends nothing.
        browser.Submit("#end-all");
        Assert.Single(browser.All("#confirm-end li"));
        Assert.Contains(leases[2].LeaseId, browser.Find("#confirm-end").GetAttribute("outerHTML"), StringComparison.Ordinal);
        browser.Click("#cancel-end");
        browser.Find("#sessions");
        Assert.Single(browser.All("#sessions tbody tr"));

        foreach (var (lease, id) in leases.Take(2).Zip(ids))
        {
            var revoked = await Assert.ThrowsAsync<RpcException>(() => _fixture.Host.Agent(account, id).HeartbeatAsync(lease));
            Assert.Equal("LEASE_REVOKED", Errors.Info(revoked).Reason);
        }

        await _fixture.Host.Agent(account, ids[3]).AcquireAsync(Product);

        // The Activity page shows who ended them.
        await _fixture.Host.AuditWrittenAsync();
        browser.Go(Page("/activity?kind=seat.force_released"));
        browser.WaitUntil(b => b.All("#activity tbody tr").Count == 2, "two force releases in the activity log");
        Assert.Contains("Alice Admin", browser.Find("#activity").Text, StringComparison.Ordinal); // by the name her token gave, not her id
        Assert.DoesNotContain("admin-" + account, browser.Find("#activity").Text, StringComparison.Ordinal);
        Assert.Contains($"Alice Admin ended the session of {ids[0]} on Remote Support", browser.Find("#activity").Text, StringComparison.Ordinal);

        // The filtered log as CSV, with the same filter: a header, then one row per event, in words too.
        Assert.Equal("/activity.csv?kind=seat.force_released&person=&from=&to=", new Uri(browser.Find("#export-csv").GetAttribute("href")!).PathAndQuery);
        var csv = (string)((OpenQA.Selenium.IJavaScriptExecutor)browser.Driver).ExecuteAsyncScript(
            "const done = arguments[arguments.length - 1]; fetch('/activity.csv?kind=seat.force_released').then(r => r.text().then(t => done(r.status + ' ' + r.headers.get('content-type') + '\\n' + t)));")!;
        var lines = csv.Replace("\r", string.Empty, StringComparison.Ordinal).TrimEnd('\n').Split('\n');
        Assert.Equal("200 text/csv; charset=utf-8", lines[0]);
        Assert.Equal("occurred_at,product,actor,actor_name,action,event,subject,subject_name,change,before,after", lines[1].TrimStart('\uFEFF')); // fetch's text() drops the BOM
        Assert.Equal(2, lines.Length - 2);
        Assert.All(lines.Skip(2), line => Assert.Contains($",Remote Support,admin-{account},Alice Admin,seat.force_released,Alice Admin ended the session of ", line, StringComparison.Ordinal));

        // By person: only the events that name them, as who did it or whom it concerns.
        browser.Go(Page($"/activity?person={ids[1]}"));
        browser.WaitUntil(b => b.All("#activity tbody tr").Count >= 2, "the second agent's grant and end");
        Assert.All(browser.All("#activity tbody tr"), row => Assert.Contains(ids[1], row.Text, StringComparison.Ordinal));
        Assert.Contains($"Alice Admin ended the session of {ids[1]} on Remote Support", browser.Find("#activity").Text, StringComparison.Ordinal);
        Assert.DoesNotContain(ids[2], browser.Find("#activity").Text, StringComparison.Ordinal);
        Assert.Equal(ids[1], browser.Find("#filter-person").GetAttribute("value"));
        browser.Go(Page("/activity"));
        browser.Find("#activity");
        browser.Screenshot("activity");

        // Every page load renewed the 61-second access token with the refresh token.
        Assert.True(_fixture.Provider.Refreshes > 0, "the console never refreshed its access token");
    }

    [Fact]
    public async Task A_refused_eleventh_agent_shows_in_todays_refusals_and_the_history_chart_shows_todays_peak()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 10, namedSeats: 2);
        var ids = await _fixture.Seeder.AgentsAsync(account, 11, "CONCURRENT");
        var named = await _fixture.Seeder.AgentsAsync(account, 2, "NAMED", prefix: "named");

        // A pending timeout, and a team capped at three seats with one member.
        var host = _fixture.Host;
        var subscription = (await host.SubscriptionClient.GetSubscriptionAsync(new GetSubscriptionRequest { AccountId = account, Product = Product }, host.ServiceHeaders())).Subscription;
        subscription.PendingTimeoutSeconds = 300;
        await host.SubscriptionClient.UpsertSubscriptionAsync(new UpsertSubscriptionRequest { Subscription = subscription }, host.ServiceHeaders());
        await host.AdminClient.UpsertAgentGroupAsync(
            new UpsertAgentGroupRequest { GroupId = "nights", DisplayName = "Night shift", ReplaceMembers = true, MemberIds = { ids[0] } }, host.AdminHeaders(account));
        await host.AdminClient.SetGroupSeatRuleAsync(new SetGroupSeatRuleRequest { Product = Product, GroupId = "nights", MaxSeats = 3 }, host.AdminHeaders(account));
        foreach (var id in ids.Take(10))
        {
            await _fixture.Host.Agent(account, id).AcquireAsync(Product);
        }

        await Assert.ThrowsAsync<RpcException>(() => _fixture.Host.Agent(account, ids[10]).AcquireAsync(Product));

        // Two people on named seats work today too: the history shows them beside the shared seats.
        foreach (var id in named)
        {
            await _fixture.Host.Agent(account, id).AcquireAsync(Product);
        }

        await _fixture.Host.AuditWrittenAsync();

        // Monitoring too: for everyone, and first in code order.
        await _fixture.Seeder.SubscribeAsync(account, "monitoring");

        using var browser = new Browser();
        SignIn(browser, Admin(account), "/");
        Assert.Equal("Remote Support", browser.Find($"#product-{Product} h2").Text);

        // The menu marks the page shown; the first Tab reaches the skip link, which leads to the content.
        Assert.Equal("page", browser.Find("#nav-seats").GetAttribute("aria-current"));
        Assert.Null(browser.Find("#nav-users").GetAttribute("aria-current"));
        new OpenQA.Selenium.Interactions.Actions(browser.Driver).SendKeys(OpenQA.Selenium.Keys.Tab).Perform();
        Assert.Equal("skip-link", browser.Driver.SwitchTo().ActiveElement().GetAttribute("id"));
        Assert.Equal("#main", new Uri(browser.Find("#skip-link").GetAttribute("href")!).Fragment);
        Assert.Equal("Monitoring", browser.Find("#product-monitoring h2").Text);
        Assert.Equal("Unlimited — everyone", browser.Find("#unlimited-monitoring").Text);
        Assert.Empty(browser.All("#named-monitoring"));
        Assert.Empty(browser.All("#unattended-monitoring"));
        Assert.Equal("All shared seats were in use once", browser.Find($"#refusals-{Product}").Text);
        Assert.Equal("10 / 10", browser.Find($"#concurrent-{Product}").Text);
        Assert.Equal("10", browser.Find($"#peak-{Product}").Text);
        Assert.Equal("2 / 2", browser.Find($"#named-{Product}").Text); // both named seats given
        Assert.Contains("Paid plan", browser.Find($"#plan-{Product}").Text, StringComparison.Ordinal);
        Assert.Equal("0 (pending: 5 min; idle: never)", browser.Find($"#reclaimed-{Product}").Text);
        Assert.Equal("Night shift 0 3 1 0 0", browser.Find($"#group-{Product}-nights").Text);
        browser.Screenshot("seats-and-devices");

        // A page about one product, opened without one, shows the product whose shared seats are in use, by its name;
        // a user's seats offer nothing to give for the product everyone may use.
        browser.Go(Page("/sessions"));
        Assert.Equal("Remote Support", browser.Find("#product-picker option[selected]").Text);
        Assert.Equal(["Monitoring", "Remote Support"], browser.All("#product-picker option").Select(o => o.Text).Order(StringComparer.Ordinal).ToArray());

        // The product an admin chooses is remembered: the next page about one product opens on it.
        browser.Go(Page("/sessions?product=monitoring"));
        Assert.Equal("Monitoring", browser.Find("#product-picker option[selected]").Text);
        browser.Go(Page("/sessions"));
        Assert.Equal("Monitoring", browser.Find("#product-picker option[selected]").Text);
        browser.Go(Page($"/sessions?product={Product}"));
        browser.Go(Page("/sessions"));
        Assert.Equal("Remote Support", browser.Find("#product-picker option[selected]").Text);
        browser.Go(Page($"/users/{ids[0]}"));
        Assert.Equal("page", browser.Find("#nav-users").GetAttribute("aria-current"));
        Assert.Equal("Unlimited — everyone", browser.Find("#seat-monitoring").Text);
        Assert.Empty(browser.All("#give-named-monitoring"));

        browser.Go(Page($"/history?product={Product}&days=30"));
        var today = DateTime.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        var bar = browser.Find($"#history-chart rect[data-day='{today}']");
        Assert.Equal("10", bar.GetAttribute("data-peak"));
        Assert.Contains("full", bar.GetAttribute("class"), StringComparison.Ordinal);
        Assert.Equal(30, browser.All("#history-chart rect").Count);
        Assert.StartsWith("The pool was full on 1 of these 30 days", browser.Find("#full-days").Text, StringComparison.Ordinal);
        Assert.Equal(["10 / 10", "2"], browser.All($"#history tr[data-day='{today}'] td").Skip(1).Take(2).Select(td => td.Text));

        // A dated axis, in the table's format: the first day of the period, and today last.
        var axis = browser.All("#history-chart g.day-label text").Select(t => t.Text).ToList();
        Assert.Equal(3, axis.Count);
        Assert.Equal(browser.Find($"#history tr[data-day='{today}'] td").Text, axis[^1]);

        // The same days as CSV, parsed back with CsvHelper: today's peak and refusal.
        Assert.Equal($"/history.csv?product={Product}&days=30", new Uri(browser.Find("#export-history").GetAttribute("href")!).PathAndQuery);
        var csv = (string)((IJavaScriptExecutor)browser.Driver).ExecuteAsyncScript(
            $"const done = arguments[arguments.length - 1]; fetch('/history.csv?product={Product}&days=30').then(r => r.text().then(done));")!;
        using (var reader = CsvHelper.CsvReader.Create(new StringReader(csv.TrimStart('\uFEFF')), new CsvHelper.CsvReaderOptions(), false))
        {
            reader.ReadHeader();
            var rows = new List<(string Day, string Peak, string Named, string Refused)>();
            while (reader.Read())
            {
                rows.Add((reader.GetString("day"), reader.GetString("peak_concurrent"), reader.GetString("named_agents"), reader.GetString("refused")));
            }

            Assert.Equal(30, rows.Count);
            Assert.Equal(("10", "2", "1"), rows.Single(r => r.Day == today) is var row ? (row.Peak, row.Named, row.Refused) : default);
        }

        browser.Screenshot("usage-history");
    }

    [Fact]
    public async Task A_reservation_that_keeps_seats_free_while_someone_waits_is_named_on_seats_and_devices_and_on_the_sessions_page()
    {
        // Three seats; "Night shift" keeps two for its one member (away); an outsider holds the third and another waits.
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 3);
        var ids = await _fixture.Seeder.AgentsAsync(account, 3, "CONCURRENT");
        var host = _fixture.Host;
        await host.AdminClient.UpsertAgentGroupAsync(
            new UpsertAgentGroupRequest { GroupId = "nights", DisplayName = "Night shift", ReplaceMembers = true, MemberIds = { ids[0] } }, host.AdminHeaders(account));
        await host.AdminClient.SetGroupSeatRuleAsync(new SetGroupSeatRuleRequest { Product = Product, GroupId = "nights", ReservedSeats = 2 }, host.AdminHeaders(account));
        await host.Agent(account, ids[1]).AcquireAsync(Product);
        var waiter = host.Agent(account, ids[2]);
        using var call = waiter.Raw.WaitForSeat(
            new WaitForSeatRequest { Product = Product, SessionId = "w", Device = new Device { Id = "d", Platform = LicenseBroker.Contracts.V1.Platform.Windows }, SessionKind = SessionKind.Pending },
            new Metadata { { "Authorization", waiter.Headers.GetValue("authorization")! } });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.NotNull(call.ResponseStream.Current.Position);

        using var browser = new Browser();
        SignIn(browser, Admin(account), "/");
        Assert.Equal("2 shared seats are free, yet agents wait:", browser.Find($"#why-waiting-{Product} p").Text);
        Assert.Equal("the reservation of group Night shift keeps 2 seats for its members · see the rule", browser.Find($"#why-waiting-{Product} #why-reserved-nights").Text);

        browser.Go(Page($"/sessions?product={Product}"));
        Assert.Equal("the reservation of group Night shift keeps 2 seats for its members · see the rule", browser.Find("#why-reserved-nights").Text);

        // The rule is one click away, where it is changed.
        browser.Click("#why-reserved-nights a.rule-link");
        Assert.Equal("2", browser.Find("tr[data-group='nights'] td[data-field='reserved']").Text);
        browser.Go(Page($"/sessions?product={Product}"));

        // The member comes in on a reserved seat: the sessions page names the group, not its id.
        await host.Agent(account, ids[0]).AcquireAsync(Product);
        browser.Go(Page($"/sessions?product={Product}"));
        Assert.StartsWith("Night shift", browser.Find($"tr[data-agent='{ids[0]}'] td[data-group='nights']").Text, StringComparison.Ordinal);

        // Nobody waiting: nothing to explain.
        call.Dispose();
        await host.AdminClient.RemoveGroupSeatRuleAsync(new RemoveGroupSeatRuleRequest { Product = Product, GroupId = "nights" }, host.AdminHeaders(account));
        browser.WaitUntil(
            b =>
            {
                b.Go(Page("/"));
                return !b.Has($"#why-waiting-{Product}");
            },
            "the explanation to go once the reservation is removed and the waiter admitted or gone");
    }

    [Fact]
    public async Task A_persons_page_lists_the_live_sessions_removing_them_would_end_beside_the_confirmation()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 2);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        var lease = (await _fixture.Host.Agent(account, ids[0]).AcquireAsync(Product, sessionId: "s-desk", deviceId: "desk-7")).Lease;
        using var browser = new Browser();
        SignIn(browser, Admin(account), $"/users/{ids[0]}");
        Assert.Equal($"Removing {ids[0]} ends this live session:", browser.Find("#remove-form p").Text);
        Assert.StartsWith("Remote Support · desk-7", browser.Find($"#remove-sessions li[data-lease='{lease.LeaseId}']").Text, StringComparison.Ordinal);

        // Nobody to warn about: no list.
        browser.Go(Page($"/users/{ids[1]}"));
        Assert.False(browser.Has("#remove-sessions"));
    }

    [Fact]
    public async Task A_pool_rebuilding_after_redis_lost_its_data_is_explained_on_seats_and_devices_in_the_admins_language()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 2);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        var host = _fixture.Host;
        await host.Agent(account, ids[0]).AcquireAsync(Product);
        using var browser = new Browser();
        SignIn(browser, Admin(account), "/");
        Assert.False(browser.Has($"#why-recovering-{Product}"));

        await RedisDataLoss.LosePoolAsync(host.Services, new LicenseBroker.Domain.Seats.PoolId(account, Product));
        await Assert.ThrowsAsync<RpcException>(() => host.Agent(account, ids[1]).AcquireAsync(Product));
        browser.Go(Page("/"));
        Assert.StartsWith("While Remote Support rebuilds after the seat server lost its live data", browser.Find($"#why-recovering-{Product}").Text, StringComparison.Ordinal);
        Assert.EndsWith("UTC, so nobody is let in over the limit.", browser.Find($"#why-recovering-{Product}").Text, StringComparison.Ordinal);

        // The sessions page says it too, in French for a French admin.
        using var french = new Browser("fr-FR,fr");
        SignIn(french, Admin(account), $"/sessions?product={Product}");
        Assert.StartsWith("Pendant que Remote Support se rétablit", french.Find($"#why-recovering-{Product}").Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_pool_beyond_its_purchased_seats_shows_a_banner_on_both_pages_in_the_admins_language_until_it_is_back()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 1);
        var host = _fixture.Host;
        var subscription = (await host.SubscriptionClient.GetSubscriptionAsync(new GetSubscriptionRequest { AccountId = account, Product = Product }, host.ServiceHeaders())).Subscription;
        subscription.OverageMode = OverageMode.Alert;
        subscription.OverageSeats = 1;
        await host.SubscriptionClient.UpsertSubscriptionAsync(new UpsertSubscriptionRequest { Subscription = subscription }, host.ServiceHeaders());
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        await host.Agent(account, ids[0]).AcquireAsync(Product);
        using var browser = new Browser();
        SignIn(browser, Admin(account), "/");
        Assert.False(browser.Has($"#overage-{Product}"));

        var over = await host.Agent(account, ids[1]).AcquireAsync(Product);
        Assert.True(over.Overage);
        browser.Go(Page("/"));
        Assert.Equal(
            "Remote Support is 1 shared seat beyond the 1 purchased (overage): the seat is granted, and counted in the overage statement.",
            browser.Find($"#overage-{Product}").Text);
        using var french = new Browser("fr-FR,fr");
        SignIn(french, Admin(account), $"/sessions?product={Product}");
        Assert.StartsWith("Remote Support dépasse de 1 poste partagé les 1 achetés", french.Find($"#overage-{Product}").Text, StringComparison.Ordinal);
        Assert.Equal("· au-delà des postes achetés", french.Find($"#overage-lease-{over.Lease.LeaseId}").Text);

        Assert.True(await host.Agent(account, ids[1]).ReleaseAsync(over.Lease));
        browser.Go(Page("/"));
        Assert.False(browser.Has($"#overage-{Product}"));

        // The month's statement as CSV, through the link on Seats & Devices: today had one overage seat at its peak.
        await host.AuditWrittenAsync();
        Assert.Equal($"/overage.csv?product={Product}", new Uri(browser.Find($"#overage-csv-{Product}").GetAttribute("href")!).PathAndQuery);
        var csv = (string)((OpenQA.Selenium.IJavaScriptExecutor)browser.Driver).ExecuteAsyncScript(
            $"const done = arguments[arguments.length - 1]; fetch('/overage.csv?product={Product}').then(r => r.text().then(t => done(r.status + ' ' + r.headers.get('content-type') + '\\n' + t)));")!;
        var lines = csv.Replace("\r", string.Empty, StringComparison.Ordinal).TrimEnd('\n').Split('\n');
        Assert.Equal("200 text/csv; charset=utf-8", lines[0]);
        Assert.Equal("kind,period,overage_seat_seconds,overage_seat_hours,peak_overage_seats", lines[1].TrimStart('\uFEFF'));
        var today = DateTime.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        Assert.EndsWith(",1", Assert.Single(lines, l => l.StartsWith($"day,{today},", StringComparison.Ordinal)), StringComparison.Ordinal);

        // The history shows the day's overage beside its peak, in the table and on the chart's bar.
        browser.Go(Page($"/history?product={Product}"));
        Assert.StartsWith("1 seat beyond the purchased ones at most, ", browser.Find($"#history tr[data-day='{today}'] td.overage").Text, StringComparison.Ordinal);
        Assert.Equal("bar over", browser.Find($"#history-chart rect[data-day='{today}']").GetAttribute("class"));
    }

    [Fact]
    public async Task Users_filter_by_seat_type_a_concurrent_seat_given_in_the_page_works_and_a_named_seat_over_the_limit_is_refused_in_words()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 2, namedSeats: 1);
        var concurrent = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT", prefix: "conc");
        await _fixture.Seeder.AgentsAsync(account, 1, "NAMED", prefix: "named");
        await _fixture.Seeder.AgentsAsync(account, 1, null, prefix: "grace");
        const string Grace = "grace-001";
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => _fixture.Host.Agent(account, Grace).AcquireAsync(Product))).StatusCode);

        using var browser = new Browser();
        SignIn(browser, Admin(account), $"/users?product={Product}&seat=concurrent");
        var listed = browser.All("#users tbody tr").Select(r => r.GetAttribute("data-agent")!).ToList();
        Assert.Equal(concurrent, listed);
        browser.Screenshot("users");

        browser.Go(Page($"/users/{Grace}"));
        browser.Submit($"#give-concurrent-{Product}");
        browser.Find("#done");
        Assert.Equal("Concurrent seat", browser.Find($"#seat-{Product}").Text);
        await _fixture.Host.Agent(account, Grace).AcquireAsync(Product);

        browser.Submit($"#give-named-{Product}");
        var problem = browser.Find("#problem").Text;
        Assert.Contains("All 1 named seats of Remote Support are assigned", problem, StringComparison.Ordinal);
        Assert.Contains("1 to free", problem, StringComparison.Ordinal);
        Assert.Equal("Concurrent seat", browser.Find($"#seat-{Product}").Text);

        // Searching by e-mail finds her.
        browser.Go(Page("/users?q=grace-001%40example"));
        Assert.Equal([Grace], browser.All("#users tbody tr").Select(r => r.GetAttribute("data-agent")!));
    }

    /// <summary>Confirm before harm (issue 27): a seat change that would end live sessions says which, and waits.</summary>
    [Fact]
    public async Task A_seat_change_that_would_end_live_sessions_lists_them_and_waits_for_confirmation()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 2);
        var agentId = (await _fixture.Seeder.AgentsAsync(account, 1, "CONCURRENT", prefix: "bob"))[0];
        var agent = _fixture.Host.Agent(account, agentId);
        var lease = (await agent.AcquireAsync(Product, deviceId: "desk-7")).Lease;

        using var browser = new Browser();
        SignIn(browser, Admin(account), $"/users/{agentId}");
        browser.Submit($"#give-named-{Product}");
        var confirm = browser.Find("#confirm-seat").Text;
        Assert.Contains("ends this live session", confirm, StringComparison.Ordinal);
        Assert.Contains("Remote Support", confirm, StringComparison.Ordinal);
        Assert.Contains("desk-7 (Windows)", confirm, StringComparison.Ordinal);
        Assert.Equal([lease.LeaseId], browser.All("#sessions-to-end li").Select(li => li.GetAttribute("data-lease")!));
        browser.Screenshot("user-seat-confirm");

        // Nothing has changed yet: the seat is the same, the session lives.
        Assert.Equal("Concurrent seat", browser.Find($"#seat-{Product}").Text);
        Assert.Equal(lease.FencingToken, (await agent.HeartbeatAsync(lease)).FencingToken);

        // Confirmed: the change is made and the session ends.
        browser.Submit("#confirm-seat-button");
        browser.Find("#done");
        Assert.Equal("Named seat", browser.Find($"#seat-{Product}").Text);

        // The agent's app is told why, in its language.
        var french = new AgentClient(_fixture.Host.Channel, agent.Headers.GetValue("authorization")!["Bearer ".Length..], "fr-FR");
        var revoked = await Assert.ThrowsAsync<RpcException>(() => french.HeartbeatAsync(lease));
        Assert.Equal("LEASE_REVOKED", Errors.Info(revoked).Reason);
        Assert.Equal("SEAT_CHANGED", Errors.Info(revoked).Metadata["why"]);
        Assert.StartsWith("Un administrateur (admin-", revoked.GetRpcStatus()!.GetDetail<Google.Rpc.LocalizedMessage>()!.Message, StringComparison.Ordinal);
        Assert.Contains("a changé votre poste", revoked.GetRpcStatus()!.GetDetail<Google.Rpc.LocalizedMessage>()!.Message, StringComparison.Ordinal);

        // With no live session, a change is made at once.
        browser.Submit($"#remove-seat-{Product}");
        browser.Find("#done");
        Assert.Empty(browser.All("#confirm-seat"));
        Assert.Equal("No seat", browser.Find($"#seat-{Product}").Text);
    }

    [Fact]
    public async Task Users_and_machines_are_added_changed_and_removed_through_the_pages_within_the_limits()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 2);
        await using (var connection = new Npgsql.NpgsqlConnection(_fixture.Host.Database.ConnectionString))
        {
            await Dapper.SqlMapper.ExecuteAsync(connection, "UPDATE subscriptions SET unattended_device_limit = 1 WHERE account_id = @account", new { account });
        }

        using var browser = new Browser();
        SignIn(browser, Admin(account), "/users");
        browser.Find("#add-user input[name=agentId]").SendKeys("zoe");
        browser.Find("#add-user input[name=displayName]").SendKeys("Zoé Durand");
        browser.Find("#add-user input[name=email]").SendKeys("zoe@example.test");
        browser.Submit("#add-user-button");
        browser.Find("#user-added");
        Assert.Equal(["zoe"], browser.All("#users tbody tr").Select(r => r.GetAttribute("data-agent")!));

        browser.Go(Page("/users/zoe"));
        browser.Click("#role option[value=MANAGER]");
        browser.Click("#role-form input[value=MANAGE_SEATS]");
        browser.Submit("#save-role");
        browser.Find("#done");
        var saved = (await _fixture.Host.AdminClient.ListAgentsAsync(new ListAgentsRequest { Query = "zoe" }, _fixture.Host.AdminHeaders(account))).Agents.Single();
        Assert.Equal(AgentRole.Manager, saved.Role);
        Assert.Equal([Privilege.ManageSeats], saved.Privileges);

        browser.Click("#remove-confirm");
        browser.Submit("#remove-user");
        browser.Find("#not-found");
        Assert.Empty((await _fixture.Host.AdminClient.ListAgentsAsync(new ListAgentsRequest { Query = "zoe" }, _fixture.Host.AdminHeaders(account))).Agents);

        browser.Go(Page($"/devices?product={Product}"));
        browser.Find("#register-device input[name=deviceId]").SendKeys("pc-1");
        browser.Find("#register-device input[name=displayName]").SendKeys("Front desk");
        browser.Submit("#register-button");
        browser.Find("#done");
        Assert.Single(browser.All("#devices tbody tr"));
        browser.Find("#register-device input[name=deviceId]").SendKeys("pc-2");
        browser.Find("#register-device input[name=displayName]").SendKeys("Back office");
        browser.Submit("#register-button");
        Assert.Contains("All 1 machine slots of Remote Support are used", browser.Find("#problem").Text, StringComparison.Ordinal);
        Assert.Single(browser.All("#devices tbody tr"));
        browser.Submit("#unregister-pc-1");
        browser.WaitUntil(b => b.All("#devices tbody tr").Count == 0, "the machine removed");

        // Signing out ends the provider's session too: the next visit asks who signs in.
        browser.Submit("#sign-out");
        browser.Find("#username");
        browser.Go(Page("/"));
        browser.Find("#username");
    }

    [Fact]
    public async Task Ten_thousand_live_sessions_are_shown_a_hundred_a_page_without_repeats()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 10_000);
        var ids = await _fixture.Seeder.AgentsAsync(account, 10_000, "CONCURRENT");
        await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (id, _) =>
            await _fixture.Host.Agent(account, id).AcquireAsync(Product));

        using var browser = new Browser();
        SignIn(browser, Admin(account), $"/sessions?product={Product}");
        Assert.StartsWith("Live shared sessions: 10,000 · shared seats in use: 10,000", browser.Find("#sessions-summary").Text, StringComparison.Ordinal);
        var first = browser.All("#sessions tbody tr").Select(r => r.GetAttribute("data-lease")!).ToList();
        Assert.Equal(100, first.Count);
        browser.Submit("#next-page");
        browser.WaitUntil(b => b.Has("#first-page"), "the second page");
        var second = browser.All("#sessions tbody tr").Select(r => r.GetAttribute("data-lease")!).ToList();
        Assert.Equal(100, second.Count);
        Assert.Empty(first.Intersect(second));

        // Ended here, a thousand at a time, rather than left to expire together under the other tests.
        foreach (var chunk in ids.Chunk(1000))
        {
            await _fixture.Host.AdminClient.ForceReleaseAsync(new ForceReleaseRequest { Product = Product, AgentIds = { chunk } }, _fixture.Host.AdminHeaders(account));
        }
    }

    [Fact]
    public async Task A_teams_rule_and_queue_class_are_set_and_removed_in_the_groups_page_and_the_broker_has_them()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 3);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        var host = _fixture.Host;
        async Task<GroupSeatRule?> RuleAsync() =>
            (await host.AdminClient.ListAgentGroupsAsync(new ListAgentGroupsRequest { GroupId = "oncall" }, host.AdminHeaders(account))).Groups.Single().Rules.SingleOrDefault();

        // The team, made in the page.
        using var browser = new Browser();
        SignIn(browser, Admin(account), $"/groups?product={Product}");
        browser.Find("#save-team input[name=groupId]").SendKeys("oncall");
        browser.Find("#save-team input[name=displayName]").SendKeys("On call");
        browser.Find("#save-team textarea[name=members]").SendKeys(ids[0]);
        browser.Submit("#save-team-button");
        browser.Find("tr[data-team='oncall']");
        var team = (await host.AdminClient.ListAgentGroupsAsync(new ListAgentGroupsRequest { GroupId = "oncall" }, host.AdminHeaders(account))).Groups.Single();
        Assert.Equal("On call", team.DisplayName);
        Assert.Equal([ids[0]], team.MemberIds);
        browser.Find("#no-rules");

        // Two seats kept for a team of one: saved, with the warning in words; the class is the queue's.
        var reserved = browser.Find("#set-rule input[name=reserved]");
        reserved.Clear();
        reserved.SendKeys("2");
        browser.Find("#set-rule input[name=cap]").SendKeys("2");
        browser.Click("#set-rule select[name=priority] option[value=Incident]");
        browser.Submit("#save-rule");
        browser.Find("#done");
        Assert.Equal(
            "Saved, but only 1 of this team’s members can take a shared seat: the other reserved seats stay free while others wait.",
            browser.Find("#warning-RESERVATION_UNUSABLE").Text);
        var rule = await RuleAsync();
        Assert.Equal((2, 2, QueuePriority.Incident), (rule!.ReservedSeats, rule.MaxSeats, rule.QueuePriority));
        Assert.Equal("Incident", browser.Find("tr[data-group='oncall'] td[data-field='priority']").Text);
        Assert.Equal("2", browser.Find("tr[data-group='oncall'] td[data-field='cap']").Text);

        // A cap below the reservation is refused, naming what is wrong; the rule stays as it was.
        reserved = browser.Find("#set-rule input[name=reserved]");
        reserved.Clear();
        reserved.SendKeys("2");
        browser.Find("#set-rule input[name=cap]").SendKeys("1");
        browser.Submit("#save-rule");
        Assert.Contains("max_seats", browser.Find("#problem").Text, StringComparison.Ordinal);
        Assert.Equal(2, (await RuleAsync())!.MaxSeats);

        browser.Submit("#remove-rule-oncall");
        browser.Find("#no-rules");
        Assert.Null(await RuleAsync());

        browser.Submit("#delete-team-oncall");
        browser.WaitUntil(b => !b.Has("tr[data-team='oncall']"), "the team deleted");
        Assert.Empty((await host.AdminClient.ListAgentGroupsAsync(new ListAgentGroupsRequest(), host.AdminHeaders(account))).Groups);
    }

    [Fact]
    public async Task A_webhook_is_added_paused_resumed_given_a_new_secret_and_deleted_in_the_page_and_the_broker_has_each_change()
    {
        var account = await _fixture.Seeder.AccountAsync();
        var host = _fixture.Host;
        async Task<WebhookEndpoint?> EndpointAsync() =>
            (await host.AdminClient.ListWebhookEndpointsAsync(new ListWebhookEndpointsRequest(), host.AdminHeaders(account))).Endpoints.SingleOrDefault();

        using var browser = new Browser();
        SignIn(browser, Admin(account), "/webhooks");
        browser.Find("#no-webhooks");
        browser.Find("#create-webhook input[name=url]").SendKeys("https://203.0.113.10/hooks");
        browser.Click("#create-webhook input[value='queue.joined']");
        browser.Click("#create-webhook input[value='queue.timed_out']");
        browser.Submit("#create-webhook-button");
        var secret = browser.Find("#secret").Text;
        Assert.StartsWith("whsec_", secret, StringComparison.Ordinal);
        var endpoint = await EndpointAsync();
        Assert.Equal(["queue.joined", "queue.timed_out"], endpoint!.EventTypes);
        Assert.Equal(WebhookEndpointState.Active, endpoint.State);
        Assert.Contains("An agent started waiting · A wait reached its longest time", browser.Find($"tr[data-endpoint='{endpoint.EndpointId}']").Text, StringComparison.Ordinal);

        browser.Submit($"#pause-{endpoint.EndpointId}");
        browser.WaitUntil(b => b.Has($"#enable-{endpoint.EndpointId}"), "the endpoint paused");
        Assert.Equal(WebhookEndpointState.Disabled, (await EndpointAsync())!.State);
        Assert.Equal("Paused", browser.Find($"tr[data-endpoint='{endpoint.EndpointId}'] td[data-field='state']").Text);
        browser.Submit($"#enable-{endpoint.EndpointId}");
        browser.WaitUntil(b => b.Has($"#pause-{endpoint.EndpointId}"), "the endpoint resumed");
        Assert.Equal(WebhookEndpointState.Active, (await EndpointAsync())!.State);

        browser.Submit($"#rotate-{endpoint.EndpointId}");
        browser.WaitUntil(b => b.Has("#secret") && b.Find("#secret").Text != secret, "a new secret shown");
        Assert.StartsWith("whsec_", browser.Find("#secret").Text, StringComparison.Ordinal);

        browser.Click($"#deliveries-{endpoint.EndpointId}");
        browser.Find("#no-deliveries");

        browser.Submit($"#delete-{endpoint.EndpointId}");
        browser.Find("#no-webhooks");
        Assert.Null(await EndpointAsync());
    }

    [Fact]
    public async Task A_provisioning_token_is_created_shown_once_and_revoked_and_a_team_mapped_and_unmapped_in_the_page()
    {
        var account = await _fixture.Seeder.AccountAsync();
        var host = _fixture.Host;
        using var browser = new Browser();
        SignIn(browser, Admin(account), "/provisioning");
        browser.Find("#no-tokens");
        browser.Find("#no-problems");
        browser.Find("#create-token input[name=name]").SendKeys("Okta");
        browser.Submit("#create-token-button");
        Assert.StartsWith("lbp_", browser.Find("#token-secret").Text, StringComparison.Ordinal);
        var token = (await host.AdminClient.ListProvisioningTokensAsync(new ListProvisioningTokensRequest(), host.AdminHeaders(account))).Tokens.Single();
        Assert.Equal("Okta", token.Name);
        Assert.Null(token.RevokedAt);

        // The secret is not shown again.
        browser.Go(Page("/provisioning"));
        Assert.False(browser.Has("#token-secret"));
        browser.Submit($"#revoke-{token.TokenId}");
        browser.WaitUntil(b => !b.Has($"#revoke-{token.TokenId}"), "the token revoked");
        Assert.NotNull((await host.AdminClient.ListProvisioningTokensAsync(new ListProvisioningTokensRequest(), host.AdminHeaders(account))).Tokens.Single().RevokedAt);

        browser.Find("#map-group input[name=groupName]").SendKeys("Support L2");
        browser.Click($"#map-group select[name=product] option[value='{Product}']");
        browser.Submit("#map-button");
        browser.Find("#done");
        var mapping = (await host.AdminClient.ListProvisioningGroupMappingsAsync(new ListProvisioningGroupMappingsRequest(), host.AdminHeaders(account))).Mappings.Single();
        Assert.Equal(("Support L2", Product, SeatType.Concurrent), (mapping.GroupName, mapping.Product, mapping.SeatType));
        Assert.Contains("Remote Support", browser.Find("#mappings").Text, StringComparison.Ordinal);
        browser.Submit("#mappings button.unmap");
        browser.Find("#no-mappings");
        Assert.Empty((await host.AdminClient.ListProvisioningGroupMappingsAsync(new ListProvisioningGroupMappingsRequest(), host.AdminHeaders(account))).Mappings);

        // A seat a team could not give (as the reconciler records it): the person by name and e-mail, linked to their page.
        await host.AdminClient.UpsertAgentAsync(
            new UpsertAgentRequest { AgentId = "u-dana-7c1", Email = "dana@example.test", DisplayName = "Dana Petit", Role = AgentRole.Member }, host.AdminHeaders(account));
        await using (var connection = new Npgsql.NpgsqlConnection(host.Database.ConnectionString))
        {
            await Dapper.SqlMapper.ExecuteAsync(
                connection,
                "INSERT INTO provisioning_problems (account_id, agent_id, product_code, reason, detail) VALUES (@account, 'u-dana-7c1', @product, 'NAMED_SEAT_LIMIT_REACHED', 'no named seat left')",
                new { account, product = Product });
        }

        browser.Go(Page("/provisioning"));
        var problem = browser.Find("#problems tr[data-agent='u-dana-7c1']");
        Assert.Contains("Dana Petit", problem.Text, StringComparison.Ordinal);
        Assert.Contains("dana@example.test", problem.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("u-dana-7c1", problem.Text, StringComparison.Ordinal);
        Assert.Equal("/users/u-dana-7c1", new Uri(problem.FindElement(By.CssSelector("a")).GetAttribute("href")!).PathAndQuery);
    }

    [Theory]
    [InlineData("en-US")]
    [InlineData("fr-FR")]
    public async Task Every_page_passes_axe_core_at_1280_and_320_pixels_and_none_scrolls_sideways_at_320(string language)
    {
        // Content that makes pages wide: long ids and addresses, a live session, a waiter, a team rule, a webhook, a token.
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 1);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT", prefix: "agent-with-a-rather-long-identifier");
        var host = _fixture.Host;
        await host.Agent(account, ids[0]).AcquireAsync(Product, deviceId: "a-desktop-with-a-very-long-device-name-0001");
        using var waiting = await QueueStream.JoinAsync(host.Agent(account, ids[1]), ids[1]);
        await host.AdminClient.UpsertAgentGroupAsync(
            new UpsertAgentGroupRequest { GroupId = "support-level-two-europe", DisplayName = "Support level two, Europe", ReplaceMembers = true, MemberIds = { ids[0] } },
            host.AdminHeaders(account));
        await host.AdminClient.SetGroupSeatRuleAsync(
            new SetGroupSeatRuleRequest { Product = Product, GroupId = "support-level-two-europe", ReservedSeats = 0, QueuePriority = QueuePriority.Incident }, host.AdminHeaders(account));
        await host.AdminClient.CreateWebhookEndpointAsync(
            new CreateWebhookEndpointRequest { Url = "https://203.0.113.10/a/rather/long/path/for/the/receiving/system/webhooks", EventTypes = { "queue.joined", "seat.granted" } },
            host.AdminHeaders(account));
        await host.AdminClient.CreateProvisioningTokenAsync(new CreateProvisioningTokenRequest { Name = "Okta production tenant" }, host.AdminHeaders(account));

        using var browser = new Browser(language);
        SignIn(browser, Admin(account), "/");
        var pages = new[]
        {
            "/", $"/sessions?product={Product}", "/users", "/users/" + ids[0], $"/history?product={Product}", $"/plan?product={Product}", $"/devices?product={Product}",
            $"/groups?product={Product}", "/activity", "/webhooks", "/provisioning", "/about-seats", "/time-zone", "/activity?person=agent",
        };

        // axe-core on every page, at 1280 and at 320 px: no violation of any impact.
        var violations = new List<string>();
        foreach (var width in new[] { 1280, 320 })
        {
            browser.Viewport(width);
            Assert.Equal(width, (long)((IJavaScriptExecutor)browser.Driver).ExecuteScript("return window.innerWidth;")!);
            foreach (var path in pages)
            {
                browser.Go(Page(path));
                browser.Find("main h1");
                violations.AddRange(browser.AxeViolations().Select(v => $"{path} at {width} px: {v}"));

                // Words, not codes: no product slug, audit action or service id in what the page says.
                var text = browser.PageText;
                foreach (var code in new[] { Product, "seat.granted", "queue.joined", "group.rule_set", "service:" })
                {
                    if (text.Contains(code, StringComparison.Ordinal))
                    {
                        violations.Add($"{path} at {width} px shows the code {code}");
                    }
                }
                if (width == 320)
                {
                    Assert.True(browser.Overflow() <= 0, $"{path} in {language} is {browser.Overflow()} px wider than 320 px: {browser.TooWide()}");
                }
            }
        }

        Assert.True(violations.Count == 0, $"axe-core in {language}:\n" + string.Join('\n', violations));

        // A person's page is titled with their name; Seats & Devices links to what its figures mean.
        browser.Go(Page("/users/" + ids[0]));
        Assert.StartsWith(browser.Find("#user-name").Text + " · ", browser.Driver.Title, StringComparison.Ordinal);
        browser.Go(Page("/"));
        browser.Click("#about-seats");
        browser.Find("#back-to-seats");
    }

    [Fact]
    public async Task Two_sessions_are_ended_with_the_keyboard_alone()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 3);
        var ids = await _fixture.Seeder.AgentsAsync(account, 3, "CONCURRENT");
        var leases = new List<Lease>();
        foreach (var id in ids)
        {
            leases.Add((await _fixture.Host.Agent(account, id).AcquireAsync(Product)).Lease);
        }

        using var browser = new Browser();
        SignIn(browser, Admin(account), $"/sessions?product={Product}");
        browser.Find("#sessions");
        browser.TabTo($"select-{leases[0].LeaseId}");
        browser.Press(Keys.Space);
        browser.TabTo($"select-{leases[1].LeaseId}");
        browser.Press(Keys.Space);
        browser.TabTo("end-selected");
        browser.Press(Keys.Enter);
        browser.Find("#confirm-end");
        browser.TabTo("confirm-end-button");
        browser.Press(Keys.Enter);
        browser.Find("#ended");
        var left = await _fixture.Host.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, _fixture.Host.AdminHeaders(account));
        Assert.Equal([leases[2].LeaseId], left.Sessions.Select(s => s.LeaseId));
    }

    [Fact]
    public async Task Times_are_shown_in_the_browsers_time_zone_then_in_the_one_the_admin_chose_kept_for_them_with_utc_on_hover()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 1);
        var id = (await _fixture.Seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];
        await _fixture.Host.Agent(account, id).AcquireAsync(Product);
        var admin = Admin(account);

        // The browser says it is in São Paulo: after its first page (the script reports it), times are shown there.
        using (var browser = new Browser())
        {
            browser.EmulateTimeZone("America/Sao_Paulo");
            SignIn(browser, admin, $"/sessions?product={Product}");
            browser.Go(Page($"/sessions?product={Product}"));
            Assert.EndsWith("America/Sao_Paulo", browser.Find($"tr[data-agent='{id}'] time").Text, StringComparison.Ordinal);
            Assert.Equal("America/Sao_Paulo", browser.Find("#time-zone-link").Text);

            // The admin chooses Paris: kept by the broker for this person.
            browser.Click("#time-zone-link");
            browser.Click("#time-zone option[value='Europe/Paris']");
            browser.Submit("#save-time-zone");
            AssertShownInParis(browser, id);
        }

        var stored = await _fixture.Host.AdminClient.GetMyPreferencesAsync(new GetMyPreferencesRequest(), _fixture.Host.AdminHeaders(account, admin.UserName));
        Assert.Equal("Europe/Paris", stored.TimeZone);

        // Another browser, in Tokyo, the same person: the choice follows them.
        using (var elsewhere = new Browser())
        {
            elsewhere.EmulateTimeZone("Asia/Tokyo");
            SignIn(elsewhere, admin, $"/sessions?product={Product}");
            elsewhere.Go(Page($"/sessions?product={Product}"));
            AssertShownInParis(elsewhere, id);
            elsewhere.Go(Page("/time-zone"));
            Assert.Contains("(your choice)", elsewhere.Find("#time-zone-now").Text, StringComparison.Ordinal);
        }

        // A zone that is not one is refused by the broker, naming the field; the choice stays.
        var refused = await Assert.ThrowsAsync<RpcException>(() => _fixture.Host.AdminClient.SetMyPreferencesAsync(
            new SetMyPreferencesRequest { TimeZone = "../../etc/passwd" }, _fixture.Host.AdminHeaders(account, admin.UserName)).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Contains("time_zone", refused.Status.Detail, StringComparison.Ordinal);
        Assert.Equal("Europe/Paris", (await _fixture.Host.AdminClient.GetMyPreferencesAsync(new GetMyPreferencesRequest(), _fixture.Host.AdminHeaders(account, admin.UserName))).TimeZone);
    }

    private static void AssertShownInParis(Browser browser, string agentId)
    {
        var local = browser.Find($"tr[data-agent='{agentId}'] time");
        var at = DateTimeOffset.Parse(local.GetAttribute("datetime")!, System.Globalization.CultureInfo.InvariantCulture);
        var paris = TimeZoneInfo.FindSystemTimeZoneById("Europe/Paris");
        // "12/5/2026 8:17 PM Europe/Paris": Paris's hour and minute (this process's culture data may differ from the console's).
        var there = TimeZoneInfo.ConvertTime(at, paris);
        Assert.EndsWith($"{(there.Hour % 12 == 0 ? 12 : there.Hour % 12)}:{there.Minute:00} {(there.Hour < 12 ? "AM" : "PM")} Europe/Paris", local.Text.Replace('\u202F', ' '), StringComparison.Ordinal);
        Assert.Equal(at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) + " UTC", local.GetAttribute("title"));
        Assert.Equal("Europe/Paris", browser.Find("#time-zone-link").Text);
    }

    [Fact]
    public async Task A_member_without_privileges_is_refused_every_page_and_ids_of_another_account_show_nothing()
    {
        var account = await _fixture.Seeder.AccountAsync();
        var other = await _fixture.Seeder.AccountAsync();
        var strangers = await _fixture.Seeder.AgentsAsync(other, 1, "CONCURRENT", prefix: "stranger");
        var lease = (await _fixture.Host.Agent(other, strangers[0]).AcquireAsync(Product)).Lease;

        using (var member = new Browser())
        {
            SignIn(member, new OidcPerson("member-" + account, account, "Mo Member", "mo@example.test", "MEMBER"), "/");
            foreach (var path in new[] { "/", "/sessions", "/users", "/users/" + strangers[0], "/history", "/plan", "/devices", "/groups", "/activity", "/webhooks", "/provisioning" })
            {
                member.Go(Page(path));
                member.Find("#not-allowed");
                Assert.DoesNotContain(strangers[0], member.PageText, StringComparison.Ordinal);
            }
        }

        using var admin = new Browser();
        SignIn(admin, Admin(account), "/users/" + strangers[0]);
        admin.Find("#not-found");
        admin.Go(Page($"/sessions?product={Product}"));
        admin.Find("#no-sessions");
        Assert.DoesNotContain(lease.LeaseId, admin.Driver.PageSource, StringComparison.Ordinal);
        await _fixture.Host.Agent(other, strangers[0]).HeartbeatAsync(lease);
    }

    [Fact]
    public async Task The_plan_seats_page_recommends_one_seat_more_when_a_daily_waiter_waits_an_hour_and_a_half_in_both_languages()
    {
        // Five days of history: two agents hold the two shared seats from 09:00, a third queues at 09:30 and gets the
        // first seat freed at 11:00; recorded as the broker records it (audit rows in the pool's sequence).
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 2, namedSeats: 0);
        var ids = await _fixture.Seeder.AgentsAsync(account, 3, "CONCURRENT");
        await using (var connection = new Npgsql.NpgsqlConnection(_fixture.Host.Database.ConnectionString))
        {
            var rows = new List<(DateTime At, string Agent, string Action, string After)>();
            for (var day = 1; day <= 5; day++)
            {
                var at = (double hours) => DateTime.UtcNow.Date.AddDays(-day).AddHours(hours);
                rows.Add((at(9), ids[0], "seat.granted", $$"""{"lease_id":"a{{day}}","in_use":1}"""));
                rows.Add((at(9.01), ids[1], "seat.granted", $$"""{"lease_id":"b{{day}}","in_use":2}"""));
                rows.Add((at(9.5), ids[2], "queue.joined", "{}"));
                rows.Add((at(11), ids[0], "seat.released", $$"""{"lease_id":"a{{day}}"}"""));
                rows.Add((at(11), ids[2], "seat.granted", $$"""{"lease_id":"c{{day}}","in_use":2}"""));
                rows.Add((at(12), ids[2], "seat.released", $$"""{"lease_id":"c{{day}}"}"""));
                rows.Add((at(13), ids[1], "seat.released", $$"""{"lease_id":"b{{day}}"}"""));
            }

            // Sequences as the pool makes them: never below the event's time in microseconds.
            var n = 0;
            foreach (var row in rows.OrderBy(r => r.At))
            {
                var seq = (new DateTimeOffset(row.At, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1000) + n++;
                await Dapper.SqlMapper.ExecuteAsync(
                    connection,
                    "INSERT INTO audit_events (occurred_at, account_id, product_code, actor, action, subject, after, event_seq) VALUES (@At, @account, @Product, @Agent, @Action, @Agent, @After::jsonb, @seq)",
                    new { row.At, account, Product, row.Agent, row.Action, row.After, seq });
            }
        }

        using (var browser = new Browser())
        {
            SignIn(browser, Admin(account), $"/plan?product={Product}&days=7");
            Assert.Equal("Recommended: 3 shared seats (you have 2).", browser.Find("#recommendation").Text);
            Assert.StartsWith("15 logins replayed; at most 2 shared seats were in use at once.", browser.Find("#plan-basis").Text, StringComparison.Ordinal);
            Assert.Equal(8, browser.All("#plan-chart rect").Count); // 0 to the recorded peak + 5
            Assert.Contains("recommended", browser.Find("#plan tr[data-seats='3']").GetAttribute("class"), StringComparison.Ordinal);
            Assert.Contains("90", browser.Find("#plan tr[data-seats='2']").Text, StringComparison.Ordinal); // the third agent waited 90 min
            Assert.Contains("(now)", browser.Find("#plan tr[data-seats='2'] th").Text, StringComparison.Ordinal);
            Assert.Contains("Plan seats", browser.Find("nav").Text, StringComparison.Ordinal);
            browser.Screenshot("plan-seats");

            // Waits of two hours are acceptable: two seats do.
            browser.Go(Page($"/plan?product={Product}&days=7&wait=120"));
            Assert.Equal("Recommended: 2 shared seats (you have 2).", browser.Find("#recommendation").Text);
        }

        using var french = new Browser("fr-FR,fr");
        SignIn(french, Admin(account), $"/plan?product={Product}&days=7");
        // textContent: WebDriver's visible text turns non-breaking spaces into plain ones.
        Assert.Equal("Combien de postes partagés nous faut-il\u00a0?", french.Find("h1").GetDomProperty("textContent"));
        Assert.Contains("3 postes partagés (vous en avez 2)", french.Find("#recommendation").Text, StringComparison.Ordinal);
        Assert.Contains("(actuel)", french.Find("#plan tr[data-seats='2'] th").Text, StringComparison.Ordinal);
        french.Screenshot("planifier-les-postes");
    }

    [Fact]
    public async Task With_a_French_browser_the_pages_use_the_seeds_words_and_the_switcher_is_remembered()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 1);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        await _fixture.Host.Agent(account, ids[0]).AcquireAsync(Product);
        await Assert.ThrowsAsync<RpcException>(() => _fixture.Host.Agent(account, ids[1]).AcquireAsync(Product));

        using var browser = new Browser("fr-FR,fr");
        SignIn(browser, Admin(account), "/");
        Assert.Equal("Postes et périphériques", browser.Find("h1").Text);
        Assert.Equal("Tous les postes partagés étaient utilisés\u00a0: 1 fois", browser.Find($"#refusals-{Product}").GetDomProperty("textContent"));
        Assert.Contains("Postes nominatifs attribués", browser.PageText, StringComparison.Ordinal);
        Assert.Contains("Postes simultanés utilisés", browser.PageText, StringComparison.Ordinal);
        browser.Screenshot("postes-et-peripheriques");
        browser.Go(Page($"/sessions?product={Product}"));
        Assert.Equal("Mettre fin à la session", browser.Find("#end-selected").Text);
        Assert.Contains("Gérer les sessions partagées", browser.Find("nav").Text, StringComparison.Ordinal);

        browser.Submit("#lang-en");
        browser.WaitUntil(b => b.Find("#end-selected").Text == "End session", "English after the switch");
        browser.Go(Page("/"));
        Assert.Equal("Seats & Devices", browser.Find("h1").Text);
    }

    [Fact]
    public async Task Posts_without_the_antiforgery_token_are_refused_and_every_answer_carries_the_security_headers()
    {
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        var anonymous = await http.GetAsync(Page("/sessions"));
        Assert.True(anonymous.StatusCode == HttpStatusCode.Redirect, $"{anonymous.StatusCode}: {_fixture.Console.Output}");
        Assert.StartsWith(_fixture.Provider.Issuer.ToString(), anonymous.Headers.Location!.ToString(), StringComparison.Ordinal);

        var page = await http.GetAsync(Page("/not-allowed"));
        var csp = page.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("script-src 'self'", csp, StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-inline", csp, StringComparison.Ordinal);
        Assert.Equal("DENY", page.Headers.GetValues("X-Frame-Options").Single());
        // One script, from the console itself (the browser's time zone), never an inline one.
        var scripts = System.Text.RegularExpressions.Regex.Matches(await page.Content.ReadAsStringAsync(), "<script[^>]*>", System.Text.RegularExpressions.RegexOptions.IgnoreCase);
        Assert.Equal(["<script src=\"time-zone.js\" defer>"], scripts.Select(m => m.Value));

        foreach (var path in new[] { "/culture", "/signout" })
        {
            var post = await http.PostAsync(Page(path), new FormUrlEncodedContent(new Dictionary<string, string> { ["culture"] = "fr", ["returnUrl"] = "/" }));
            Assert.Equal(HttpStatusCode.BadRequest, post.StatusCode);
            Assert.False(post.Headers.Contains("Set-Cookie"), path + " set a cookie without the antiforgery token");
        }

        // A signed-in admin's own session cannot be driven by a forged form either.
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 2);
        var ids = await _fixture.Seeder.AgentsAsync(account, 1, "CONCURRENT");
        var lease = (await _fixture.Host.Agent(account, ids[0]).AcquireAsync(Product)).Lease;
        using var browser = new Browser();
        SignIn(browser, Admin(account), $"/sessions?product={Product}");
        var cookies = string.Join("; ", browser.Driver.Manage().Cookies.AllCookies.Where(c => c.Name == "lbadmin").Select(c => $"{c.Name}={c.Value}"));
        using var forged = new HttpRequestMessage(HttpMethod.Post, Page($"/sessions?product={Product}"))
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["_handler"] = "end-select", ["step"] = "confirm", ["lease"] = lease.LeaseId }),
        };
        forged.Headers.Add("Cookie", cookies);
        Assert.Equal(HttpStatusCode.BadRequest, (await http.SendAsync(forged)).StatusCode);
        await _fixture.Host.Agent(account, ids[0]).HeartbeatAsync(lease);
        Assert.DoesNotContain("access_token", browser.Driver.PageSource, StringComparison.Ordinal);
        Assert.DoesNotContain("eyJ", browser.Driver.PageSource, StringComparison.Ordinal);

        // The session cookie is a key to a server-side ticket, not the tokens themselves.
        Assert.InRange(cookies.Length, 1, 400);
    }
}

/// <summary>Browser tests run one class at a time: each Chromium takes a core while it renders.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class BrowserCollection
{
    public const string Name = "browser";
}
