using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using LicenseBroker.Domain.Provisioning;

namespace LicenseBroker.Server.Scim;

/// <summary>
/// SCIM users and groups as JSON (RFC 7643), and what a request body says about them. Attribute
/// names are matched without regard to case; booleans may come as strings ("False", as Entra ID
/// sends them); every value is checked before anything is stored.
/// </summary>
public static partial class ScimResources
{
    public const string UserSchema = "urn:ietf:params:scim:schemas:core:2.0:User";
    public const string GroupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group";
    public const string EnterpriseUserSchema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    public const string ListSchema = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
    public const string PatchSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
    public const string ErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error";

    // Core User attributes (RFC 7643 §4.1). Those the broker does not keep are accepted and ignored,
    // as identity providers send them by default (title, locale, phoneNumbers...).
    private static readonly HashSet<string> UserAttributes = new(StringComparer.OrdinalIgnoreCase)
    {
        "schemas", "id", "externalId", "meta", "userName", "name", "displayName", "nickName", "profileUrl", "title", "userType",
        "preferredLanguage", "locale", "timezone", "active", "password", "emails", "phoneNumbers", "ims", "photos", "addresses",
        "groups", "entitlements", "roles", "x509Certificates",
    };

    private static readonly HashSet<string> IgnoredUserAttributes = new(StringComparer.OrdinalIgnoreCase)
    {
        "nickName", "profileUrl", "title", "userType", "preferredLanguage", "locale", "timezone", "password", "phoneNumbers", "ims",
        "photos", "addresses", "entitlements", "roles", "x509Certificates",
    };

    private static readonly HashSet<string> GroupAttributes = new(StringComparer.OrdinalIgnoreCase) { "schemas", "id", "externalId", "meta", "displayName", "members" };

    public static JsonObject ToJson(ScimUser user, string baseUrl)
    {
        var json = new JsonObject
        {
            ["schemas"] = new JsonArray(UserSchema),
            ["id"] = user.Id,
            ["userName"] = user.UserName,
            ["name"] = Name(user),
            ["displayName"] = user.DisplayName,
            ["emails"] = new JsonArray(new JsonObject { ["value"] = user.Email, ["type"] = "work", ["primary"] = true }),
            ["active"] = user.Active,
            ["groups"] = new JsonArray(user.Groups.Select(g => (JsonNode)new JsonObject { ["value"] = g.Id, ["display"] = g.Display, ["$ref"] = $"{baseUrl}/Groups/{g.Id}" }).ToArray()),
            ["meta"] = Meta("User", user.Created, user.LastModified, $"{baseUrl}/Users/{Uri.EscapeDataString(user.Id)}"),
        };
        if (user.ExternalId is not null)
        {
            json["externalId"] = user.ExternalId;
        }

        return json;
    }

    // Attributes without a value are left out, not sent as null (RFC 7643 §2.5).
    private static JsonObject Name(ScimUser user)
    {
        var name = new JsonObject { ["formatted"] = $"{user.GivenName} {user.FamilyName}".Trim() is { Length: > 0 } formatted ? formatted : user.DisplayName };
        if (user.GivenName is not null)
        {
            name["givenName"] = user.GivenName;
        }

        if (user.FamilyName is not null)
        {
            name["familyName"] = user.FamilyName;
        }

        return name;
    }

    public static JsonObject ToJson(ScimGroup group, string baseUrl, bool withMembers = true)
    {
        var json = new JsonObject
        {
            ["schemas"] = new JsonArray(GroupSchema),
            ["id"] = group.Id,
            ["displayName"] = group.DisplayName,
            ["meta"] = Meta("Group", group.Created, group.LastModified, $"{baseUrl}/Groups/{group.Id}"),
        };
        if (withMembers)
        {
            json["members"] = new JsonArray(group.Members.Select(m => (JsonNode)new JsonObject
            {
                ["value"] = m.Id, ["display"] = m.Display, ["$ref"] = $"{baseUrl}/Users/{Uri.EscapeDataString(m.Id)}", ["type"] = "User",
            }).ToArray());
        }

        if (group.ExternalId is not null)
        {
            json["externalId"] = group.ExternalId;
        }

        return json;
    }

