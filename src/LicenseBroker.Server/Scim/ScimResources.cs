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
    public const string SearchSchema = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

    /// <summary>The enterprise extension's attributes the broker keeps (RFC 7643 §4.3), as they are spelled.</summary>
    public static readonly IReadOnlyList<string> EnterpriseAttributeNames = ["employeeNumber", "costCenter", "organization", "division", "department", "manager"];

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
            ["schemas"] = user.Enterprise is { IsEmpty: false } ? new JsonArray(UserSchema, EnterpriseUserSchema) : new JsonArray(UserSchema),
            ["id"] = user.Id,
            ["userName"] = user.UserName,
            ["name"] = Name(user),
            ["displayName"] = user.DisplayName,
            ["emails"] = new JsonArray(user.Emails.Select(e => (JsonNode)EmailJson(e)).ToArray()),
            ["active"] = user.Active,
            ["groups"] = new JsonArray(user.Groups.Select(g => (JsonNode)new JsonObject { ["value"] = g.Id, ["display"] = g.Display, ["$ref"] = $"{baseUrl}/Groups/{g.Id}" }).ToArray()),
            ["meta"] = Meta("User", user.Created, user.LastModified, $"{baseUrl}/Users/{Uri.EscapeDataString(user.Id)}"),
        };
        if (user.ExternalId is not null)
        {
            json["externalId"] = user.ExternalId;
        }

        if (user.Enterprise is { IsEmpty: false } enterprise)
        {
            json[EnterpriseUserSchema] = EnterpriseJson(enterprise, baseUrl);
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

    /// <summary>A user from a POST or PUT body (the whole user). A null value is an unassigned attribute (RFC 7643 §2.5).</summary>
    public static ScimUserInput ParseUser(JsonObject body, string? id = null)
    {
        RequireSchema(body, UserSchema);
        foreach (var (name, value) in body)
        {
            if (value is not null && !UserAttributes.Contains(name) && !IsDeclaredExtension(body, name))
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
            Emails: Emails(Get(body, "emails"), "emails"),
            Enterprise: Get(body, EnterpriseUserSchema) is { } extension ? Enterprise(new EnterpriseAttributes(), "add", null, extension) : null,
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
        var user = new ScimUserInput(current.UserName, current.ExternalId, current.GivenName, current.FamilyName, current.DisplayName, current.Emails, current.Enterprise, current.Active);
        foreach (var (op, path, value) in Operations(body))
        {
            if (path is null)
            {
                // No path: the value is an object of attributes (Okta: {"active": false}; Entra: {"name.givenName": "…"}).
                if (value is not JsonObject attributes)
                {
                    throw new ScimException(400, "invalidValue", "Without a path, the value must be an object of attributes.");
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
                if (value is not JsonObject attributes)
                {
                    throw new ScimException(400, "invalidValue", "Without a path, the value must be an object of attributes.");
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
        if (!remove && value is null)
        {
            // Null is "unassigned" (RFC 7643 §2.5): as a remove of that attribute.
            remove = true;
            op = "remove";
        }

        var lower = path.ToLowerInvariant();
        if (lower.StartsWith(UserSchema.ToLowerInvariant() + ":", StringComparison.Ordinal))
        {
            lower = lower[(UserSchema.Length + 1)..];
        }

        // The extension by its URN, one of its attributes after it, or (no core attribute has these names) an attribute alone.
        var enterprise = EnterpriseUserSchema.ToLowerInvariant();
        var bare = EnterpriseAttributeNames.Any(n => lower.Equals(n, StringComparison.OrdinalIgnoreCase) || lower.StartsWith(n + ".", StringComparison.OrdinalIgnoreCase));
        if (bare || lower == enterprise || lower.StartsWith(enterprise + ":", StringComparison.Ordinal))
        {
            var attribute = bare ? path : lower.Length == enterprise.Length ? null : path[(enterprise.Length + 1)..];
            var updated = Enterprise(user.Enterprise ?? new EnterpriseAttributes(), op, attribute, value);
            return user with { Enterprise = updated.IsEmpty ? null : updated };
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
            case "id":
                throw new ScimException(400, "mutability", "id cannot be changed.");
            case "groups":
                throw new ScimException(400, "mutability", "groups is read-only on a User: change the Group's members.");
        }

        if (lower == "emails" || lower.StartsWith("emails[", StringComparison.Ordinal) || lower.StartsWith("emails.", StringComparison.Ordinal))
        {
            return user with { Emails = ScimEmails.Patch(user.Emails, op, path, value) };
        }

        // Core attributes the broker accepts and does not keep (declared writeOnly, returned never, in /Schemas).
        var root = lower.Split('[', '.')[0];
        if (IgnoredUserAttributes.Contains(root))
        {
            return user;
        }

        throw new ScimException(400, "invalidPath", $"'{path}' is not an attribute of a User that can be changed.");
    }

    /// <summary>
    /// The enterprise extension after one operation: on the whole extension (<paramref name="attribute"/> null:
    /// an object of attributes, or a remove of all) or on one attribute, including Entra's manager forms
    /// ("manager" with a plain id, or with {"value": id}; "manager.value").
    /// </summary>
    private static EnterpriseAttributes Enterprise(EnterpriseAttributes current, string op, string? attribute, JsonNode? value)
    {
        if (attribute is null)
        {
            if (op == "remove")
            {
                return new EnterpriseAttributes();
            }

            if (value is not JsonObject attributes)
            {
                throw new ScimException(400, "invalidValue", $"{EnterpriseUserSchema} must be an object.");
            }

            var result = op == "replace" ? new EnterpriseAttributes() : current;
            foreach (var (name, attributeValue) in attributes)
            {
                result = Enterprise(result, attributeValue is null ? "remove" : "add", name, attributeValue);
            }

            return result;
        }

        var remove = op == "remove" || value is null;
        string? Text(string name, int max) => remove ? null : OptionalText(value, $"{EnterpriseUserSchema}:{name}", max);
        return attribute.ToLowerInvariant() switch
        {
            "employeenumber" => current with { EmployeeNumber = Text("employeeNumber", 64) },
            "costcenter" => current with { CostCenter = Text("costCenter", 128) },
            "organization" => current with { Organization = Text("organization", 128) },
            "division" => current with { Division = Text("division", 128) },
            "department" => current with { Department = Text("department", 128) },
            "manager" or "manager.value" => current with { ManagerId = remove ? null : ManagerId(value) },
            "manager.displayname" or "manager.$ref" => current,
            _ => throw new ScimException(400, "invalidPath", $"'{attribute}' is not an attribute of {EnterpriseUserSchema}."),
        };
    }

    private static string? ManagerId(JsonNode? value) => value switch
    {
        JsonObject manager => Get(manager, "value") is { } id ? OptionalText(id, "manager.value", 128) : null,
        _ => OptionalText(value, "manager", 128),
    };

    private static JsonObject EnterpriseJson(EnterpriseAttributes enterprise, string baseUrl)
    {
        var json = new JsonObject();
        void Put(string name, string? text)
        {
            if (text is not null)
            {
                json[name] = text;
            }
        }

        Put("employeeNumber", enterprise.EmployeeNumber);
        Put("costCenter", enterprise.CostCenter);
        Put("organization", enterprise.Organization);
        Put("division", enterprise.Division);
        Put("department", enterprise.Department);
        if (enterprise.ManagerId is { } manager)
        {
            json["manager"] = new JsonObject { ["value"] = manager, ["$ref"] = $"{baseUrl}/Users/{Uri.EscapeDataString(manager)}" };
        }

        return json;
    }

    private static JsonObject EmailJson(ScimEmail email)
    {
        var json = new JsonObject { ["value"] = email.Value };
        if (email.Type is not null)
        {
            json["type"] = email.Type;
        }

        json["primary"] = email.Primary;
        return json;
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
            if (op == "remove" && path is null)
            {
                // RFC 7644 §3.5.2.2: a remove without a path has no target.
                throw new ScimException(400, "noTarget", "remove needs a path.");
            }

            // A value of null is "unassigned" (RFC 7643 §2.5); no value at all is a malformed add or replace.
            if (op != "remove" && value is null && !operation.Any(p => string.Equals(p.Key, "value", StringComparison.OrdinalIgnoreCase)))
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

    /// <summary>A whole list of e-mails (POST, PUT, or a PATCH of "emails" without a filter).</summary>
    internal static IReadOnlyList<ScimEmail> Emails(JsonNode? emails, string attribute)
    {
        if (emails is null)
        {
            return [];
        }

        if (emails is not JsonArray list || list.Count > ScimEmails.MaxEmails || list.Any(e => e is not JsonObject))
        {
            throw new ScimException(400, "invalidValue", $"{attribute} must be an array of at most {ScimEmails.MaxEmails} objects.");
        }

        var parsed = list.OfType<JsonObject>().Select(e => EmailOf(e, attribute)).ToList();
        return parsed.Count(e => e.Primary) > 1
            ? throw new ScimException(400, "invalidValue", $"At most one of {attribute} may be primary (RFC 7643 §2.4).")
            : parsed;
    }

    internal static ScimEmail EmailOf(JsonObject email, string attribute) => new(
        Email(Get(email, "value"), attribute + ".value"),
        EmailType(Get(email, "type"), attribute + ".type"),
        Get(email, "primary") is { } primary && Bool(primary, attribute + ".primary"));

    internal static string? EmailType(JsonNode? value, string attribute) =>
        OptionalText(value, attribute, 20) is { } type ? type.ToLowerInvariant() : null;

    internal static string Email(JsonNode? value, string attribute)
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

    internal static bool Bool(JsonNode? value, string attribute)
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

    internal static string? OptionalText(JsonNode? value, string attribute, int maxLength)
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

    internal static void RequireSchema(JsonObject body, string schema)
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

    [GeneratedRegex(@"^members\[value eq ""((?:[^""\\]|\\.){1,128})""\]$", RegexOptions.IgnoreCase)]
    private static partial Regex MemberFilterPath();

    [GeneratedRegex(@"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    private static partial Regex EmailPattern();
}
