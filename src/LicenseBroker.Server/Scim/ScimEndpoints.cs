using System.Text.Json;
using System.Text.Json.Nodes;
using LicenseBroker.Domain.Administration;
using LicenseBroker.Domain.Provisioning;
using LicenseBroker.Server.Extensions;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;

namespace LicenseBroker.Server.Scim;

/// <summary>
/// SCIM 2.0 (RFC 7643/7644) at /scim/v2 on the REST listener, for identity providers (Okta, Entra
/// ID, OneLogin, JumpCloud) to provision users and groups. Authenticated by a provisioning token of
/// the account (see CreateProvisioningToken), which acts only inside that account: another
/// account's ids answer exactly like ids that do not exist. A small, strict implementation on
/// minimal APIs: no SCIM library is served here, and none is well kept for .NET.
/// </summary>
public static partial class ScimEndpoints
{
    public const string BasePath = "/scim/v2";
    public const string ContentType = "application/scim+json";
    public const int MaxBodyBytes = 1024 * 1024;
    public const int MaxPageSize = 1000;

    public static WebApplication MapScim(this WebApplication app)
    {
        var port = app.Configuration.SideListenerPort("Rest", 5081);
        if (port <= 0)
        {
            return app;
        }

        var scim = app.MapGroup(BasePath).AllowAnonymous().RequireHost($"*:{port}");
        scim.MapGet("/ServiceProviderConfig", (HttpContext http) => Run(http, Static(() => ScimDiscovery.ServiceProviderConfig(BaseUrl(http)))));
        scim.MapGet("/ResourceTypes", (HttpContext http) => Run(http, Static(() => ScimDiscovery.ResourceTypes(BaseUrl(http)))));
        scim.MapGet("/ResourceTypes/{id}", (HttpContext http, string id) => Run(http, Static(() => ScimDiscovery.ResourceType(id, BaseUrl(http)) ?? throw NotFound("ResourceType", id))));
        scim.MapGet("/Schemas", (HttpContext http) => Run(http, Static(() => ScimDiscovery.Schemas(BaseUrl(http)))));
        scim.MapGet("/Schemas/{id}", (HttpContext http, string id) => Run(http, Static(() => ScimDiscovery.Schema(id, BaseUrl(http)) ?? throw NotFound("Schema", id))));

        scim.MapGet("/Users", (HttpContext http) => Run(http, async caller =>
            await ListUsersAsync(http, caller, http.Request.Query["filter"], Paging(http), UserProjection(http))));
        scim.MapPost("/Users/.search", (HttpContext http) => Run(http, async caller =>
        {
            var search = ParseSearch(await BodyAsync(http), ScimResources.UserSchema);
            return await ListUsersAsync(http, caller, search.Filter, search.Paging, search.Projection);
        }));
        scim.MapGet("/Users/{id}", (HttpContext http, string id) => Run(http, async caller =>
            User(http, await caller.Store.GetUserAsync(caller.AccountId, id, http.RequestAborted) ?? throw NotFound("User", id))));
        scim.MapPost("/Users", (HttpContext http) => Run(http, async caller =>
        {
            var input = ScimResources.ParseUser(await BodyAsync(http));
            var user = Result(await caller.Provisioning.CreateUserAsync(caller.Actor, caller.AccountId, input, http.RequestAborted), "User", string.Empty);
            http.Response.StatusCode = StatusCodes.Status201Created;
            http.Response.Headers.Location = $"{BaseUrl(http)}/Users/{Uri.EscapeDataString(user.Id)}";
            return User(http, user);
        }));
        scim.MapPut("/Users/{id}", (HttpContext http, string id) => Run(http, async caller =>
        {
            var input = ScimResources.ParseUser(await BodyAsync(http), id);
            return User(http, Result(await caller.Provisioning.ReplaceUserAsync(caller.Actor, caller.AccountId, id, input, http.RequestAborted), "User", id));
        }));
        scim.MapPatch("/Users/{id}", (HttpContext http, string id) => Run(http, async caller =>
        {
            var body = await BodyAsync(http);
            var current = await caller.Store.GetUserAsync(caller.AccountId, id, http.RequestAborted) ?? throw NotFound("User", id);
            var input = ScimResources.PatchUser(current, body);
            return User(http, Result(await caller.Provisioning.ReplaceUserAsync(caller.Actor, caller.AccountId, id, input, http.RequestAborted), "User", id));
        }));
        scim.MapDelete("/Users/{id}", (HttpContext http, string id) => Run(http, async caller =>
        {
            Result(await caller.Provisioning.DeleteUserAsync(caller.Actor, caller.AccountId, id, http.RequestAborted), "User", id);
            http.Response.StatusCode = StatusCodes.Status204NoContent;
            return null;
        }));

        scim.MapGet("/Groups", (HttpContext http) => Run(http, async caller =>
            await ListGroupsAsync(http, caller, http.Request.Query["filter"], Paging(http), GroupProjection(http))));
        scim.MapPost("/Groups/.search", (HttpContext http) => Run(http, async caller =>
        {
            var search = ParseSearch(await BodyAsync(http), ScimResources.GroupSchema);
            return await ListGroupsAsync(http, caller, search.Filter, search.Paging, search.Projection);
        }));
        scim.MapGet("/Groups/{id}", (HttpContext http, string id) => Run(http, async caller =>
            Group(http, await caller.Store.GetGroupAsync(caller.AccountId, id, http.RequestAborted) ?? throw NotFound("Group", id))));
        scim.MapPost("/Groups", (HttpContext http) => Run(http, async caller =>
        {
            var (displayName, externalId, members) = ScimResources.ParseGroup(await BodyAsync(http));
            var group = Result(await caller.Provisioning.CreateGroupAsync(caller.Actor, caller.AccountId, displayName, externalId, members, http.RequestAborted), "Group", string.Empty);
            http.Response.StatusCode = StatusCodes.Status201Created;
            http.Response.Headers.Location = $"{BaseUrl(http)}/Groups/{group.Id}";
            return Group(http, group);
        }));
        scim.MapPut("/Groups/{id}", (HttpContext http, string id) => Run(http, async caller =>
        {
            var (displayName, externalId, members) = ScimResources.ParseGroup(await BodyAsync(http), id);
            var change = new GroupChange(DisplayName: displayName, ExternalId: externalId, ClearExternalId: externalId is null, SetMembers: members);
            return Group(http, Result(await caller.Provisioning.ChangeGroupAsync(caller.Actor, caller.AccountId, id, change, http.RequestAborted), "Group", id));
        }));
        scim.MapPatch("/Groups/{id}", (HttpContext http, string id) => Run(http, async caller =>
        {
            var body = await BodyAsync(http);
            var current = await caller.Store.GetGroupAsync(caller.AccountId, id, http.RequestAborted) ?? throw NotFound("Group", id);
            var group = Result(await caller.Provisioning.ChangeGroupAsync(caller.Actor, caller.AccountId, id, ScimResources.PatchGroup(current, body), http.RequestAborted), "Group", id);

            // Entra ID and Okta accept 204 for a membership change; the resource is returned all the same when asked for.
            return Group(http, group);
        }));
        scim.MapDelete("/Groups/{id}", (HttpContext http, string id) => Run(http, async caller =>
        {
            Result(await caller.Provisioning.DeleteGroupAsync(caller.Actor, caller.AccountId, id, http.RequestAborted), "Group", id);
            http.Response.StatusCode = StatusCodes.Status204NoContent;
            return null;
        }));

        // Anything else under /scim/v2 (e.g. /Bulk, /Me): a SCIM 404, not an empty one.
        scim.Map("/{**rest}", (HttpContext http) => Run(http, _ => throw new ScimException(StatusCodes.Status404NotFound, null, "No such SCIM endpoint.")));
        return app;
    }