    public static JsonObject List<T>(ScimPage<T> page, Func<T, JsonObject> render) => new()
    {
        ["schemas"] = new JsonArray(ListSchema),
        ["totalResults"] = page.TotalResults,
        ["startIndex"] = page.StartIndex,
        ["itemsPerPage"] = page.Resources.Count,
        ["Resources"] = new JsonArray(page.Resources.Select(r => (JsonNode)render(r)).ToArray()),
    };

    /// <summary>A user from a POST or PUT body (the whole user).</summary>
    public static ScimUserInput ParseUser(JsonObject body, string? id = null)
    {
        RequireSchema(body, UserSchema);
        foreach (var (name, _) in body)
        {
            if (!UserAttributes.Contains(name) && !IsDeclaredExtension(body, name))
            {
                throw new ScimException(400, "invalidSyntax", $"Unknown attribute '{name}' for a User.");
            }
        }

        if (id is not null && Get(body, "id") is { } given && given.ToString() != id)
        {
            throw new ScimException(400, "mutability", "id cannot be changed.");
        }

        var user = new ScimUserInput(
            UserName: RequiredText(Get(body, "userName"), "userName", 256),
            ExternalId: OptionalText(Get(body, "externalId"), "externalId", 256),
            GivenName: null,
            FamilyName: null,
            DisplayName: OptionalText(Get(body, "displayName"), "displayName", 200),
            Email: PrimaryEmail(Get(body, "emails")),
            Active: Get(body, "active") is { } active ? Bool(active, "active") : true);
        if (Get(body, "name") is { } nameParts)
        {
            user = ApplyName(user, nameParts);
        }

        return user;
    }

    /// <summary>Applies a PatchOp to a user (RFC 7644 §3.5.2), as Okta and Entra ID send them.</summary>
    public static ScimUserInput PatchUser(ScimUser current, JsonObject body)
    {
        var user = new ScimUserInput(current.UserName, current.ExternalId, current.GivenName, current.FamilyName, current.DisplayName, current.Email, current.Active);
        foreach (var (op, path, value) in Operations(body))
        {
            if (path is null)
            {
                // No path: the value is an object of attributes (Okta: {"active": false}; Entra: {"name.givenName": "…"}).
                if (op == "remove" || value is not JsonObject attributes)
                {
                    throw new ScimException(400, "invalidValue", op == "remove" ? "remove needs a path." : "Without a path, the value must be an object of attributes.");
                }

                foreach (var (name, attributeValue) in attributes)
                {
                    user = SetUserAttribute(user, op, name, attributeValue);
                }
            }
            else
            {
                user = SetUserAttribute(user, op, path, value);
            }
        }

        return user;
    }

    /// <summary>Applies a PatchOp to a group: members added or removed (in bulk), renamed, externalId.</summary>
    public static GroupChange PatchGroup(ScimGroup current, JsonObject body)
    {
        var change = new GroupChange();
        var add = new List<string>();
        var remove = new List<string>();
        foreach (var (op, path, value) in Operations(body))
        {
            if (path is null)
            {
                if (op == "remove" || value is not JsonObject attributes)
                {
                    throw new ScimException(400, "invalidValue", op == "remove" ? "remove needs a path." : "Without a path, the value must be an object of attributes.");
                }

                foreach (var (name, attributeValue) in attributes)
                {
                    change = SetGroupAttribute(change, current, op, name, attributeValue, add, remove);
                }
            }
            else
            {
                change = SetGroupAttribute(change, current, op, path, value, add, remove);
            }
        }

        return change with { AddMembers = add, RemoveMembers = remove };
    }

