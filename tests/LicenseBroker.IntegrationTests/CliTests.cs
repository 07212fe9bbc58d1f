using System.Diagnostics;
using System.Text.Json;
using LicenseBroker.Contracts.V1;
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
    public async Task A_reservation_for_a_group_whose_members_all_hold_named_seats_is_saved_with_a_warning_in_the_api_and_the_cli()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 3, namedSeats: 2);
        var named = await _fixture.Seeder.AgentsAsync(account, 2, "NAMED", prefix: "named");
        var admin = _fixture.Host.AdminHeaders(account);
        await _fixture.Host.AdminClient.UpsertAgentGroupAsync(
            new UpsertAgentGroupRequest { GroupId = "nights", DisplayName = "Night shift", ReplaceMembers = true, MemberIds = { named } }, admin);

        var response = await _fixture.Host.AdminClient.SetGroupSeatRuleAsync(new SetGroupSeatRuleRequest { Product = Product, GroupId = "nights", ReservedSeats = 1 }, admin);
        Assert.Equal(1, response.Rule.ReservedSeats); // saved all the same
        var warning = Assert.Single(response.Warnings);
        Assert.Equal(("RESERVATION_UNUSABLE", 0), (warning.Code, warning.MembersWhoMayShare));
        Assert.Contains("group nights", warning.Message, StringComparison.Ordinal);

        var cli = await RunCli(account, null, "groups", "reserve", "--group", "nights", "--seats", "2");
        Assert.Equal(0, cli.ExitCode);
        Assert.Contains("warning (RESERVATION_UNUSABLE): 2 shared seats are kept for group nights, but only 0 of its members", cli.Output, StringComparison.Ordinal);

        // One member on a concurrent seat: a reservation of one is usable, and says nothing.
        await _fixture.Host.AdminClient.AssignSeatAsync(new AssignSeatRequest { AgentId = named[0], Product = Product, SeatType = SeatType.Concurrent }, admin);
        Assert.Empty((await _fixture.Host.AdminClient.SetGroupSeatRuleAsync(new SetGroupSeatRuleRequest { Product = Product, GroupId = "nights", ReservedSeats = 1 }, admin)).Warnings);
    }

    [Fact]
    public async Task An_admin_shows_and_sets_the_session_timeouts_through_the_cli_and_a_bad_one_changes_nothing()
    {
        var account = await _fixture.Seeder.AccountAsync();
        var shown = await RunCli(account, null, "sessions", "timeouts");
        Assert.Equal(0, shown.ExitCode);
        Assert.Contains("pending timeout: off, idle timeout: off", shown.Output, StringComparison.Ordinal);

        var set = await RunCli(account, null, "sessions", "timeouts", "--idle-timeout", "15m");
        Assert.Equal(0, set.ExitCode);
        Assert.Contains("pending timeout: off, idle timeout: 00:15:00", set.Output, StringComparison.Ordinal);
        var subscription = (await _fixture.Host.SubscriptionClient.GetSubscriptionAsync(
            new GetSubscriptionRequest { AccountId = account, Product = Product }, _fixture.Host.ServiceHeaders())).Subscription;
        Assert.Equal((0, 900), (subscription.PendingTimeoutSeconds, subscription.IdleTimeoutSeconds));

        // Above a day: refused by the broker naming the field; the stored rule stays.
        var refused = await RunCli(account, null, "sessions", "timeouts", "--pending-timeout", "2d");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("pending_timeout_seconds", refused.Error, StringComparison.Ordinal);
        subscription = (await _fixture.Host.SubscriptionClient.GetSubscriptionAsync(
            new GetSubscriptionRequest { AccountId = account, Product = Product }, _fixture.Host.ServiceHeaders())).Subscription;
        Assert.Equal((0, 900), (subscription.PendingTimeoutSeconds, subscription.IdleTimeoutSeconds));
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

        // --dry-run says what a change would end, and changes nothing.
        var lease = (await _fixture.Host.Agent(account, ids[0]).AcquireAsync(Product, deviceId: "desk-4")).Lease;
        var wouldSwitch = await RunCli(account, null, "seats", "assign", "--agent-id", ids[0], "--type", "concurrent", "--dry-run");
        Assert.Equal(0, wouldSwitch.ExitCode);
        Assert.Contains($"would give {ids[0]} a Concurrent seat of {Product}, ending 1 live session (desk-4)", wouldSwitch.Output, StringComparison.Ordinal);
        var wouldRemove = await RunCli(account, null, "seats", "unassign", "--agent-id", ids[0], "--dry-run");
        Assert.Contains("would remove the seat, ending 1 live session (desk-4)", wouldRemove.Output, StringComparison.Ordinal);
        Assert.Equal(lease.FencingToken, (await _fixture.Host.Agent(account, ids[0]).HeartbeatAsync(lease)).FencingToken);
        Assert.True(await _fixture.Host.Agent(account, ids[0]).ReleaseAsync(lease));

        var refused = await RunCli(account, null, "seats", "assign", "--agent-id", ids[1], "--type", "named");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("FailedPrecondition (NAMED_SEAT_LIMIT_REACHED): All 1 named seats", refused.Error, StringComparison.Ordinal);

        var agents = await RunCli(account, null, "agents", "list", "--product", Product, "--seat-type", "named");
        Assert.Equal(0, agents.ExitCode);
        Assert.Contains(ids[0], agents.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(ids[1], agents.Output, StringComparison.Ordinal);

        var searched = await RunCli(account, null, "agents", "list", "--query", ids[1]);
        Assert.Contains(ids[1], searched.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(ids[0], searched.Output, StringComparison.Ordinal);

        // The assignment above is in the audit log; the refused one is not.
        var audit = await RunCli(account, null, "audit", "list", "--action", "seat.assign", "--since", "1h");
        Assert.Equal(0, audit.ExitCode);
        Assert.Contains("seat.assign", audit.Output, StringComparison.Ordinal);
        Assert.Contains(ids[0], audit.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(ids[1], audit.Output, StringComparison.Ordinal);
        Assert.Equal(2, (await RunCli(account, null, "audit", "list", "--since", "soon")).ExitCode);

        var usage = await RunCli(account, null, "usage", "--product", Product);
        Assert.Equal(0, usage.ExitCode);
        Assert.Contains("1/1", usage.Output, StringComparison.Ordinal);
        Assert.Contains("0/3", usage.Output, StringComparison.Ordinal);

        var history = await RunCli(account, null, "usage", "history", "--product", Product, "--days", "3", "--json");
        Assert.Equal(0, history.ExitCode);
        using var document = JsonDocument.Parse(history.Output);
        Assert.Equal(3, document.RootElement.GetProperty("days").GetArrayLength());
    }

    [Fact]
    public async Task Usage_says_under_the_table_until_when_a_pool_rebuilds_after_redis_lost_its_data()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 2);
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        await _fixture.Host.Agent(account, ids[0]).AcquireAsync(Product);
        Assert.DoesNotContain("rebuilding", (await RunCli(account, null, "usage")).Output, StringComparison.Ordinal);

        await RedisDataLoss.LosePoolAsync(_fixture.Host.Services, new LicenseBroker.Domain.Seats.PoolId(account, Product));
        await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => _fixture.Host.Agent(account, ids[1]).AcquireAsync(Product));
        var usage = await RunCli(account, null, "usage");
        Assert.Equal(0, usage.ExitCode);
        Assert.Matches(
            "Remote Support is rebuilding after Redis lost its live data: sessions in progress come back by themselves, new ones are refused until [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} UTC[.]",
            usage.Output);
    }

    [Fact]
    public async Task Usage_overage_prints_the_statement_as_a_table_and_as_csv()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 1);
        var subscription = (await _fixture.Host.SubscriptionClient.GetSubscriptionAsync(
            new Contracts.V1.GetSubscriptionRequest { AccountId = account, Product = Product }, _fixture.Host.ServiceHeaders())).Subscription;
        subscription.OverageMode = Contracts.V1.OverageMode.Alert;
        subscription.OverageSeats = 1;
        await _fixture.Host.SubscriptionClient.UpsertSubscriptionAsync(new Contracts.V1.UpsertSubscriptionRequest { Subscription = subscription }, _fixture.Host.ServiceHeaders());
        var ids = await _fixture.Seeder.AgentsAsync(account, 2, "CONCURRENT");
        await _fixture.Host.Agent(account, ids[0]).AcquireAsync(Product);
        var over = await _fixture.Host.Agent(account, ids[1]).AcquireAsync(Product);
        Assert.True(over.Overage);
        Assert.True(await _fixture.Host.Agent(account, ids[1]).ReleaseAsync(over.Lease));
        await _fixture.Host.AuditWrittenAsync();

        var today = DateTime.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        var table = await RunCli(account, null, "usage", "overage");
        Assert.True(table.ExitCode == 0, table.Error);
        Assert.Contains("OVERAGE SEAT-HOURS", table.Output, StringComparison.Ordinal);
        Assert.Matches($"{today} +[0-9.]+ +1", table.Output);

        var csv = await RunCli(account, null, "usage", "overage", "--csv");
        Assert.True(csv.ExitCode == 0, csv.Error);
        var lines = csv.Output.Trim().Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        Assert.Equal("kind,period,overage_seat_seconds,overage_seat_hours,peak_overage_seats", lines[0]);
        var todayLine = Assert.Single(lines, l => l.StartsWith($"day,{today},", StringComparison.Ordinal));
        Assert.EndsWith(",1", todayLine, StringComparison.Ordinal);
        Assert.Contains(lines, l => l.StartsWith($"month,{today[..7]},", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Durations_take_units_and_a_bare_number_or_a_bad_role_is_a_usage_error()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 1);
        var agent = (await _fixture.Seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];

        // "--for 2" used to mean two days, silently; now it asks for a unit.
        var bare = await RunCli(account, null, "agent", "login", "--agent", agent, "--for", "2");
        Assert.Equal(2, bare.ExitCode);
        Assert.Contains("'2' has no unit: write 2s, 2m or 2h", bare.Error, StringComparison.Ordinal);

        var garbage = await RunCli(account, null, "agent", "login", "--agent", agent, "--for", "soon");
        Assert.Equal(2, garbage.ExitCode);
        Assert.DoesNotContain("System.", garbage.Error, StringComparison.Ordinal);

        // "--for 2s": a seat for two seconds, then given back.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var held = await RunCli(account, null, ["agent", "login", "--agent", agent, "--for", "2s"], token: null);
        Assert.True(held.ExitCode == 0, held.Error);
        Assert.Contains("seat acquired: Concurrent", held.Output, StringComparison.Ordinal);
        Assert.Contains("seat released", held.Output, StringComparison.Ordinal);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(60));
        Assert.Empty((await _fixture.Host.AdminClient.ListSharedSessionsAsync(new Contracts.V1.ListSharedSessionsRequest { Product = Product }, _fixture.Host.AdminHeaders(account))).Sessions);

        var role = await RunCli(account, null, "token", "--role", "SUPERUSER");
        Assert.Equal(2, role.ExitCode);
        Assert.Contains("--role: 'SUPERUSER' is not one of admin, manager, member", role.Error, StringComparison.Ordinal);
        var privilege = await RunCli(account, null, "sessions", "list", "--privilege", "everything");
        Assert.Equal(2, privilege.ExitCode);

        var lifetime = await RunCli(account, null, "token", "--role", "admin", "--lifetime", "90s", "--agent", "x");
        Assert.Equal(0, lifetime.ExitCode);
        var jwt = new Microsoft.IdentityModel.JsonWebTokens.JsonWebToken(lifetime.Output.Trim());
        Assert.Equal("ADMIN", jwt.GetClaim("role").Value);
        Assert.InRange(jwt.ValidTo - jwt.ValidFrom, TimeSpan.FromSeconds(89), TimeSpan.FromSeconds(91));
    }

    [Fact]
    public async Task Unknown_leases_agents_and_products_and_an_unreachable_broker_are_errors_with_their_exit_codes()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 2);
        var agent = (await _fixture.Seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];
        var live = (await _fixture.Host.Agent(account, agent).AcquireAsync(Product)).Lease;

        var unknownLease = await RunCli(account, null, "sessions", "end", "ls_" + new string('Q', 22), "--yes");
        Assert.Equal(4, unknownLease.ExitCode);
        Assert.Contains("no live session of lease ls_QQQQ", unknownLease.Error, StringComparison.Ordinal);

        var unknownAgent = await RunCli(account, null, "sessions", "end", "--agent", "ghost", "--yes");
        Assert.Equal(4, unknownAgent.ExitCode);
        Assert.Contains("agent ghost", unknownAgent.Error, StringComparison.Ordinal);

        // One known, one unknown: the known one ends, and the exit code still says something was wrong.
        var mixed = await RunCli(account, null, "sessions", "end", live.LeaseId, "ls_" + new string('R', 22), "--yes");
        Assert.Equal(4, mixed.ExitCode);
        Assert.Contains($"ended {live.LeaseId}", mixed.Output, StringComparison.Ordinal);

        var unknownProduct = await RunCli(account, null, "sessions", "list", "--product", "no-such-product");
        Assert.Equal(4, unknownProduct.ExitCode);
        Assert.Contains("the account has no product 'no-such-product' (it has: remote-support)", unknownProduct.Error, StringComparison.Ordinal);
        Assert.Equal(4, (await RunCli(account, null, "usage", "--product", "no-such-product")).ExitCode);
        Assert.Equal(4, (await RunCli(account, null, "seats", "unassign", "--agent-id", "ghost")).ExitCode);
        Assert.Equal(4, (await RunCli(account, null, "seats", "assign", "--agent-id", "ghost", "--type", "concurrent")).ExitCode);
        Assert.Equal(2, (await RunCli(account, null, "seats", "assign", "--agent-id", agent, "--type", "gold")).ExitCode);

        var nowhere = $"http://127.0.0.1:{Processes.FreePort()}";
        var unreachable = await RunCli(account, null, ["usage"], AdminToken(account), server: nowhere);
        Assert.Equal(5, unreachable.ExitCode);
        Assert.Contains($"cannot reach the broker at {nowhere}", unreachable.Error, StringComparison.Ordinal);
        var agentUnreachable = await RunCli(account, null, ["agent", "login", "--agent", agent], token: null, server: nowhere);
        Assert.Equal(5, agentUnreachable.ExitCode);
        Assert.Contains($"cannot reach the broker at {nowhere}", agentUnreachable.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_lists_the_exit_codes_and_what_as_does()
    {
        var help = await RunCli("any", null, "--help");
        Assert.Equal(0, help.ExitCode);
        Assert.Contains("Exit codes: 0 ok; 1 refused by the broker; 2 bad command line; 3 not confirmed; 4 unknown lease, agent or product", help.Output, StringComparison.Ordinal);
        var sessions = await RunCli("any", null, "sessions", "list", "--help");
        Assert.Contains("mints a development token", sessions.Output, StringComparison.Ordinal);
        Assert.Contains("--role", sessions.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task As_with_a_role_mints_that_role_and_the_broker_names_the_missing_privilege()
    {
        var account = await _fixture.Seeder.AccountAsync();
        var member = await RunCli(account, null, ["usage", "--as", "bob", "--role", "member"], token: null);
        Assert.Equal(1, member.ExitCode);
        Assert.Contains("PermissionDenied (MISSING_PRIVILEGE)", member.Error, StringComparison.Ordinal);
        Assert.Contains("MANAGE_SEATS", member.Error, StringComparison.Ordinal);

        var manager = await RunCli(account, null, ["usage", "--as", "bob", "--role", "manager", "--privilege", "manage_seats"], token: null);
        Assert.True(manager.ExitCode == 0, manager.Error);
    }

    [Fact]
    public async Task Subscription_set_changes_only_the_options_given()
    {
        var validUntil = DateTimeOffset.UtcNow.AddDays(10);
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 3, namedSeats: 2, validUntil: validUntil, plan: "TRIAL");
        var service = Cli.DevTokens.Mint(_fixture.Host.SigningKey, "backoffice", "billing", TimeSpan.FromMinutes(10), extraClaims: Cli.DevTokens.Claims(service: true));

        var set = await RunCli(account, null, ["subscription", "set", "--concurrent", "7", "--json"], token: service);
        Assert.True(set.ExitCode == 0, set.Error);
        var subscription = (await _fixture.Host.SubscriptionClient.GetSubscriptionAsync(
            new Contracts.V1.GetSubscriptionRequest { AccountId = account, Product = Product }, _fixture.Host.ServiceHeaders())).Subscription;
        Assert.Equal(7, subscription.ConcurrentSeatLimit);
        Assert.Equal(2, subscription.NamedSeatLimit);
        Assert.Equal(Contracts.V1.Plan.Trial, subscription.Plan);
        Assert.InRange(subscription.ValidUntil.ToDateTimeOffset(), validUntil.AddSeconds(-1), validUntil.AddSeconds(1));

        // A new subscription needs its limits.
        var missing = await RunCli(account, null, ["subscription", "set", "--product", "monitoring", "--plan", "trial"], token: service);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("give --named and --concurrent", missing.Error, StringComparison.Ordinal);
        Assert.Equal(2, (await RunCli(account, null, ["subscription", "set", "--plan", "gold"], token: service)).ExitCode);

        // Idle-seat timeouts: set, shown, switched off; a bare number or a timeout under a minute refused.
        var timeouts = await RunCli(account, null, ["subscription", "set", "--pending-timeout", "5m", "--idle-timeout", "1h"], token: service);
        Assert.True(timeouts.ExitCode == 0, timeouts.Error);
        Assert.Contains("00:05:00", timeouts.Output, StringComparison.Ordinal);
        Assert.Contains("01:00:00", timeouts.Output, StringComparison.Ordinal);
        Assert.True((await RunCli(account, null, ["subscription", "set", "--idle-timeout", "off"], token: service)).ExitCode == 0);
        subscription = (await _fixture.Host.SubscriptionClient.GetSubscriptionAsync(
            new Contracts.V1.GetSubscriptionRequest { AccountId = account, Product = Product }, _fixture.Host.ServiceHeaders())).Subscription;
        Assert.Equal((300, 0, 7), (subscription.PendingTimeoutSeconds, subscription.IdleTimeoutSeconds, subscription.ConcurrentSeatLimit));
        Assert.Equal(2, (await RunCli(account, null, ["subscription", "set", "--pending-timeout", "5"], token: service)).ExitCode);
        var tooShort = await RunCli(account, null, ["subscription", "set", "--pending-timeout", "30s"], token: service);
        Assert.NotEqual(0, tooShort.ExitCode);
        Assert.Contains("pending_timeout_seconds", tooShort.Error, StringComparison.Ordinal);

        // Revive window and outage grace: set and shown; left alone by a set that does not name them; 15 minutes at most.
        var recovery = await RunCli(account, null, ["subscription", "set", "--revive-window", "2m", "--outage-grace", "15m"], token: service);
        Assert.True(recovery.ExitCode == 0, recovery.Error);
        Assert.Contains("00:02:00", recovery.Output, StringComparison.Ordinal);
        Assert.Contains("00:15:00", recovery.Output, StringComparison.Ordinal);
        Assert.True((await RunCli(account, null, ["subscription", "set", "--concurrent", "8"], token: service)).ExitCode == 0);
        subscription = (await _fixture.Host.SubscriptionClient.GetSubscriptionAsync(
            new Contracts.V1.GetSubscriptionRequest { AccountId = account, Product = Product }, _fixture.Host.ServiceHeaders())).Subscription;
        Assert.Equal((120, 900, 8), (subscription.ReviveWindowSeconds, subscription.OutageGraceSeconds, subscription.ConcurrentSeatLimit));
        var tooLong = await RunCli(account, null, ["subscription", "set", "--outage-grace", "16m"], token: service);
        Assert.NotEqual(0, tooLong.ExitCode);
        Assert.Contains("outage_grace_seconds", tooLong.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Groups_are_created_given_members_reserved_seats_and_listed()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 4);
        var ids = await _fixture.Seeder.AgentsAsync(account, 3, "CONCURRENT");

        var set = await RunCli(account, null, "groups", "set", "--group", "night-shift", "--name", "Night shift", "--members", ids[0], ids[1]);
        Assert.True(set.ExitCode == 0, set.Error);
        Assert.Contains("created night-shift (Night shift): 2 member(s)", set.Output, StringComparison.Ordinal);
        var reserve = await RunCli(account, null, "groups", "reserve", "--group", "night-shift", "--seats", "2", "--max", "3");
        Assert.True(reserve.ExitCode == 0, reserve.Error);
        Assert.Contains("remote-support: 2 reserved, at most 3", reserve.Output, StringComparison.Ordinal);

        // Over the limit: the broker's refusal, in words, with exit code 1.
        var over = await RunCli(account, null, "groups", "reserve", "--group", "night-shift", "--seats", "5");
        Assert.Equal(1, over.ExitCode);
        Assert.Contains("4 shared seats", over.Error, StringComparison.Ordinal);

        // A rename keeps the members; the list shows them, and the sessions show the group.
        Assert.Equal(0, (await RunCli(account, null, "groups", "set", "--group", "night-shift", "--name", "Nights")).ExitCode);
        var list = await RunCli(account, null, "groups", "list", "--group", "night-shift");
        Assert.Contains("Nights", list.Output, StringComparison.Ordinal);
        Assert.Contains($"night-shift: {ids[0]}, {ids[1]}", list.Output, StringComparison.Ordinal);
        await _fixture.Host.Agent(account, ids[0]).AcquireAsync(Product);
        var sessions = await RunCli(account, null, "sessions", "list");
        Assert.Contains("night-shift (reserved)", sessions.Output, StringComparison.Ordinal);
        Assert.Equal(0, (await RunCli(account, null, "groups", "unreserve", "--group", "night-shift")).ExitCode);
        Assert.Contains("deleted", (await RunCli(account, null, "groups", "delete", "--group", "night-shift")).Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Webhooks_are_created_listed_paused_rotated_and_deleted_and_an_internal_url_is_refused()
    {
        var account = await _fixture.Seeder.AccountAsync();
        var refused = await RunCli(account, null, "webhooks", "create", "--url", "https://10.0.0.7/hook", "--events", "seat.granted");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("internal network", refused.Error, StringComparison.Ordinal);

        // Deliveries are paused at once, so this test sends nothing to the (unreachable) address.
        var created = await RunCli(account, null, "webhooks", "create", "--url", "https://93.184.216.34/hook", "--events", "seat.granted,pool.threshold", "--threshold", "80");
        Assert.True(created.ExitCode == 0, created.Error);
        Assert.Contains("secret: whsec_", created.Output, StringComparison.Ordinal);
        var endpoint = System.Text.RegularExpressions.Regex.Match(created.Output, "whe_[0-9a-f]{16}").Value;
        var paused = await RunCli(account, null, "webhooks", "update", "--endpoint", endpoint, "--disable");
        Assert.True(paused.ExitCode == 0, paused.Error);
        var list = await RunCli(account, null, "webhooks", "list");
        Assert.Contains("seat.granted,pool.threshold (80 %)", list.Output, StringComparison.Ordinal);
        Assert.Contains("DISABLED", list.Output, StringComparison.Ordinal);
        Assert.Contains("the previous one also signs until", (await RunCli(account, null, "webhooks", "rotate-secret", "--endpoint", endpoint)).Output, StringComparison.Ordinal);
        Assert.Equal(0, (await RunCli(account, null, "webhooks", "deliveries", "--endpoint", endpoint)).ExitCode);
        Assert.Contains("deleted", (await RunCli(account, null, "webhooks", "delete", "--endpoint", endpoint)).Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Agent_login_exits_6_with_who_ended_it_when_an_admin_ends_the_session()
    {
        var account = await _fixture.Seeder.AccountAsync(concurrentSeats: 1);
        var agent = (await _fixture.Seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];
        var login = RunCli(account, null, ["agent", "login", "--agent", agent, "--for", "60s", "--lang", "fr"], token: Cli.DevTokens.Mint(_fixture.Host.SigningKey, account, agent, TimeSpan.FromMinutes(10)));
        var session = await Eventually.Until(
            async () => (await _fixture.Host.AdminClient.ListSharedSessionsAsync(new Contracts.V1.ListSharedSessionsRequest { Product = Product }, _fixture.Host.AdminHeaders(account))).Sessions.FirstOrDefault(),
            TimeSpan.FromSeconds(30),
            "the CLI's seat");
        await _fixture.Host.AdminClient.ForceReleaseAsync(new Contracts.V1.ForceReleaseRequest { Product = Product, LeaseIds = { session.LeaseId } }, _fixture.Host.AdminHeaders(account, "alice"));

        var result = await login;
        Assert.Equal(6, result.ExitCode);
        Assert.Contains("lease revoked by alice", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Provisioning_tokens_group_mappings_and_problems_through_the_cli()
    {
        var account = await _fixture.Seeder.AccountAsync(namedSeats: 1);
        var created = await RunCli(account, null, "provisioning", "token", "create", "--name", "Okta");
        Assert.True(created.ExitCode == 0, created.Error);
        var secret = created.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Last();
        Assert.StartsWith("lbp_pt_", secret, StringComparison.Ordinal);

        var tokens = await RunCli(account, null, "provisioning", "token", "list");
        Assert.Equal(0, tokens.ExitCode);
        Assert.Contains("Okta", tokens.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, tokens.Output, StringComparison.Ordinal);
        var tokenId = secret[4..23];

        var mapped = await RunCli(account, null, "provisioning", "group", "map", "--group", "Support", "--type", "named");
        Assert.True(mapped.ExitCode == 0, mapped.Error);
        Assert.Contains("members of 'Support' get a Named seat of remote-support", mapped.Output, StringComparison.Ordinal);
        Assert.Contains("Support", (await RunCli(account, null, "provisioning", "group", "list")).Output, StringComparison.Ordinal);
        Assert.Equal(4, (await RunCli(account, null, "provisioning", "group", "map", "--group", "Support", "--type", "named", "--product", "no-such-product")).ExitCode);
        Assert.Equal(2, (await RunCli(account, null, "provisioning", "group", "map", "--group", "Support", "--type", "gold")).ExitCode);

        Assert.Contains("0 problem(s)", (await RunCli(account, null, "provisioning", "problems")).Output, StringComparison.Ordinal);
        Assert.Equal(0, (await RunCli(account, null, "provisioning", "group", "unmap", "--group", "support")).ExitCode);
        Assert.Equal(4, (await RunCli(account, null, "provisioning", "group", "unmap", "--group", "support")).ExitCode);

        Assert.Equal(0, (await RunCli(account, null, "provisioning", "token", "revoke", tokenId)).ExitCode);
        var again = await RunCli(account, null, "provisioning", "token", "revoke", tokenId);
        Assert.Equal(4, again.ExitCode);
        Assert.Contains("UNKNOWN_TOKEN", again.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Entitlements_snapshot_verifies_and_checks_locally_and_the_keys_rotate()
    {
        var account = await _fixture.Seeder.AccountAsync();
        var agent = (await _fixture.Seeder.AgentsAsync(account, 2, "NAMED"))[0];

        var snapshot = await RunCli(account, null, ["entitlements", "snapshot", "--agent", agent], token: null);
        Assert.True(snapshot.ExitCode == 0, snapshot.Error);
        Assert.Contains("(signature verified)", snapshot.Output, StringComparison.Ordinal);
        Assert.Contains($"{agent} on {Product}", snapshot.Output, StringComparison.Ordinal);
        Assert.Contains("Entitled", snapshot.Output, StringComparison.Ordinal);
        var before = await RunCli(account, null, ["entitlements", "keys", "--json"], token: null);
        Assert.Equal(0, before.ExitCode);

        var rotated = await RunCli(account, null, ["entitlements", "rotate-key"], token: null);
        Assert.True(rotated.ExitCode == 0, rotated.Error);
        var kid = rotated.Output.Trim()["now signing with ".Length..];
        var keys = await RunCli(account, null, ["entitlements", "keys"], token: null);
        Assert.Contains(keys.Output.Split('\n'), line => line.StartsWith(kid, StringComparison.Ordinal) && line.Contains(" signing ", StringComparison.Ordinal));
        Assert.Contains("retired, verifies until", keys.Output, StringComparison.Ordinal);
        Assert.Contains(kid, (await RunCli(account, null, ["entitlements", "snapshot"], token: null)).Output, StringComparison.Ordinal);

        // Another account's snapshot is NOT_FOUND when it does not exist.
        // Exit code 4: not found (ExitCodes.NotFound).
        var unknown = await RunCli(account, null, ["entitlements", "snapshot", "--account", "acct-nobody"], token: null);
        Assert.Equal(4, unknown.ExitCode);
    }

    private Task<(int ExitCode, string Output, string Error)> RunCli(string account, string? input, params string[] args) =>
        RunCli(account, input, args, AdminToken(account));

    private string AdminToken(string account) =>
        Cli.DevTokens.Mint(_fixture.Host.SigningKey, account, "cli-admin", TimeSpan.FromMinutes(10), extraClaims: Cli.DevTokens.Claims(role: "ADMIN"));

    /// <param name="token">The bearer token to pass; null: none, the CLI mints one from the signing key (given in its environment).</param>
    /// <param name="server">The broker address; by default the fixture's.</param>
    private async Task<(int ExitCode, string Output, string Error)> RunCli(string account, string? input, string[] args, string? token, string? server = null)
    {
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

        if (args is not ([.., "--help"] or ["token", ..]))
        {
            start.ArgumentList.Add("--server");
            start.ArgumentList.Add(server ?? _fixture.Host.Address.ToString().TrimEnd('/'));
            if (!args.Contains("--account"))
            {
                start.ArgumentList.Add("--account");
                start.ArgumentList.Add(account);
            }
        }

        if (token is not null && args is not ["token", ..])
        {
            start.ArgumentList.Add("--token");
            start.ArgumentList.Add(token);
        }

        start.Environment["LICENSEBROKER_SIGNING_KEY"] = _fixture.Host.SigningKey;
        using var process = Process.Start(start)!;
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input);
        }

        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }
}