    private static async Task<JsonObject?> ListUsersAsync(HttpContext http, Caller caller, string? filter, (int Start, int Count) paging, ScimProjection projection)
    {
        var page = await caller.Store.ListUsersAsync(caller.AccountId, ScimFilter.Parse(filter, groups: false), paging.Start, paging.Count, http.RequestAborted);
        return ScimResources.List(page, user => projection.Apply(ScimResources.ToJson(user, BaseUrl(http))));
    }

    private static async Task<JsonObject?> ListGroupsAsync(HttpContext http, Caller caller, string? filter, (int Start, int Count) paging, ScimProjection projection)
    {
        var page = await caller.Store.ListGroupsAsync(caller.AccountId, ScimFilter.Parse(filter, groups: true), paging.Start, paging.Count, http.RequestAborted);
        return ScimResources.List(page, group => projection.Apply(ScimResources.ToJson(group, BaseUrl(http), projection.Returns("members"))));
    }

    private static JsonObject User(HttpContext http, ScimUser user) => UserProjection(http).Apply(ScimResources.ToJson(user, BaseUrl(http)));

    private static JsonObject Group(HttpContext http, ScimGroup group)
    {
        var projection = GroupProjection(http);
        return projection.Apply(ScimResources.ToJson(group, BaseUrl(http), projection.Returns("members")));
    }