    /// <summary>A group from a POST or PUT body.</summary>
    public static (string DisplayName, string? ExternalId, IReadOnlyList<string> Members) ParseGroup(JsonObject body, string? id = null)
    {
        RequireSchema(body, GroupSchema);
        foreach (var (name, _) in body)
        {
            if (!GroupAttributes.Contains(name) && !IsDeclaredExtension(body, name))
            {
                throw new ScimException(400, "invalidSyntax", $"Unknown attribute '{name}' for a Group.");
            }
        }

        if (id is not null && Get(body, "id") is { } given && given.ToString() != id)
        {
            throw new ScimException(400, "mutability", "id cannot be changed.");
        }

        return (RequiredText(Get(body, "displayName"), "displayName", 256), OptionalText(Get(body, "externalId"), "externalId", 256), MemberIds(Get(body, "members")));
    }

    private static ScimUserInput SetUserAttribute(ScimUserInput user, string op, string path, JsonNode? value)
    {
        var remove = op == "remove";
        var lower = path.ToLowerInvariant();
        if (lower.StartsWith(UserSchema.ToLowerInvariant() + ":", StringComparison.Ordinal))
        {
            lower = lower[(UserSchema.Length + 1)..];
        }

        switch (lower)
        {
            case "active":
                return remove ? user : user with { Active = Bool(value, "active") };
            case "username":
                return remove ? throw new ScimException(400, "mutability", "userName is required and cannot be removed.") : user with { UserName = RequiredText(value, "userName", 256) };
            case "displayname":
                return user with { DisplayName = remove ? null : OptionalText(value, "displayName", 200) };
            case "externalid":
                return user with { ExternalId = remove ? null : OptionalText(value, "externalId", 256) };
            case "name.givenname":
                return user with { GivenName = remove ? null : OptionalText(value, "name.givenName", 100) };
            case "name.familyname":
                return user with { FamilyName = remove ? null : OptionalText(value, "name.familyName", 100) };
            case "name.formatted" or "name.middlename" or "name.honorificprefix" or "name.honorificsuffix":
                return user;
            case "name":
                return remove ? user with { GivenName = null, FamilyName = null } : ApplyName(user, value);
            case "emails":
                return remove ? user with { Email = null } : user with { Email = PrimaryEmail(value) ?? user.Email };
            case "id":
                throw new ScimException(400, "mutability", "id cannot be changed.");
            case "groups":
                throw new ScimException(400, "mutability", "groups is read-only on a User: change the Group's members.");
        }

        if (EmailPath().IsMatch(lower))
        {
            return user with { Email = remove ? null : Email(value, path) };
        }

        // Attributes the broker does not keep, and extensions (Entra's enterprise user: department, manager...).
        var root = lower.Split('[', '.')[0];
        if (IgnoredUserAttributes.Contains(root) || lower.StartsWith("urn:ietf:params:scim:schemas:extension:", StringComparison.Ordinal))
        {
            return user;
        }

        throw new ScimException(400, "invalidPath", $"'{path}' is not an attribute of a User that can be changed.");
    }

