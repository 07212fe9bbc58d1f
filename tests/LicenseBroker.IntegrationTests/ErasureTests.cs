using System.Text;
using Dapper;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;
using Npgsql;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Erasure of a person (issue 29 item 5): after EraseAgent, no answer of the API shows their id, name or e-mail,
/// while usage and planner figures stay the same; their events could be exported before.
/// </summary>
public sealed class ErasureTests
{
    private const string Product = "remote-support";
    private const string Zoe = "zoe.martin";
    private const string Name = "Zoé Martin";
    private const string Email = "zoe.martin@example.test";

    [Fact]
    public async Task An_erased_person_is_gone_from_every_answer_and_every_count_is_unchanged()
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var host = await BrokerTestHost.StartAsync(database);
        var seeder = new CatalogSeeder(database);
        var account = await seeder.AccountAsync(concurrentSeats: 2);
        var other = (await seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];
        var admin = host.AdminHeaders(account);

        // Zoé is added (under her maiden name, then renamed) and given a seat by an admin, works twice (once still
        // live), and acts as an admin herself.
        await host.AdminClient.UpsertAgentAsync(new UpsertAgentRequest { AgentId = Zoe, Email = "zoe.dupont@example.test", DisplayName = "Zoé Dupont", Role = AgentRole.Admin }, admin);
        await host.AdminClient.UpsertAgentAsync(new UpsertAgentRequest { AgentId = Zoe, Email = Email, DisplayName = Name, Role = AgentRole.Admin }, admin);
        await host.AdminClient.AssignSeatAsync(new AssignSeatRequest { AgentId = Zoe, Product = Product, SeatType = SeatType.Concurrent }, admin);
        var first = (await host.Agent(account, Zoe).AcquireAsync(Product)).Lease;
        await host.Agent(account, Zoe).ReleaseAsync(first);
        await host.Agent(account, Zoe).AcquireAsync(Product);
        await host.Agent(account, other).AcquireAsync(Product);
        // Her token gives her name (kept for the Activity page), and she chose a time zone for the console.
        await host.AdminClient.UpsertAgentAsync(new UpsertAgentRequest { AgentId = "newcomer", Email = "new@example.test", DisplayName = "New", Role = AgentRole.Member }, host.NamedAdminHeaders(account, Zoe, Name));
        await host.AdminClient.SetMyPreferencesAsync(new SetMyPreferencesRequest { TimeZone = "Europe/Paris" }, host.NamedAdminHeaders(account, Zoe, Name));
        await host.AuditWrittenAsync();

        // An access request first: her events, exported.
        var export = await host.AdminClient.ListAuditEventsAsync(new ListAuditEventsRequest { AgentId = Zoe, Page = new PageRequest { PageSize = 1000 } }, admin);
        Assert.True(export.Events.Count >= 6, $"{export.Events.Count} events exported");
        Assert.All(export.Events, e => Assert.True(e.Subject == Zoe || e.Actor == Zoe, $"{e.Action} names {e.Subject} / {e.Actor}"));

        var (from, to) = (DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddMinutes(1));
        var today = DateTime.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        var historyBefore = await host.AdminClient.GetUsageHistoryAsync(new GetUsageHistoryRequest { Product = Product, From = today, To = today }, admin);
        var planBefore = await host.AdminClient.PlanSeatsAsync(Plan(from, to), admin);

        var erased = await host.AdminClient.EraseAgentAsync(new EraseAgentRequest { AgentId = Zoe }, admin);
        Assert.Matches("^erased-[0-9a-f]{16}$", erased.ErasedId);
        Assert.Equal(1, erased.LeasesEnded);
        await host.AuditWrittenAsync(); // the ended lease's seat event arrives after the erasure, mapped on the way in