    private static ScimProjection UserProjection(HttpContext http) => Projection(http, ScimResources.UserSchema);

    private static ScimProjection GroupProjection(HttpContext http) => Projection(http, ScimResources.GroupSchema);

    private static ScimProjection Projection(HttpContext http, string coreSchema) =>
        ScimProjection.Parse(http.Request.Query["attributes"].ToString(), http.Request.Query["excludedAttributes"].ToString(), coreSchema);

    /// <summary>A POST …/.search body (RFC 7644 §3.4.3): the query's parameters as JSON.</summary>
    private static (string? Filter, (int Start, int Count) Paging, ScimProjection Projection) ParseSearch(JsonObject body, string coreSchema)
    {
        ScimResources.RequireSchema(body, ScimResources.SearchSchema);
        foreach (var (name, _) in body)
        {
            if (name.ToLowerInvariant() is not ("schemas" or "filter" or "attributes" or "excludedattributes" or "startindex" or "count" or "sortby" or "sortorder"))
            {
                throw new ScimException(400, "invalidSyntax", $"Unknown attribute '{name}' in a SearchRequest.");
            }
        }

        static int? Number(JsonNode? node, string name) => node switch
        {
            null => null,
            JsonValue value when value.TryGetValue<int>(out var number) => number,
            _ => throw new ScimException(400, "invalidValue", $"{name} must be an integer."),
        };

        static List<string>? Names(JsonNode? node, string name) => node switch
        {
            null => null,
            JsonArray array => array.Select(n => ScimResources.OptionalText(n, name, 300) ?? throw new ScimException(400, "invalidValue", $"{name} must be strings.")).ToList(),
            _ => throw new ScimException(400, "invalidValue", $"{name} must be an array of attribute names."),
        };

        var filter = ScimResources.OptionalText(ScimResources.Get(body, "filter"), "filter", ScimFilter.MaxLength);
        var start = Math.Clamp(Number(ScimResources.Get(body, "startIndex"), "startIndex") ?? 1, 1, 1_000_000_000);
        var count = Math.Clamp(Number(ScimResources.Get(body, "count"), "count") ?? 100, 0, MaxPageSize);
        var projection = ScimProjection.Parse(Names(ScimResources.Get(body, "attributes"), "attributes"), Names(ScimResources.Get(body, "excludedAttributes"), "excludedAttributes"), coreSchema);
        return (filter, (start, count), projection);
    }

    /// <summary>A handler that only renders a document (discovery), after the token check.</summary>
    private static Func<Caller, Task<JsonObject?>> Static(Func<JsonObject> render) => _ => Task.FromResult<JsonObject?>(render());