    private static GroupChange SetGroupAttribute(GroupChange change, ScimGroup current, string op, string path, JsonNode? value, List<string> add, List<string> remove)
    {
        var lower = path.ToLowerInvariant();
        if (lower == "members")
        {
            switch (op)
            {
                case "add":
                    add.AddRange(MemberIds(value));
                    return change;
                case "remove" when value is null:
                    remove.AddRange(current.Members.Select(m => m.Id));
                    return change;
                case "remove":
                    remove.AddRange(MemberIds(value));
                    return change;
                default:
                    // replace: the members are exactly these.
                    remove.AddRange(current.Members.Select(m => m.Id));
                    add.AddRange(MemberIds(value));
                    return change;
            }
        }

        if (MemberFilterPath().Match(path) is { Success: true } match)
        {
            if (op != "remove")
            {
                throw new ScimException(400, "invalidPath", "A members[value eq \"…\"] path can only be removed.");
            }

            remove.Add(System.Text.Json.JsonSerializer.Deserialize<string>("\"" + match.Groups[1].Value + "\"")!);
            return change;
        }

        return lower switch
        {
            "displayname" when op == "remove" => throw new ScimException(400, "mutability", "displayName is required and cannot be removed."),
            "displayname" => change with { DisplayName = RequiredText(value, "displayName", 256) },
            "externalid" when op == "remove" => change with { ClearExternalId = true },
            "externalid" => change with { ExternalId = OptionalText(value, "externalId", 256) },
            "id" => value?.ToString() == current.Id ? change : throw new ScimException(400, "mutability", "id cannot be changed."),
            _ => throw new ScimException(400, "invalidPath", $"'{path}' is not an attribute of a Group that can be changed."),
        };
    }

    private static List<(string Op, string? Path, JsonNode? Value)> Operations(JsonObject body)
    {
        RequireSchema(body, PatchSchema);
        if (Get(body, "Operations") is not JsonArray operations || operations.Count == 0)
        {
            throw new ScimException(400, "invalidSyntax", "A PatchOp needs a non-empty Operations array.");
        }

        if (operations.Count > 1000)
        {
            throw new ScimException(400, "invalidSyntax", "At most 1000 operations per PatchOp.");
        }

        var list = new List<(string Op, string? Path, JsonNode? Value)>();
        foreach (var item in operations)
        {
            if (item is not JsonObject operation)
            {
                throw new ScimException(400, "invalidSyntax", "Each operation must be an object.");
            }

            // Entra ID writes Add / Replace / Remove.
            var op = (Get(operation, "op") as JsonValue)?.TryGetValue<string>(out var text) == true ? text.ToLowerInvariant() : null;
            if (op is not ("add" or "replace" or "remove"))
            {
                throw new ScimException(400, "invalidSyntax", "op must be add, replace or remove.");
            }

            string? path = null;
            if (Get(operation, "path") is { } pathNode)
            {
                path = (pathNode as JsonValue)?.TryGetValue<string>(out var p) == true && p.Length is > 0 and <= 500 ? p : throw new ScimException(400, "invalidPath", "path must be a non-empty string.");
            }

            var value = Get(operation, "value");
            if (op != "remove" && value is null)
            {
                throw new ScimException(400, "invalidValue", $"{op} needs a value.");
            }

            list.Add((op, path, value));
        }

        return list;
    }

    private static ScimUserInput ApplyName(ScimUserInput user, JsonNode? name)
    {
        if (name is not JsonObject parts)
        {
            throw new ScimException(400, "invalidValue", "name must be an object.");
        }

        return user with
        {
            GivenName = OptionalText(Get(parts, "givenName"), "name.givenName", 100),
            FamilyName = OptionalText(Get(parts, "familyName"), "name.familyName", 100),
        };
    }

    private static string? PrimaryEmail(JsonNode? emails)
    {
        if (emails is null)
        {
            return null;
        }

        if (emails is not JsonArray list || list.Count > 20 || list.Any(e => e is not JsonObject))
        {
            throw new ScimException(400, "invalidValue", "emails must be an array of at most 20 objects.");
        }

        var chosen = list.OfType<JsonObject>().FirstOrDefault(e => Get(e, "primary") is { } primary && Bool(primary, "emails.primary"))
            ?? list.OfType<JsonObject>().FirstOrDefault(e => string.Equals((Get(e, "type") as JsonValue)?.ToString(), "work", StringComparison.OrdinalIgnoreCase))
            ?? list.OfType<JsonObject>().FirstOrDefault();
        return chosen is null ? null : Email(Get(chosen, "value"), "emails.value");
    }

    private static string Email(JsonNode? value, string attribute)
    {
        var text = RequiredText(value, attribute, 254);
        return EmailPattern().IsMatch(text) ? text : throw new ScimException(400, "invalidValue", $"{attribute} must be an e-mail address.");
    }