        // Nothing the API answers names her any more.
        var everything = new StringBuilder();
        var log = await host.AdminClient.ListAuditEventsAsync(new ListAuditEventsRequest { Page = new PageRequest { PageSize = 1000 } }, admin);
        everything.Append(log);
        everything.Append(await host.AdminClient.ListAgentsAsync(new ListAgentsRequest(), admin));
        everything.Append(await host.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, admin));
        everything.Append(await host.AdminClient.ListAuditEventsAsync(new ListAuditEventsRequest { AgentId = erased.ErasedId, Page = new PageRequest { PageSize = 1000 } }, admin));
        foreach (var trace in new[] { Zoe, Name, Email, "Zo\\u00e9", "Dupont" })
        {
            Assert.DoesNotContain(trace, everything.ToString(), StringComparison.Ordinal);
        }

        Assert.Contains(log.Events, e => e.Action == "agent.erased" && e.Subject == erased.ErasedId);
        Assert.Contains(log.Events, e => e.Action == "seat.force_released" && e.Subject == erased.ErasedId);
        Assert.Contains(log.Events, e => e.Action == "agent.upsert" && e.Actor == erased.ErasedId); // what she did as an admin
        Assert.Equal(export.Events.Count + 2, log.Events.Count(e => e.Subject == erased.ErasedId || e.Actor == erased.ErasedId)); // + the ended lease, + the erasure

        // Nor does the database behind it (rollups and webhook messages included).
        await using (var connection = new NpgsqlConnection(database.ConnectionString))
        {
            var dump = string.Join('\n', await connection.QueryAsync<string>(
                """
                SELECT concat_ws(' ', actor, subject, before::text, after::text) FROM audit_events WHERE account_id = @account
                UNION ALL SELECT agent_id FROM usage_daily_agents WHERE account_id = @account
                UNION ALL SELECT id || email || display_name FROM agents WHERE account_id = @account
                UNION ALL SELECT payload::text FROM webhook_outbox
                UNION ALL SELECT id || ' ' || name FROM audit_names WHERE account_id = @account
                UNION ALL SELECT person_id || ' ' || time_zone FROM admin_preferences WHERE account_id = @account
                """,
                new { account }));
            Assert.DoesNotContain(Zoe, dump, StringComparison.Ordinal);
            Assert.DoesNotContain(Email, dump, StringComparison.Ordinal);
            // "Zo" starting a word (any encoding of her name); random lease ids ("lc_3_…iZoO…") may hold the two letters inside.
            Assert.DoesNotMatch("(?<![A-Za-z0-9_-])Zo", dump.Replace("zone", "", StringComparison.Ordinal));

            // Still append-only outside an erasure.
            await Assert.ThrowsAsync<PostgresException>(() => connection.ExecuteAsync("UPDATE audit_events SET subject = 'x' WHERE account_id = @account", new { account }));
        }

        // Usage and planner figures are the same.
        Assert.Equal(historyBefore, await host.AdminClient.GetUsageHistoryAsync(new GetUsageHistoryRequest { Product = Product, From = today, To = today }, admin));
        var planAfter = await host.AdminClient.PlanSeatsAsync(Plan(from, to), admin);
        Assert.Equal(planBefore.RecordedGrants, planAfter.RecordedGrants);
        Assert.Equal(planBefore.Logins, planAfter.Logins);
        Assert.Equal(planBefore.RecordedPeak, planAfter.RecordedPeak);

        // Someone removed earlier (an admin's RemoveAgent, or an identity provider's SCIM DELETE) can still be erased.
        await host.AdminClient.UpsertAgentAsync(new UpsertAgentRequest { AgentId = "yves", Email = "yves@example.test", DisplayName = "Yves Leroy", Role = AgentRole.Member }, admin);
        await host.AdminClient.RemoveAgentAsync(new RemoveAgentRequest { AgentId = "yves" }, admin);
        var yves = await host.AdminClient.EraseAgentAsync(new EraseAgentRequest { AgentId = "yves" }, admin);
        var afterYves = (await host.AdminClient.ListAuditEventsAsync(new ListAuditEventsRequest { Page = new PageRequest { PageSize = 1000 } }, admin)).ToString();
        Assert.DoesNotContain("Yves Leroy", afterYves, StringComparison.Ordinal);
        Assert.DoesNotContain("yves@example.test", afterYves, StringComparison.Ordinal);
        Assert.Contains(yves.ErasedId, afterYves, StringComparison.Ordinal);

        // She cannot be erased twice (her id is in no event any more), someone who never was an agent is not
        // found, and a bad id is refused by field.
        var again = await Assert.ThrowsAsync<RpcException>(() => host.AdminClient.EraseAgentAsync(new EraseAgentRequest { AgentId = Zoe }, admin).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, again.StatusCode);
        var stranger = await Assert.ThrowsAsync<RpcException>(() => host.AdminClient.EraseAgentAsync(new EraseAgentRequest { AgentId = "never-here" }, admin).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, stranger.StatusCode);
        var bad = await Assert.ThrowsAsync<RpcException>(() => host.AdminClient.EraseAgentAsync(new EraseAgentRequest { AgentId = "a b" }, admin).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
    }

    private static PlanSeatsRequest Plan(DateTimeOffset from, DateTimeOffset to) =>
        new() { Product = Product, From = Timestamp.FromDateTimeOffset(from), To = Timestamp.FromDateTimeOffset(to), Candidates = { 1, 2 } };
}