    /// <summary>The caller as its provisioning token says: the account, and the actor of its changes.</summary>
    private sealed record Caller(string AccountId, Actor Actor, ProvisioningService Provisioning)
    {
        public IProvisioningStore Store => Provisioning.Store;
    }

    /// <summary>
    /// Authenticates the token, runs the handler, writes its JSON, and turns every failure into a
    /// SCIM error: never a 500 for a client's mistake, and a rejected request changes nothing.
    /// </summary>
    private static async Task Run(HttpContext http, Func<Caller, Task<JsonObject?>> handler)
    {
        var logger = http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("LicenseBroker.Scim");
        try
        {
            var provisioning = http.RequestServices.GetRequiredService<ProvisioningService>();
            var header = http.Request.Headers.Authorization.ToString();
            var token = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : string.Empty;
            var record = token.Length == 0 ? null : await provisioning.AuthenticateAsync(token, http.RequestAborted);
            if (record is null)
            {
                http.Response.Headers.WWWAuthenticate = "Bearer realm=\"scim\"";
                throw new ScimException(StatusCodes.Status401Unauthorized, null, "A valid provisioning token is required (Authorization: Bearer lbp_…).");
            }

            var result = await handler(new Caller(record.AccountId, new Actor("scim:" + record.Name), provisioning));
            if (result is not null)
            {
                http.Response.ContentType = ContentType;
                await http.Response.WriteAsync(result.ToJsonString(), http.RequestAborted);
            }
        }
        catch (ScimException ex)
        {
            await WriteErrorAsync(http, ex.Status, ex.ScimType, ex.Message);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await WriteErrorAsync(http, StatusCodes.Status413PayloadTooLarge, null, $"The body is larger than {MaxBodyBytes} bytes.");
        }
        catch (Exception ex) when (Grpc.BackendFaultInterceptor.BackendOf(ex) is { } backend)
        {
            LogBackend(logger, http.Request.Path, backend, ex);
            http.Response.Headers.RetryAfter = "5";
            await WriteErrorAsync(http, StatusCodes.Status503ServiceUnavailable, null, $"The license service cannot reach {backend} right now; retry shortly.");
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away.
        }
        catch (Exception ex)
        {
            var correlationId = System.Diagnostics.Activity.Current?.TraceId.ToString() ?? Guid.NewGuid().ToString("N");
            LogUnexpected(logger, http.Request.Path, correlationId, ex);
            await WriteErrorAsync(http, StatusCodes.Status500InternalServerError, null, $"The license service failed (a fault on our side). Correlation id: {correlationId}.");
        }
    }

    private static async Task WriteErrorAsync(HttpContext http, int status, string? scimType, string detail)
    {
        if (http.Response.HasStarted)
        {
            return;
        }

        var error = new JsonObject
        {
            ["schemas"] = new JsonArray(ScimResources.ErrorSchema),
            ["status"] = status.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["detail"] = detail,
        };
        if (scimType is not null)
        {
            error["scimType"] = scimType;
        }

        http.Response.StatusCode = status;
        http.Response.ContentType = ContentType;
        await http.Response.WriteAsync(error.ToJsonString());
    }

    /// <summary>
    /// The request's JSON object. Only SCIM's media types (RFC 7644 §3.1: application/scim+json, and the
    /// application/json some clients send), in UTF-8: anything else is refused before it is read. Invalid
    /// UTF-8 (raw, or as an escaped lone surrogate) is the client's malformed body, not our fault.
    /// </summary>
    private static async Task<JsonObject> BodyAsync(HttpContext http)
    {
        if (!MediaTypeHeaderValue.TryParse(http.Request.ContentType, out var mediaType)
            || mediaType.MediaType.Value?.ToLowerInvariant() is not ("application/scim+json" or "application/json")
            || (mediaType.Charset.HasValue && !mediaType.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase) && !mediaType.Charset.Equals("utf8", StringComparison.OrdinalIgnoreCase)))
        {
            throw new ScimException(StatusCodes.Status415UnsupportedMediaType, null,
                $"The body must be sent as {ContentType} (or application/json), in UTF-8; it came as '{http.Request.ContentType}'.");
        }

