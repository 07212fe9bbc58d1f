using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// SCIM 2.0 against two real broker replicas over plain HTTP/JSON: request sequences as Okta and
/// Entra ID send them (from their provisioning guides), checked after each step against the
/// broker's agents, seat assignments and live leases; a parallel race; tenant isolation; malformed input.
/// </summary>
public sealed partial class ScimTests : IAsyncLifetime
{
    private const string Product = "remote-support";
    private TestDatabase? _database;
    private BrokerTestHost? _a;
    private BrokerTestHost? _b;
    private HttpClient? _httpA;
    private HttpClient? _httpB;

    private BrokerTestHost A => _a!;

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync();
        var portA = Processes.FreePort();
        _a = await BrokerTestHost.StartAsync(_database, new Dictionary<string, string?> { ["Rest:Port"] = Text(portA) });
        var portB = Processes.FreePort();
        _b = await BrokerTestHost.StartAsync(
            _database,
            new Dictionary<string, string?> { ["Rest:Port"] = Text(portB), ["Redis:KeyPrefix"] = _a.Services.GetRequiredRedisPrefix() },
            signingKey: _a.SigningKey);
        _httpA = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{portA}") };
        _httpB = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{portB}") };
    }

    public async Task DisposeAsync()
    {
        _httpA?.Dispose();
        _httpB?.Dispose();
        await _b!.DisposeAsync();
        await _a!.DisposeAsync();
        await _database!.DisposeAsync();
    }

    [Fact]
    public async Task A_group_the_identity_provider_pushes_is_an_agent_group_whose_members_get_its_reserved_seat()
    {
        var account = await A.Seeder().AccountAsync(concurrentSeats: 2);
        var ids = await A.Seeder().AgentsAsync(account, 3, "CONCURRENT", prefix: "esc");
        var token = await TokenAsync(account, "Okta");
        var (status, group) = await Send(_httpA!, HttpMethod.Post, "/scim/v2/Groups", token,
            $$"""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Escalations","members":[{"value":"{{await ScimIdAsync(token, ids[2])}}"}]}""");
        Assert.Equal(HttpStatusCode.Created, status);
        var groupId = group!["id"]!.GetValue<string>();

        // The admin finds it among the account's agent groups, with its member, and reserves a seat for it.
        var listed = Assert.Single((await A.AdminClient.ListAgentGroupsAsync(new ListAgentGroupsRequest { GroupId = groupId }, A.AdminHeaders(account))).Groups);
        Assert.Equal(("Escalations", ids[2]), (listed.DisplayName, Assert.Single(listed.MemberIds)));
        await A.AdminClient.SetGroupSeatRuleAsync(new SetGroupSeatRuleRequest { Product = Product, GroupId = groupId, ReservedSeats = 1 }, A.AdminHeaders(account));

        // Of two seats, one is the group's: one outsider gets a seat, the second does not, the member does.
        await A.Agent(account, ids[0]).AcquireAsync(Product);
        Assert.Equal(StatusCode.ResourceExhausted, (await Assert.ThrowsAsync<RpcException>(() => A.Agent(account, ids[1]).AcquireAsync(Product))).StatusCode);
        await A.Agent(account, ids[2]).AcquireAsync(Product);
    }

    [Fact]
    public async Task A_membership_change_over_scim_reaches_the_live_pool_at_once_and_a_suspended_waiter_stops_waiting()
    {
        // Two seats, one reserved for Escalations (m1 away): o1 holds the other; m2, not yet a member, and o2 wait.
        var account = await A.Seeder().AccountAsync(concurrentSeats: 2);
        var ids = await A.Seeder().AgentsAsync(account, 4, "CONCURRENT", prefix: "live");
        var (m1, m2, o1, o2) = (ids[0], ids[1], ids[2], ids[3]);
        var token = await TokenAsync(account, "Okta");
        var (_, group) = await Send(_httpA!, HttpMethod.Post, "/scim/v2/Groups", token,
            $$"""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Escalations","members":[{"value":"{{await ScimIdAsync(token, m1)}}"}]}""");
        var groupId = group!["id"]!.GetValue<string>();
        await A.AdminClient.SetGroupSeatRuleAsync(new SetGroupSeatRuleRequest { Product = Product, GroupId = groupId, ReservedSeats = 1 }, A.AdminHeaders(account));
        await A.Agent(account, o1).AcquireAsync(Product);
        using var waitingMember = await WaitStream.JoinAsync(_b!.Agent(account, m2), m2);
        using var waitingOther = await WaitStream.JoinAsync(_b!.Agent(account, o2), o2);

        // The identity provider adds m2 to the group: the reserved seat is m2's at once, nobody else calling.
        Assert.Equal(HttpStatusCode.OK, (await Send(_httpA!, HttpMethod.Patch, $"/scim/v2/Groups/{groupId}", token,
            $$"""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"{{await ScimIdAsync(token, m2)}}"}]}]}""")).Status);
        await waitingMember.Granted.Task.WaitAsync(TimeSpan.FromSeconds(1));

        // It suspends o2, who waits: o2's wait ends with the reason, and nobody waits any more.
        Assert.Equal(HttpStatusCode.OK, (await Send(_httpA!, HttpMethod.Patch, $"/scim/v2/Users/{await ScimIdAsync(token, o2)}", token,
            """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}""")).Status);
        var ended = await waitingOther.Ended.Task.WaitAsync(TimeSpan.FromSeconds(1));
        Assert.Contains(Errors.Info(ended).Reason, new[] { "SEAT_WITHDRAWN", "WAIT_REVOKED" });
        Assert.Equal(0, (await A.AdminClient.GetSeatUsageAsync(new GetSeatUsageRequest { Product = Product }, A.AdminHeaders(account))).Products.Single().AgentsWaiting);
    }

    [Fact]
    public async Task Okta_provisioning_sequence_gives_suspends_restores_and_removes_seats()
    {
        var account = await A.Seeder().AccountAsync(namedSeats: 2, concurrentSeats: 2);
        var token = await TokenAsync(account, "Okta");
        await A.AdminClient.MapProvisioningGroupAsync(
            new MapProvisioningGroupRequest { GroupName = "Support Named", Product = Product, SeatType = SeatType.Named }, A.AdminHeaders(account));

        // Okta's connection test, then the lookup before a create.
        var (status, test) = await Send(_httpA!, HttpMethod.Get, "/scim/v2/Users?startIndex=1&count=2", token);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("urn:ietf:params:scim:api:messages:2.0:ListResponse", test!["schemas"]![0]!.GetValue<string>());
        Assert.Equal(0, test["totalResults"]!.GetValue<int>());
        (status, var lookup) = await Send(_httpA!, HttpMethod.Get, "/scim/v2/Users?filter=" + Uri.EscapeDataString("userName eq \"isabella@acme.example\"") + "&startIndex=1&count=100", token);
        Assert.Equal(0, lookup!["totalResults"]!.GetValue<int>());

        (status, var created) = await Send(_httpA!, HttpMethod.Post, "/scim/v2/Users", token, """
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"isabella@acme.example",
             "name":{"givenName":"Isabella","familyName":"Smith"},"emails":[{"primary":true,"value":"isabella@acme.example","type":"work"}],
             "displayName":"Isabella Smith","locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7","groups":[],"password":"1mz050nq","active":true}
            """);
        Assert.Equal(HttpStatusCode.Created, status);
        // The SCIM id is the server's (opaque, never reused); the agent is known by its sign-in name.
        var id = created!["id"]!.GetValue<string>();
        const string agentId = "isabella@acme.example";
        Assert.NotEqual(agentId, id);
        Assert.Equal("Isabella Smith", (await Agent(account, agentId)).DisplayName);

        // The same userName again: uniqueness.
        (status, var duplicate) = await Send(_httpB!, HttpMethod.Post, "/scim/v2/Users", token, """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ISABELLA@acme.example"}""");
        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Equal("uniqueness", duplicate!["scimType"]!.GetValue<string>());

        // Okta pushes the group, then its members.
        (status, var group) = await Send(_httpA!, HttpMethod.Post, "/scim/v2/Groups", token, """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Support Named","members":[]}""");
        Assert.Equal(HttpStatusCode.Created, status);
        var groupId = group!["id"]!.GetValue<string>();
        (status, _) = await Send(_httpB!, HttpMethod.Patch, $"/scim/v2/Groups/{groupId}", token,
            $$"""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"{{id}}","display":"isabella@acme.example"}]}]}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(SeatType.Named, Seat(await Agent(account, agentId)));

        // The agent works: a lease, heartbeating.
        var app = A.Agent(account, agentId);
        var lease = (await app.AcquireAsync(Product)).Lease;
        Assert.Equal(SeatType.Named, lease.SeatType);

        // Okta's whole-user PUT: a new family name.
        (status, var replaced) = await Send(_httpA!, HttpMethod.Put, $"/scim/v2/Users/{Uri.EscapeDataString(id)}", token, $$"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"{{id}}","userName":"isabella@acme.example",
             "name":{"givenName":"Isabella","familyName":"Jones"},"emails":[{"primary":true,"value":"isabella@acme.example","type":"work"}],
             "displayName":"Isabella Jones","active":true,"groups":[]}
            """);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("Jones", replaced!["name"]!["familyName"]!.GetValue<string>());
        Assert.Equal("Isabella Jones", (await Agent(account, agentId)).DisplayName);
        Assert.Equal(lease.LeaseId, (await app.HeartbeatAsync(lease)).LeaseId);

        // Deactivation: the seat goes, the live lease ends with the request (the very next heartbeat is refused), the user stays.
        (status, var deactivated) = await Send(_httpB!, HttpMethod.Patch, $"/scim/v2/Users/{Uri.EscapeDataString(id)}", token,
            """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.False(deactivated!["active"]!.GetValue<bool>());
        var revoked = await Assert.ThrowsAsync<RpcException>(() => app.HeartbeatAsync(lease));
        Assert.Equal("LEASE_REVOKED", Errors.Info(revoked).Reason);
        Assert.Equal("scim:Okta", Errors.Info(revoked).Metadata["revoked_by"]);
        Assert.Equal(SeatType.Unspecified, Seat(await Agent(account, agentId)));
        (status, var kept) = await Send(_httpA!, HttpMethod.Get, $"/scim/v2/Users/{Uri.EscapeDataString(id)}", token);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(groupId, kept!["groups"]![0]!["value"]!.GetValue<string>());

        // Reactivation restores what the groups give.
        (status, _) = await Send(_httpA!, HttpMethod.Patch, $"/scim/v2/Users/{Uri.EscapeDataString(id)}", token,
            """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":true}}]}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(SeatType.Named, Seat(await Agent(account, agentId)));

        // Leaving the group removes the seat.
        (status, _) = await Send(_httpA!, HttpMethod.Patch, $"/scim/v2/Groups/{groupId}", token,
            $$"""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"{{id}}\"]"}]}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(SeatType.Unspecified, Seat(await Agent(account, agentId)));

        // Group and user deleted; the audit names the token.
        Assert.Equal(HttpStatusCode.NoContent, (await Send(_httpB!, HttpMethod.Delete, $"/scim/v2/Groups/{groupId}", token)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Send(_httpA!, HttpMethod.Get, $"/scim/v2/Groups/{groupId}", token)).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await Send(_httpA!, HttpMethod.Delete, $"/scim/v2/Users/{Uri.EscapeDataString(id)}", token)).Status);
        Assert.Empty((await A.AdminClient.ListAgentsAsync(new ListAgentsRequest(), A.AdminHeaders(account))).Agents);
        await using var connection = new Npgsql.NpgsqlConnection(A.Database.ConnectionString);
        var actions = (await Dapper.SqlMapper.QueryAsync<string>(connection, "SELECT action FROM audit_events WHERE account_id = @account AND actor = 'scim:Okta' ORDER BY id", new { account })).ToList();
        Assert.Contains("seat.assign", actions);
        Assert.Contains("agent.suspend", actions);
        Assert.Contains("agent.remove", actions);
    }

    [Fact]
    public async Task Entra_id_provisioning_sequence_with_capitalised_ops_string_booleans_and_bulk_members()
    {
        var account = await A.Seeder().AccountAsync(namedSeats: 5, concurrentSeats: 5);
        var token = await TokenAsync(account, "Entra ID");
        await A.AdminClient.MapProvisioningGroupAsync(
            new MapProvisioningGroupRequest { GroupName = "LB Agents", Product = Product, SeatType = SeatType.Concurrent }, A.AdminHeaders(account));

        var ids = new List<string>();
        var agents = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var userName = $"Test_User_{i}_ab6490ee@contoso.example";
            agents.Add(userName);
            var (_, lookup) = await Send(_httpA!, HttpMethod.Get, "/scim/v2/Users?filter=" + Uri.EscapeDataString($"userName eq \"{userName}\""), token);
            Assert.Equal(0, lookup!["totalResults"]!.GetValue<int>());
            var (status, created) = await Send(i % 2 == 0 ? _httpA! : _httpB!, HttpMethod.Post, "/scim/v2/Users", token, $$"""
                {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                 "externalId":"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4e{{i}}","userName":"{{userName}}","active":true,
                 "emails":[{"primary":true,"type":"work","value":"Test_User_{{i}}@contoso.example"}],"meta":{"resourceType":"User"},
                 "name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"},"roles":[],
                 "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Support","employeeNumber":"{{i}}"} }
                """);
            Assert.Equal(HttpStatusCode.Created, status);
            ids.Add(created!["id"]!.GetValue<string>());
        }

        // Entra filters by externalId too, and by emails[type eq "work"].value.
        var (_, byExternal) = await Send(_httpB!, HttpMethod.Get, "/scim/v2/Users?filter=" + Uri.EscapeDataString("externalId eq \"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4e1\""), token);
        Assert.Equal(ids[1], byExternal!["Resources"]![0]!["id"]!.GetValue<string>());
        var (_, byEmail) = await Send(_httpB!, HttpMethod.Get, "/scim/v2/Users?filter=" + Uri.EscapeDataString("emails[type eq \"work\"].value eq \"test_user_2@contoso.example\" and userName eq \"Test_User_2_ab6490ee@contoso.example\""), token);
        Assert.Equal(1, byEmail!["totalResults"]!.GetValue<int>());

        // Entra's PATCH of a user: capitalised ops, filtered paths.
        var (patchStatus, patched) = await Send(_httpA!, HttpMethod.Patch, $"/scim/v2/Users/{Uri.EscapeDataString(ids[0])}", token, """
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
              {"op":"Replace","path":"emails[type eq \"work\"].value","value":"updatedEmail@contoso.example"},
              {"op":"Replace","path":"name.familyName","value":"updatedFamilyName"},
              {"op":"Add","path":"title","value":"Agent"},
              {"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Sales"}]}
            """);
        Assert.Equal(HttpStatusCode.OK, patchStatus);
        Assert.Equal("updatedEmail@contoso.example", patched!["emails"]![0]!["value"]!.GetValue<string>());
        Assert.Equal("updatedEmail@contoso.example", (await Agent(account, agents[0])).Email);

        // The group, with Microsoft's extra schema, then all three members in one PATCH.
        var (groupStatus, group) = await Send(_httpB!, HttpMethod.Post, "/scim/v2/Groups", token, """
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/Group"],
             "externalId":"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159","displayName":"LB Agents","meta":{"resourceType":"Group"}}
            """);
        Assert.Equal(HttpStatusCode.Created, groupStatus);
        var groupId = group!["id"]!.GetValue<string>();
        var (_, byName) = await Send(_httpA!, HttpMethod.Get, "/scim/v2/Groups?excludedAttributes=members&filter=" + Uri.EscapeDataString("displayName eq \"LB Agents\""), token);
        Assert.Equal(groupId, byName!["Resources"]![0]!["id"]!.GetValue<string>());
        Assert.Null(byName["Resources"]![0]!["members"]);
        var members = string.Join(",", ids.Select(id => $$"""{"$ref":null,"value":"{{id}}"}"""));
        Assert.Equal(HttpStatusCode.OK, (await Send(_httpA!, HttpMethod.Patch, $"/scim/v2/Groups/{groupId}", token,
            $$"""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{{members}}]}]}""")).Status);
        foreach (var id in ids)
        {
            Assert.Equal(SeatType.Concurrent, Seat(await Agent(account, agents[ids.IndexOf(id)])));
        }

        // One of them works; Entra disables it with a string boolean: the lease ends at once.
        var app = A.Agent(account, agents[2]);
        var lease = (await app.AcquireAsync(Product)).Lease;
        Assert.Equal(HttpStatusCode.OK, (await Send(_httpB!, HttpMethod.Patch, $"/scim/v2/Users/{Uri.EscapeDataString(ids[2])}", token,
            """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}""")).Status);
        Assert.Equal("LEASE_REVOKED", Errors.Info(await Assert.ThrowsAsync<RpcException>(() => app.HeartbeatAsync(lease))).Reason);

        // Remove a member Entra's way (path members, value list).
        Assert.Equal(HttpStatusCode.OK, (await Send(_httpA!, HttpMethod.Patch, $"/scim/v2/Groups/{groupId}", token,
            $$"""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Remove","path":"members","value":[{"$ref":null,"value":"{{ids[1]}}"}]}]}""")).Status);
        Assert.Equal(SeatType.Unspecified, Seat(await Agent(account, agents[1])));
        Assert.Equal(SeatType.Concurrent, Seat(await Agent(account, agents[0])));

        // Entra deletes users outright in the end.
        Assert.Equal(HttpStatusCode.NoContent, (await Send(_httpB!, HttpMethod.Delete, $"/scim/v2/Users/{Uri.EscapeDataString(ids[0])}", token)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Send(_httpA!, HttpMethod.Get, $"/scim/v2/Users/{Uri.EscapeDataString(ids[0])}", token)).Status);
    }

    [Fact]
    public async Task Fifty_parallel_creations_and_joins_across_two_replicas_never_exceed_the_named_limit_and_problems_resolve_when_seats_free()
    {
        const int Named = 10;
        var account = await A.Seeder().AccountAsync(namedSeats: Named, concurrentSeats: 5);
        var token = await TokenAsync(account, "Okta");
        await A.AdminClient.MapProvisioningGroupAsync(new MapProvisioningGroupRequest { GroupName = "Named", Product = Product, SeatType = SeatType.Named }, A.AdminHeaders(account));
        var (_, group) = await Send(_httpA!, HttpMethod.Post, "/scim/v2/Groups", token, """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Named"}""");
        var groupId = group!["id"]!.GetValue<string>();

        // 50 users, each created twice at once (one create wins), then added to the group: all in parallel, half through each replica.
        var statuses = new ConcurrentBag<HttpStatusCode>();
        var scimIds = new ConcurrentDictionary<string, string>();
        await Task.WhenAll(Enumerable.Range(0, 50).Select(i => Task.Run(async () =>
        {
            var body = $$"""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"agent{{i}}@acme.example","active":true}""";
            var attempts = await Task.WhenAll(Send(_httpA!, HttpMethod.Post, "/scim/v2/Users", token, body), Send(_httpB!, HttpMethod.Post, "/scim/v2/Users", token, body));
            foreach (var attempt in attempts)
            {
                statuses.Add(attempt.Status);
            }

            var scimId = attempts.Single(a => a.Status == HttpStatusCode.Created).Body!["id"]!.GetValue<string>();
            scimIds[$"agent{i}@acme.example"] = scimId;
            var join = await Send(i % 2 == 0 ? _httpA! : _httpB!, HttpMethod.Patch, $"/scim/v2/Groups/{groupId}", token,
                $$"""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"{{scimId}}"}]}]}""");
            statuses.Add(join.Status);
        })));

        Assert.True(statuses.Count == 150, string.Join(", ", statuses.GroupBy(s => s).Select(g => $"{g.Key}: {g.Count()}")));
        Assert.Equal(50, statuses.Count(s => s == HttpStatusCode.Created));
        Assert.Equal(50, statuses.Count(s => s == HttpStatusCode.Conflict));
        Assert.True(statuses.Count(s => s == HttpStatusCode.OK) == 50, string.Join(", ", statuses.GroupBy(s => s).Select(g => $"{g.Key}: {g.Count()}")));
        var agents = await AllAgents(account);
        Assert.Equal(50, agents.Count);
        Assert.Equal(50, agents.Select(a => a.AgentId.ToLowerInvariant()).Distinct().Count());
        Assert.Equal(Named, agents.Count(a => Seat(a) == SeatType.Named));
        var problems = (await A.AdminClient.ListProvisioningProblemsAsync(new ListProvisioningProblemsRequest(), A.AdminHeaders(account))).Problems;
        Assert.Equal(50 - Named, problems.Count);
        Assert.All(problems, p => Assert.Equal("NAMED_SEAT_LIMIT_REACHED", p.Reason));

        // Five holders leave the group: their named seats go to the five oldest problems.
        var leaving = agents.Where(a => Seat(a) == SeatType.Named).Take(5).Select(a => a.AgentId).ToList();
        var oldest = problems.Take(5).Select(p => p.AgentId).ToList();
        await Task.WhenAll(leaving.Select((id, n) => Send(n % 2 == 0 ? _httpA! : _httpB!, HttpMethod.Patch, $"/scim/v2/Groups/{groupId}", token,
            $$"""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"{{scimIds[id]}}\"]"}]}""")));
        agents = await AllAgents(account);
        Assert.Equal(Named, agents.Count(a => Seat(a) == SeatType.Named));
        Assert.All(oldest, id => Assert.Equal(SeatType.Named, Seat(agents.Single(a => a.AgentId == id))));
        Assert.Equal(50 - Named - 5, (await A.AdminClient.ListProvisioningProblemsAsync(new ListProvisioningProblemsRequest(), A.AdminHeaders(account))).Problems.Count);

        // An admin raising the limit gives the rest.
        var subscription = (await A.SubscriptionClient.GetSubscriptionAsync(new GetSubscriptionRequest { AccountId = account, Product = Product }, A.ServiceHeaders())).Subscription;
        subscription.NamedSeatLimit = 60;
        await A.SubscriptionClient.UpsertSubscriptionAsync(new UpsertSubscriptionRequest { Subscription = subscription }, A.ServiceHeaders());
        Assert.Empty((await A.AdminClient.ListProvisioningProblemsAsync(new ListProvisioningProblemsRequest(), A.AdminHeaders(account))).Problems);
        Assert.Equal(45, (await AllAgents(account)).Count(a => Seat(a) == SeatType.Named));
    }

    [Fact]
    public async Task A_token_acts_only_in_its_account_and_a_revoked_token_is_refused_at_once_on_every_replica()
    {
        var first = await A.Seeder().AccountAsync();
        var second = await A.Seeder().AccountAsync();
        var tokenA = await TokenAsync(first, "Okta");
        var tokenB = await TokenAsync(second, "Okta");
        var (_, user) = await Send(_httpA!, HttpMethod.Post, "/scim/v2/Users", tokenB, """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"victim@b.example"}""");
        var (_, group) = await Send(_httpA!, HttpMethod.Post, "/scim/v2/Groups", tokenB, """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"B team"}""");
        var userId = user!["id"]!.GetValue<string>();
        var groupId = group!["id"]!.GetValue<string>();
        var before = await StateSnapshot.TakeAsync(A, second);

        // Account A's token sees none of B, and gets for B's ids exactly what it gets for ids that do not exist.
        var (listStatus, list) = await Send(_httpB!, HttpMethod.Get, "/scim/v2/Users", tokenA);
        Assert.Equal(HttpStatusCode.OK, listStatus);
        Assert.Equal(0, list!["totalResults"]!.GetValue<int>());
        foreach (var (method, path, body) in new (HttpMethod, string, string?)[]
        {
            (HttpMethod.Get, $"/scim/v2/Users/{userId}", null),
            (HttpMethod.Put, $"/scim/v2/Users/{userId}", """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"victim@b.example","active":false}"""),
            (HttpMethod.Patch, $"/scim/v2/Users/{userId}", """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}"""),
            (HttpMethod.Delete, $"/scim/v2/Users/{userId}", null),
            (HttpMethod.Get, $"/scim/v2/Groups/{groupId}", null),
            (HttpMethod.Patch, $"/scim/v2/Groups/{groupId}", """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"pwned"}]}"""),
            (HttpMethod.Delete, $"/scim/v2/Groups/{groupId}", null),
        })
        {
            var theirs = await Send(_httpA!, method, path, tokenA, body);
            var nobodys = await Send(_httpA!, method, path.Replace(userId, "nobody@b.example", StringComparison.Ordinal).Replace(groupId, "0000", StringComparison.Ordinal), tokenA, body);
            Assert.Equal(HttpStatusCode.NotFound, theirs.Status);
            Assert.Equal(nobodys.Status, theirs.Status);
        }

        // A member of another account cannot be added to one's own group.
        var (_, own) = await Send(_httpA!, HttpMethod.Post, "/scim/v2/Groups", tokenA, """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"A team"}""");
        var (addStatus, added) = await Send(_httpA!, HttpMethod.Patch, $"/scim/v2/Groups/{own!["id"]!.GetValue<string>()}", tokenA,
            $$"""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"{{userId}}"}]}]}""");
        Assert.Equal(HttpStatusCode.BadRequest, addStatus);
        Assert.Equal("invalidValue", added!["scimType"]!.GetValue<string>());
        Assert.Equal(before, await StateSnapshot.TakeAsync(A, second));

        // Revoked through replica A: refused at once through both.
        var tokenId = (await A.AdminClient.ListProvisioningTokensAsync(new ListProvisioningTokensRequest(), A.AdminHeaders(first))).Tokens.Single().TokenId;
        Assert.Equal(HttpStatusCode.OK, (await Send(_httpB!, HttpMethod.Get, "/scim/v2/Users", tokenA)).Status);
        await A.AdminClient.RevokeProvisioningTokenAsync(new RevokeProvisioningTokenRequest { TokenId = tokenId }, A.AdminHeaders(first));
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(_httpA!, HttpMethod.Get, "/scim/v2/Users", tokenA)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(_httpB!, HttpMethod.Get, "/scim/v2/Users", tokenA)).Status);
        var listed = (await A.AdminClient.ListProvisioningTokensAsync(new ListProvisioningTokensRequest(), A.AdminHeaders(first))).Tokens.Single();
        Assert.NotNull(listed.RevokedAt);
        Assert.NotNull(listed.LastUsedAt);

        // Account B's admin cannot revoke A's token either (it is not theirs).
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(async () => await A.AdminClient.RevokeProvisioningTokenAsync(
            new RevokeProvisioningTokenRequest { TokenId = tokenId }, A.AdminHeaders(second)))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(_httpA!, HttpMethod.Get, "/scim/v2/Users", "lbp_pt_0123456789abcdef_" + new string('x', 43))).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(_httpA!, HttpMethod.Get, "/scim/v2/Users", null)).Status);
    }

    public static TheoryData<string, string, string?, int, string?> Malformed => new()
    {
        { "GET", "/scim/v2/Users?filter=" + Uri.EscapeDataString("userName co \"a\""), null, 400, "invalidFilter" },
        { "GET", "/scim/v2/Users?filter=" + Uri.EscapeDataString("nickName eq \"a\""), null, 400, "invalidFilter" },
        { "GET", "/scim/v2/Users?filter=" + Uri.EscapeDataString("userName eq \"a"), null, 400, "invalidFilter" },
        { "GET", "/scim/v2/Users?filter=" + Uri.EscapeDataString("userName eq \"a\" or userName eq \"b\""), null, 400, "invalidFilter" },
        { "GET", "/scim/v2/Groups?filter=" + Uri.EscapeDataString("userName eq \"a\""), null, 400, "invalidFilter" },
        { "GET", "/scim/v2/Users?count=many", null, 400, "invalidValue" },
        { "POST", "/scim/v2/Users", """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x@acme.example","favouriteColour":"blue"}""", 400, "invalidSyntax" },
        { "POST", "/scim/v2/Users", """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"userName":"x@acme.example"}""", 400, "invalidSyntax" },
        { "POST", "/scim/v2/Users", """{"userName":"x@acme.example"}""", 400, "invalidSyntax" },
        { "POST", "/scim/v2/Users", """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}""", 400, "invalidValue" },
        { "POST", "/scim/v2/Users", """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x@acme.example","active":"maybe"}""", 400, "invalidValue" },
        { "POST", "/scim/v2/Users", """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x@acme.example","emails":[{"value":"not an email"}]}""", 400, "invalidValue" },
        { "POST", "/scim/v2/Users", """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x\u0000@acme.example"}""", 400, "invalidValue" },
        { "POST", "/scim/v2/Users", "{\"schemas\":", 400, "invalidSyntax" },
        { "POST", "/scim/v2/Users", "[1,2,3]", 400, "invalidSyntax" },
        { "POST", "/scim/v2/Groups", """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"G","members":[{"value":"ghost"}]}""", 400, "invalidValue" },
        { "PATCH", "/scim/v2/Users/{user}", """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"favouriteColour","value":"x"}]}""", 400, "invalidPath" },
        { "PATCH", "/scim/v2/Users/{user}", """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"merge","path":"active","value":false}]}""", 400, "invalidSyntax" },
        { "PATCH", "/scim/v2/Users/{user}", """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[]}""", 400, "invalidSyntax" },
        { "PATCH", "/scim/v2/Users/{user}", """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"id","value":"other"}]}""", 400, "mutability" },
        { "PATCH", "/scim/v2/Users/{user}", """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":"False"},{"op":"replace","path":"nope","value":1}]}""", 400, "invalidPath" },
        { "PATCH", "/scim/v2/Groups/{group}", """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members[value eq \"x\"]","value":[]}]}""", 400, "invalidPath" },
        { "PATCH", "/scim/v2/Groups/{group}", """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"displayName"}]}""", 400, "mutability" },
        { "PUT", "/scim/v2/Users/{user}", """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"someone-else","userName":"x@acme.example"}""", 400, "mutability" },
        { "PATCH", "/scim/v2/Users/{user}", """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove"}]}""", 400, "noTarget" },
        { "PATCH", "/scim/v2/Groups/{group}", """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove"}]}""", 400, "noTarget" },
        { "PATCH", "/scim/v2/Users/{user}", """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"emails[value eq \"ghost@acme.example\"].type","value":"home"}]}""", 400, "noTarget" },
        { "GET", "/scim/v2/Users/{user}?attributes=" + Uri.EscapeDataString(string.Join(",", Enumerable.Range(0, 101).Select(i => "a" + i))), null, 400, "invalidValue" },
        { "POST", "/scim/v2/Users/.search", """{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"count":"ten"}""", 400, "invalidValue" },
        { "POST", "/scim/v2/Users/.search", """{"filter":"userName eq \"x\""}""", 400, "invalidSyntax" },
        { "POST", "/scim/v2/Users", "HUGE", 413, null },
        { "GET", "/scim/v2/Bulk", null, 404, null },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task Malformed_scim_gets_the_scim_error_with_its_type_never_a_500_and_changes_nothing(string method, string path, string? body, int status, string? scimType)
    {
        var account = await A.Seeder().AccountAsync();
        var token = await TokenAsync(account, "Okta");
        var (_, user) = await Send(_httpA!, HttpMethod.Post, "/scim/v2/Users", token, """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"kept@acme.example"}""");
        var (_, group) = await Send(_httpA!, HttpMethod.Post, "/scim/v2/Groups", token, """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Kept"}""");
        await A.AuditWrittenAsync();
        var before = await StateSnapshot.TakeAsync(A, account);

        path = path.Replace("{user}", Uri.EscapeDataString(user!["id"]!.GetValue<string>()), StringComparison.Ordinal).Replace("{group}", group!["id"]!.GetValue<string>(), StringComparison.Ordinal);
        if (body == "HUGE")
        {
            body = "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"x@acme.example\",\"displayName\":\"" + new string('a', 2 * 1024 * 1024) + "\"}";
        }

        var (got, error) = await Send(_httpB!, new HttpMethod(method), path, token, body);
        Assert.Equal(status, (int)got);
        Assert.Equal("urn:ietf:params:scim:api:messages:2.0:Error", error!["schemas"]![0]!.GetValue<string>());
        Assert.Equal(status.ToString(System.Globalization.CultureInfo.InvariantCulture), error["status"]!.GetValue<string>());
        Assert.Equal(scimType, error["scimType"]?.GetValue<string>());
        Assert.Equal(before, await StateSnapshot.TakeAsync(A, account));
    }

    [Fact]
    public async Task Discovery_documents_describe_what_is_supported()
    {
        var account = await A.Seeder().AccountAsync();
        var token = await TokenAsync(account, "Okta");
        var (_, config) = await Send(_httpA!, HttpMethod.Get, "/scim/v2/ServiceProviderConfig", token);
        Assert.True(config!["patch"]!["supported"]!.GetValue<bool>());
        Assert.False(config["bulk"]!["supported"]!.GetValue<bool>());
        var (_, types) = await Send(_httpA!, HttpMethod.Get, "/scim/v2/ResourceTypes", token);
        Assert.Equal(["User", "Group"], types!["Resources"]!.AsArray().Select(t => t!["name"]!.GetValue<string>()));
        var (_, schemas) = await Send(_httpA!, HttpMethod.Get, "/scim/v2/Schemas", token);
        Assert.Equal(3, schemas!["totalResults"]!.GetValue<int>());
    }

    private async Task<string> TokenAsync(string account, string name) =>
        (await A.AdminClient.CreateProvisioningTokenAsync(new CreateProvisioningTokenRequest { Name = name }, A.AdminHeaders(account))).Secret;

    /// <summary>The SCIM id of an agent, found as an identity provider finds it: by userName.</summary>
    private async Task<string> ScimIdAsync(string token, string userName)
    {
        var (_, found) = await Send(_httpA!, HttpMethod.Get, "/scim/v2/Users?attributes=id&filter=" + Uri.EscapeDataString($"userName eq \"{userName}\""), token);
        return found!["Resources"]![0]!["id"]!.GetValue<string>();
    }

    private async Task<Contracts.V1.Agent> Agent(string account, string id) =>
        (await AllAgents(account)).SingleOrDefault(a => a.AgentId == id) ?? throw new Xunit.Sdk.XunitException($"no agent {id}");

    private async Task<List<Contracts.V1.Agent>> AllAgents(string account)
    {
        var all = new List<Contracts.V1.Agent>();
        var page = string.Empty;
        do
        {
            var response = await A.AdminClient.ListAgentsAsync(new ListAgentsRequest { Page = new PageRequest { PageSize = 1000, PageToken = page } }, A.AdminHeaders(account));
            all.AddRange(response.Agents);
            page = response.NextPageToken;
        }
        while (page.Length > 0);
        return all;
    }

    private static SeatType Seat(Contracts.V1.Agent agent) => agent.Seats.SingleOrDefault(s => s.Product == Product)?.SeatType ?? SeatType.Unspecified;

    private static async Task<(HttpStatusCode Status, JsonNode? Body)> Send(HttpClient http, HttpMethod method, string path, string? token, string? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/scim+json");
        }

        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.NotEqual(HttpStatusCode.InternalServerError, response.StatusCode);
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    private static string Text(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
