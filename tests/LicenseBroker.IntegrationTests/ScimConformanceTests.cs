using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using LicenseBroker.IntegrationTests.Infrastructure;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// RFC 7643/7644 to the letter, as an independent conformance check and Okta's and Entra's guides read
/// it: the enterprise extension, ids never reused, multi-valued e-mails, attributes on reads, null as
/// unassigned, and malformed bodies (bad UTF-8, wrong media type) refused with a SCIM error.
/// </summary>
public sealed partial class ScimTests
{
    private const string Enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    [Fact]
    public async Task The_enterprise_extension_is_defined_kept_returned_patched_and_filtered()
    {
        var account = await A.Seeder().AccountAsync();
        var token = await TokenAsync(account, "Entra ID");

        // Defined: in /Schemas, and each schema and resource type by its id.
        var (_, schemas) = await Send(_httpA!, HttpMethod.Get, "/scim/v2/Schemas", token);
        Assert.Contains(Enterprise, schemas!["Resources"]!.AsArray().Select(s => s!["id"]!.GetValue<string>()));
        foreach (var schemaId in new[] { "urn:ietf:params:scim:schemas:core:2.0:User", Enterprise, "urn:ietf:params:scim:schemas:core:2.0:Group" })
        {
            var (status, schema) = await Send(_httpA!, HttpMethod.Get, "/scim/v2/Schemas/" + schemaId, token);
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal(schemaId, schema!["id"]!.GetValue<string>());
        }

        var (_, enterpriseSchema) = await Send(_httpA!, HttpMethod.Get, "/scim/v2/Schemas/" + Enterprise, token);
        Assert.Equal(["employeeNumber", "costCenter", "organization", "division", "department", "manager"], enterpriseSchema!["attributes"]!.AsArray().Select(a => a!["name"]!.GetValue<string>()));
        var (_, userSchema) = await Send(_httpA!, HttpMethod.Get, "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", token);
        var title = userSchema!["attributes"]!.AsArray().Single(a => a!["name"]!.GetValue<string>() == "title")!;
        Assert.Equal(("writeOnly", "never"), (title["mutability"]!.GetValue<string>(), title["returned"]!.GetValue<string>()));
        Assert.Equal(HttpStatusCode.OK, (await Send(_httpA!, HttpMethod.Get, "/scim/v2/ResourceTypes/User", token)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Send(_httpA!, HttpMethod.Get, "/scim/v2/Schemas/urn:nope", token)).Status);

        // Kept and returned.
        var (created, user) = await Send(_httpA!, HttpMethod.Post, "/scim/v2/Users", token, $$$$"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","{{{{Enterprise}}}}"],"userName":"e77@acme.example",
             "{{{{Enterprise}}}}":{"employeeNumber":"E77","department":"Support"}}
            """);
        Assert.Equal(HttpStatusCode.Created, created);
        Assert.Equal("E77", user![Enterprise]!["employeeNumber"]!.GetValue<string>());
        Assert.Contains(Enterprise, user["schemas"]!.AsArray().Select(s => s!.GetValue<string>()));
        var id = user["id"]!.GetValue<string>();
        var (_, fetched) = await Send(_httpB!, HttpMethod.Get, $"/scim/v2/Users/{id}", token);
        Assert.Equal("Support", fetched![Enterprise]!["department"]!.GetValue<string>());

        // Patched, and found by it.
        Assert.Equal(HttpStatusCode.OK, (await Send(_httpB!, HttpMethod.Patch, $"/scim/v2/Users/{id}", token,
            $$$$"""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"{{{{Enterprise}}}}:employeeNumber","value":"E78"}]}""")).Status);
        var (_, found) = await Send(_httpA!, HttpMethod.Get, "/scim/v2/Users?filter=" + Uri.EscapeDataString($"{Enterprise}:employeeNumber eq \"E78\""), token);
        Assert.Equal(id, found!["Resources"]![0]!["id"]!.GetValue<string>());
        Assert.Equal("E78", found["Resources"]![0]![Enterprise]!["employeeNumber"]!.GetValue<string>());

        // An extension the endpoint does not define is refused, not silently dropped.
        var (refused, error) = await Send(_httpA!, HttpMethod.Patch, $"/scim/v2/Users/{id}", token,
            """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"urn:ietf:params:scim:schemas:extension:acme:2.0:User:badge","value":"7"}]}""");
        Assert.Equal((HttpStatusCode.BadRequest, "invalidPath"), (refused, error!["scimType"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Adding_an_other_email_keeps_the_work_email_which_stays_the_agents()
    {
        var account = await A.Seeder().AccountAsync();
        var token = await TokenAsync(account, "Entra ID");
        var (_, user) = await Send(_httpA!, HttpMethod.Post, "/scim/v2/Users", token, """
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"work@acme.example",
             "emails":[{"value":"work@acme.example","type":"work","primary":true}]}
            """);
        var id = user!["id"]!.GetValue<string>();

        var (status, patched) = await Send(_httpA!, HttpMethod.Patch, $"/scim/v2/Users/{id}", token, """
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"emails[type eq \"other\"].Value","value":"other@acme.example"}]}
            """);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(JsonNode.DeepEquals(
            JsonNode.Parse("""[{"value":"work@acme.example","type":"work","primary":true},{"value":"other@acme.example","type":"other","primary":false}]"""),
            patched!["emails"]), patched["emails"]!.ToJsonString());
        Assert.Equal("work@acme.example", (await Agent(account, "work@acme.example")).Email);

        // Making the other one primary moves the agent's e-mail with it; one primary at most.
        (status, patched) = await Send(_httpB!, HttpMethod.Patch, $"/scim/v2/Users/{id}", token, """
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"emails[type eq \"other\"].primary","value":true}]}
            """);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal([false, true], patched!["emails"]!.AsArray().Select(e => e!["primary"]!.GetValue<bool>()));
        Assert.Equal("other@acme.example", (await Agent(account, "work@acme.example")).Email);

        // Removing by filter removes that entry only.
        (_, patched) = await Send(_httpA!, HttpMethod.Patch, $"/scim/v2/Users/{id}", token, """
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"emails[type eq \"other\"]"}]}
            """);
        Assert.Equal(["work@acme.example"], patched!["emails"]!.AsArray().Select(e => e!["value"]!.GetValue<string>()));
        Assert.Equal("work@acme.example", (await Agent(account, "work@acme.example")).Email);

        // Two primaries in one request are refused, nothing changed.
        (status, var error) = await Send(_httpA!, HttpMethod.Put, $"/scim/v2/Users/{id}", token, """
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"work@acme.example",
             "emails":[{"value":"a@acme.example","primary":true},{"value":"b@acme.example","primary":true}]}
            """);
        Assert.Equal((HttpStatusCode.BadRequest, "invalidValue"), (status, error!["scimType"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Microsofts_create_with_null_attributes_is_accepted_as_unassigned()
    {
        var account = await A.Seeder().AccountAsync();
        var token = await TokenAsync(account, "Entra ID");
        var (status, user) = await Send(_httpA!, HttpMethod.Post, "/scim/v2/Users", token, """
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
             "externalId":"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef","userName":"Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1","active":true,
             "emails":[{"primary":true,"type":"work","value":"Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"}],
             "meta":{"resourceType":"User"},"name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"},
             "roles":[],"title":null,"department":null,"manager":null,
             "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":null,"manager":null}}
            """);
        Assert.Equal(HttpStatusCode.Created, status);
        Assert.Null(user![Enterprise]);
        Assert.Equal("familyName", user["name"]!["familyName"]!.GetValue<string>());

        // A PATCH to null unassigns the attribute.
        (status, user) = await Send(_httpA!, HttpMethod.Patch, $"/scim/v2/Users/{user["id"]!.GetValue<string>()}", token,
            """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"name.familyName","value":null}]}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Null(user!["name"]!["familyName"]);
    }

    [Fact]
    public async Task A_deleted_users_id_is_never_given_again_and_answers_404()
    {
        var account = await A.Seeder().AccountAsync();
        var token = await TokenAsync(account, "Okta");
        const string body = """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"del@acme.example"}""";
        var (_, first) = await Send(_httpA!, HttpMethod.Post, "/scim/v2/Users", token, body);
        var oldId = first!["id"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.NoContent, (await Send(_httpA!, HttpMethod.Delete, $"/scim/v2/Users/{oldId}", token)).Status);

        var (status, second) = await Send(_httpB!, HttpMethod.Post, "/scim/v2/Users", token, body);
        Assert.Equal(HttpStatusCode.Created, status);
        Assert.NotEqual(oldId, second!["id"]!.GetValue<string>());
        foreach (var method in new[] { HttpMethod.Get, HttpMethod.Delete })
        {
            Assert.Equal(HttpStatusCode.NotFound, (await Send(_httpA!, method, $"/scim/v2/Users/{oldId}", token)).Status);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await Send(_httpA!, HttpMethod.Patch, $"/scim/v2/Users/{oldId}", token,
            """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}""")).Status);
        Assert.Equal("del@acme.example", (await Agent(account, "del@acme.example")).AgentId);
    }

    [Fact]
    public async Task An_id_an_identity_provider_got_before_ids_were_the_servers_keeps_answering()
    {
        // Before migration 0013 a user's SCIM id was its agent id; the migration kept it (scim_id = id). As it left such a user:
        var account = await A.Seeder().AccountAsync();
        var token = await TokenAsync(account, "Okta");
        var (_, user) = await Send(_httpA!, HttpMethod.Post, "/scim/v2/Users", token, """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"old@acme.example"}""");
        await using (var connection = new Npgsql.NpgsqlConnection(A.Database.ConnectionString))
        {
            await Dapper.SqlMapper.ExecuteAsync(connection, "UPDATE agents SET scim_id = id WHERE account_id = @account AND scim_id = @id", new { account, id = user!["id"]!.GetValue<string>() });
        }

        var (status, found) = await Send(_httpA!, HttpMethod.Get, "/scim/v2/Users/old@acme.example", token);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("old@acme.example", found!["id"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, (await Send(_httpB!, HttpMethod.Patch, "/scim/v2/Users/old@acme.example", token,
            """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"Old Timer"}]}""")).Status);
        Assert.Equal("Old Timer", (await Agent(account, "old@acme.example")).DisplayName);
        var (_, group) = await Send(_httpA!, HttpMethod.Post, "/scim/v2/Groups", token,
            """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Old","members":[{"value":"old@acme.example"}]}""");
        Assert.Equal("old@acme.example", group!["members"]![0]!["value"]!.GetValue<string>());
    }

    [Fact]
    public async Task Attributes_and_excludedAttributes_shape_every_read()
    {
        var account = await A.Seeder().AccountAsync();
        var token = await TokenAsync(account, "Okta");
        var (_, user) = await Send(_httpA!, HttpMethod.Post, "/scim/v2/Users", token, $$$$"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","{{{{Enterprise}}}}"],"userName":"shape@acme.example",
             "name":{"givenName":"Ada","familyName":"Shape"},"{{{{Enterprise}}}}":{"employeeNumber":"9","department":"Ops"}}
            """);
        var id = user!["id"]!.GetValue<string>();
        var userSchema = "urn:ietf:params:scim:schemas:core:2.0:User";

        var (_, one) = await Send(_httpA!, HttpMethod.Get, $"/scim/v2/Users/{id}?attributes=userName", token);
        Assert.Equal(["schemas", "id", "userName"], one!.AsObject().Select(p => p.Key));
        (_, one) = await Send(_httpA!, HttpMethod.Get, $"/scim/v2/Users/{id}?attributes=name.givenName,{userSchema}:active,{Enterprise}:employeeNumber", token);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse($$$$"""{"givenName":"Ada"}"""), one!["name"]), one.ToJsonString());
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse($$$$"""{"employeeNumber":"9"}"""), one[Enterprise]), one.ToJsonString());
        Assert.NotNull(one["active"]);
        Assert.Null(one["userName"]);
        (_, one) = await Send(_httpA!, HttpMethod.Get, $"/scim/v2/Users/{id}?excludedAttributes=emails,groups,meta,id", token);
        Assert.Null(one!["emails"]);
        Assert.Null(one["meta"]);
        Assert.Equal(id, one["id"]!.GetValue<string>());

        var (_, list) = await Send(_httpA!, HttpMethod.Get, "/scim/v2/Users?attributes=userName&filter=" + Uri.EscapeDataString("userName eq \"shape@acme.example\""), token);
        Assert.Equal(["schemas", "id", "userName"], list!["Resources"]![0]!.AsObject().Select(p => p.Key));
        var (searchStatus, searched) = await Send(_httpB!, HttpMethod.Post, "/scim/v2/Users/.search", token,
            """{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"attributes":["userName"],"filter":"userName eq \"shape@acme.example\"","startIndex":1,"count":10}""");
        Assert.Equal(HttpStatusCode.OK, searchStatus);
        Assert.Equal(1, searched!["totalResults"]!.GetValue<int>());
        Assert.Equal(["schemas", "id", "userName"], searched["Resources"]![0]!.AsObject().Select(p => p.Key));

        var (_, group) = await Send(_httpA!, HttpMethod.Post, "/scim/v2/Groups?attributes=displayName", token,
            $$$$"""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Shapes","members":[{"value":"{{{{id}}}}"}]}""");
        Assert.Equal(["schemas", "id", "displayName"], group!.AsObject().Select(p => p.Key));
        var (_, groups) = await Send(_httpA!, HttpMethod.Post, "/scim/v2/Groups/.search", token,
            """{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"excludedAttributes":["members"]}""");
        Assert.Null(groups!["Resources"]![0]!["members"]);
        Assert.Equal("Shapes", groups["Resources"]![0]!["displayName"]!.GetValue<string>());
    }

    public static TheoryData<string, string, int, string?> MalformedBodies => new()
    {
        // Defect 7: invalid UTF-8 (a lone continuation byte; then an escaped lone surrogate).
        { "application/scim+json", "BYTES:7B22736368656D6173223A5B2275726E3A696574663A706172616D733A7363696D3A736368656D61733A636F72653A322E303A55736572225D2C22757365724E616D65223A2278FF40612E6578616D706C65227D", 400, "invalidSyntax" },
        { "application/scim+json", """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x\ud800@a.example"}""", 400, "invalidSyntax" },

        // Defect 8: not a SCIM media type, or not UTF-8.
        { "text/plain", """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"plain@acme.example"}""", 415, null },
        { "application/x-www-form-urlencoded", "userName=form@acme.example", 415, null },
        { "application/scim+json; charset=iso-8859-1", """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"latin@acme.example"}""", 415, null },
        { "NONE", """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"none@acme.example"}""", 415, null },

        // A null where a value is required.
        { "application/scim+json", """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":null}""", 400, "invalidValue" },
    };

    [Theory]
    [MemberData(nameof(MalformedBodies))]
    public async Task Malformed_bodies_are_refused_with_a_scim_error_and_change_nothing(string contentType, string body, int status, string? scimType)
    {
        var account = await A.Seeder().AccountAsync();
        var token = await TokenAsync(account, "Okta");
        Assert.Equal(HttpStatusCode.OK, (await Send(_httpB!, HttpMethod.Get, "/scim/v2/Users", token)).Status);
        await A.AuditWrittenAsync();
        var before = await StateSnapshot.TakeAsync(A, account);

        using var request = new HttpRequestMessage(HttpMethod.Post, "/scim/v2/Users");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        request.Content = new ByteArrayContent(body.StartsWith("BYTES:", StringComparison.Ordinal) ? Convert.FromHexString(body[6..]) : Encoding.UTF8.GetBytes(body));
        if (contentType != "NONE")
        {
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }

        using var response = await _httpB!.SendAsync(request);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("urn:ietf:params:scim:api:messages:2.0:Error", error!["schemas"]![0]!.GetValue<string>());
        Assert.Equal(scimType, error["scimType"]?.GetValue<string>());
        Assert.Equal(before, await StateSnapshot.TakeAsync(A, account));
    }

    [Fact]
    public async Task Entras_documented_sequence_with_the_enterprise_extension_leaves_the_user_as_entra_expects_after_each_step()
    {
        var account = await A.Seeder().AccountAsync();
        var token = await TokenAsync(account, "Entra ID");
        const string Patch = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
        const string Shown = "userName,active,emails,name.familyName," + Enterprise;

        // Create, with a manager (Entra sends its object id) and a department.
        var (status, user) = await Send(_httpA!, HttpMethod.Post, "/scim/v2/Users", token, $$$$"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","{{{{Enterprise}}}}"],
             "externalId":"58342554-38d6-4ec8-948c-50044d0a33fd","userName":"Test_User_feed3ace-693c-4e5a-82e2-694be1b39934@contoso.example","active":true,
             "emails":[{"primary":true,"type":"work","value":"Test_User_22370c1a-9012-42b2-bf64-86099c2a1c22@testuser.com"}],
             "meta":{"resourceType":"User"},"name":{"familyName":"familyName","givenName":"givenName"},
             "{{{{Enterprise}}}}":{"department":"Support","manager":{"value":"e2f8d8c4-4d3b-4c5e-8f4b-1c2d3e4f5a6b"}}}
            """);
        Assert.Equal(HttpStatusCode.Created, status);
        var id = user!["id"]!.GetValue<string>();
        var baseUrl = _httpA!.BaseAddress!.ToString().TrimEnd('/') + "/scim/v2";

        async Task Expect(string step, string expected)
        {
            var (_, got) = await Send(_httpB!, HttpMethod.Get, $"/scim/v2/Users/{id}?attributes={Uri.EscapeDataString(Shown)}", token);
            got!.AsObject().Remove("schemas");
            var want = JsonNode.Parse(expected)!.AsObject();
            want["id"] = id;
            Assert.True(JsonNode.DeepEquals(want, got), $"{step}: expected {want.ToJsonString()}, got {got.ToJsonString()}");
        }

        var managerRef = $"{baseUrl.Replace(_httpA.BaseAddress!.Authority, _httpB!.BaseAddress!.Authority, StringComparison.Ordinal)}/Users/";
        await Expect("create", $$$$"""
            {"userName":"Test_User_feed3ace-693c-4e5a-82e2-694be1b39934@contoso.example","name":{"familyName":"familyName"},
             "emails":[{"value":"Test_User_22370c1a-9012-42b2-bf64-86099c2a1c22@testuser.com","type":"work","primary":true}],"active":true,
             "{{{{Enterprise}}}}":{"department":"Support","manager":{"value":"e2f8d8c4-4d3b-4c5e-8f4b-1c2d3e4f5a6b","$ref":"{{{{managerRef}}}}e2f8d8c4-4d3b-4c5e-8f4b-1c2d3e4f5a6b"}}}
            """);

        // employeeNumber with the URN prefix, then without it (a path-less value, and a bare path).
        foreach (var (operation, number) in new[]
        {
            ($$$$"""{"op":"Add","path":"{{{{Enterprise}}}}:employeeNumber","value":"701984"}""", "701984"),
            ($$$$"""{"op":"Replace","value":{"{{{{Enterprise}}}}:employeeNumber":"701985"}}""", "701985"),
            ("""{"op":"Replace","path":"employeeNumber","value":"701986"}""", "701986"),
        })
        {
            Assert.Equal(HttpStatusCode.OK, (await Send(_httpA!, HttpMethod.Patch, $"/scim/v2/Users/{id}", token,
                $$$$"""{"schemas":["{{{{Patch}}}}"],"Operations":[{{{{operation}}}}]}""")).Status);
            await Expect("employeeNumber " + number, $$$$"""
                {"userName":"Test_User_feed3ace-693c-4e5a-82e2-694be1b39934@contoso.example","name":{"familyName":"familyName"},
                 "emails":[{"value":"Test_User_22370c1a-9012-42b2-bf64-86099c2a1c22@testuser.com","type":"work","primary":true}],"active":true,
                 "{{{{Enterprise}}}}":{"employeeNumber":"{{{{number}}}}","department":"Support","manager":{"value":"e2f8d8c4-4d3b-4c5e-8f4b-1c2d3e4f5a6b","$ref":"{{{{managerRef}}}}e2f8d8c4-4d3b-4c5e-8f4b-1c2d3e4f5a6b"}}}
                """);
        }

        // Another manager, as Entra sends it (a plain id); an other e-mail.
        Assert.Equal(HttpStatusCode.OK, (await Send(_httpA!, HttpMethod.Patch, $"/scim/v2/Users/{id}", token, $$$$"""
            {"schemas":["{{{{Patch}}}}"],"Operations":[
              {"op":"Replace","path":"{{{{Enterprise}}}}:manager","value":"0b6b8f3c-1111-4c5e-8f4b-1c2d3e4f5a6b"},
              {"op":"Add","path":"emails[type eq \"other\"].value","value":"other@contoso.example"}]}
            """)).Status);
        const string Other = """{"value":"other@contoso.example","type":"other","primary":false}""";
        await Expect("manager and other e-mail", $$$$"""
            {"userName":"Test_User_feed3ace-693c-4e5a-82e2-694be1b39934@contoso.example","name":{"familyName":"familyName"},
             "emails":[{"value":"Test_User_22370c1a-9012-42b2-bf64-86099c2a1c22@testuser.com","type":"work","primary":true},{{{{Other}}}}],"active":true,
             "{{{{Enterprise}}}}":{"employeeNumber":"701986","department":"Support","manager":{"value":"0b6b8f3c-1111-4c5e-8f4b-1c2d3e4f5a6b","$ref":"{{{{managerRef}}}}0b6b8f3c-1111-4c5e-8f4b-1c2d3e4f5a6b"}}}
            """);

        // Disabled with a string boolean.
        Assert.Equal(HttpStatusCode.OK, (await Send(_httpA!, HttpMethod.Patch, $"/scim/v2/Users/{id}", token,
            $$$$"""{"schemas":["{{{{Patch}}}}"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}""")).Status);
        await Expect("disabled", $$$$"""
            {"userName":"Test_User_feed3ace-693c-4e5a-82e2-694be1b39934@contoso.example","name":{"familyName":"familyName"},
             "emails":[{"value":"Test_User_22370c1a-9012-42b2-bf64-86099c2a1c22@testuser.com","type":"work","primary":true},{{{{Other}}}}],"active":false,
             "{{{{Enterprise}}}}":{"employeeNumber":"701986","department":"Support","manager":{"value":"0b6b8f3c-1111-4c5e-8f4b-1c2d3e4f5a6b","$ref":"{{{{managerRef}}}}0b6b8f3c-1111-4c5e-8f4b-1c2d3e4f5a6b"}}}
            """);
    }
}