        if (http.Request.ContentLength > MaxBodyBytes)
        {
            throw new ScimException(StatusCodes.Status413PayloadTooLarge, null, $"The body is larger than {MaxBodyBytes} bytes.");
        }

        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxBodyBytes;
        }

        using var buffer = new MemoryStream();
        await http.Request.Body.CopyToAsync(buffer, http.RequestAborted);
        if (!System.Text.Unicode.Utf8.IsValid(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)))
        {
            throw new ScimException(400, "invalidSyntax", "The body is not valid UTF-8.");
        }

        try
        {
            var body = JsonNode.Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length).Span, new JsonNodeOptions { PropertyNameCaseInsensitive = false }, new JsonDocumentOptions { MaxDepth = 16 }) as JsonObject
                ?? throw new ScimException(400, "invalidSyntax", "The body must be a JSON object.");
            RequireValidStrings(body);
            return body;
        }
        catch (JsonException ex)
        {
            throw new ScimException(400, "invalidSyntax", "The body is not valid JSON: " + ex.Message);
        }
    }

    // "\ud800" is valid JSON and valid UTF-8, but not a string .NET can read: found here, before any handler reads it.
    private static void RequireValidStrings(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (_, value) in obj)
                {
                    RequireValidStrings(value);
                }

                break;
            case JsonArray array:
                foreach (var item in array)
                {
                    RequireValidStrings(item);
                }

                break;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                try
                {
                    _ = value.GetValue<string>();
                }
                catch (InvalidOperationException)
                {
                    throw new ScimException(400, "invalidSyntax", "The body holds a string that is not valid Unicode.");
                }

                break;
        }
    }

    private static (int Start, int Count) Paging(HttpContext http)
    {
        // RFC 7644 §3.4.2.4: startIndex below 1 is 1; count below 0 is 0; above the maximum, the maximum.
        var start = int.TryParse(http.Request.Query["startIndex"], out var s) ? Math.Max(1, s) : 1;
        var count = int.TryParse(http.Request.Query["count"], out var c) ? Math.Clamp(c, 0, MaxPageSize) : 100;
        if (http.Request.Query.ContainsKey("startIndex") && !int.TryParse(http.Request.Query["startIndex"], out _)
            || http.Request.Query.ContainsKey("count") && !int.TryParse(http.Request.Query["count"], out _))
        {
            throw new ScimException(400, "invalidValue", "startIndex and count must be integers.");
        }

        return (Math.Min(start, 1_000_000_000), count);
    }

    private static T Result<T>(ScimOutcome<T> outcome, string type, string id) => outcome switch
    {
        ScimOutcome<T>.Done done => done.Value,
        ScimOutcome<T>.NotFound => throw NotFound(type, id),
        ScimOutcome<T>.Conflict conflict => throw new ScimException(StatusCodes.Status409Conflict, "uniqueness", $"Another {type} of the account already has this {conflict.Attribute}."),
        ScimOutcome<T>.Invalid invalid => throw new ScimException(400, "invalidValue", invalid.Detail),
        _ => throw new InvalidOperationException($"Unhandled outcome {outcome}"),
    };

    private static ScimException NotFound(string type, string id) => new(StatusCodes.Status404NotFound, null, $"{type} {id} not found.");

    private static string BaseUrl(HttpContext http) => $"{http.Request.Scheme}://{http.Request.Host}{BasePath}";

    [LoggerMessage(Level = LogLevel.Warning, Message = "SCIM {Path} failed: {Backend} unavailable")]
    private static partial void LogBackend(ILogger logger, string path, string backend, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "SCIM {Path} failed unexpectedly (correlation id {CorrelationId})")]
    private static partial void LogUnexpected(ILogger logger, string path, string correlationId, Exception exception);
}