    private static List<string> MemberIds(JsonNode? members)
    {
        if (members is null)
        {
            return [];
        }

        if (members is not JsonArray list || list.Count > 10_000)
        {
            throw new ScimException(400, "invalidValue", "members must be an array of at most 10,000 {\"value\": id} objects.");
        }

        return list.Select(m => m is JsonObject member && Get(member, "value") is JsonValue id && id.TryGetValue<string>(out var text) && text.Length is > 0 and <= 128
            ? text
            : throw new ScimException(400, "invalidValue", "Each member must be {\"value\": \"<user id>\"}.")).Distinct(StringComparer.Ordinal).ToList();
    }

    private static bool Bool(JsonNode? value, string attribute)
    {
        if (value is JsonValue json)
        {
            if (json.TryGetValue<bool>(out var flag))
            {
                return flag;
            }

            // Entra ID sends "True" / "False".
            if (json.TryGetValue<string>(out var text) && bool.TryParse(text, out flag))
            {
                return flag;
            }
        }

        throw new ScimException(400, "invalidValue", $"{attribute} must be true or false.");
    }

    private static string RequiredText(JsonNode? value, string attribute, int maxLength) =>
        OptionalText(value, attribute, maxLength) ?? throw new ScimException(400, "invalidValue", $"{attribute} is required.");

    private static string? OptionalText(JsonNode? value, string attribute, int maxLength)
    {
        if (value is null)
        {
            return null;
        }

        if (value is not JsonValue json || !json.TryGetValue<string>(out var text))
        {
            throw new ScimException(400, "invalidValue", $"{attribute} must be a string.");
        }

        if (text.Length > maxLength || text.Any(char.IsControl) || text.Trim().Length == 0)
        {
            throw new ScimException(400, "invalidValue", $"{attribute} must be 1-{maxLength} printable characters.");
        }

        return text;
    }

    private static void RequireSchema(JsonObject body, string schema)
    {
        if (Get(body, "schemas") is not JsonArray schemas
            || !schemas.Any(s => s is JsonValue v && v.TryGetValue<string>(out var text) && string.Equals(text, schema, StringComparison.OrdinalIgnoreCase)))
        {
            throw new ScimException(400, "invalidSyntax", $"schemas must include {schema}.");
        }
    }

    private static bool IsDeclaredExtension(JsonObject body, string name) =>
        name.StartsWith("urn:", StringComparison.OrdinalIgnoreCase)
        && Get(body, "schemas") is JsonArray schemas
        && schemas.Any(s => string.Equals(s?.ToString(), name, StringComparison.OrdinalIgnoreCase));

    /// <summary>An attribute by name, without regard to case (RFC 7643 §2.1).</summary>
    public static JsonNode? Get(JsonObject obj, string name)
    {
        foreach (var (key, value) in obj)
        {
            if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase))
            {
                return value;
            }
        }

        return null;
    }

    private static JsonObject Meta(string type, DateTimeOffset created, DateTimeOffset lastModified, string location) => new()
    {
        ["resourceType"] = type,
        ["created"] = created.ToString("O", CultureInfo.InvariantCulture),
        ["lastModified"] = lastModified.ToString("O", CultureInfo.InvariantCulture),
        ["location"] = location,
        ["version"] = $"W/\"{lastModified.UtcTicks.ToString(CultureInfo.InvariantCulture)}\"",
    };

    [GeneratedRegex(@"^emails(\[type eq ""[a-z]{1,20}""\])?\.value$")]
    private static partial Regex EmailPath();

    [GeneratedRegex(@"^members\[value eq ""((?:[^""\\]|\\.){1,128})""\]$", RegexOptions.IgnoreCase)]
    private static partial Regex MemberFilterPath();

    [GeneratedRegex(@"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    private static partial Regex EmailPattern();
}
