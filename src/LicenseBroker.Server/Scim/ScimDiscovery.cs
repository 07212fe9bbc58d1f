using System.Text.Json.Nodes;

namespace LicenseBroker.Server.Scim;

/// <summary>What the endpoint supports, as identity providers read it (RFC 7644 §4, RFC 7643 §5–7).</summary>
public static class ScimDiscovery
{
    public static JsonObject ServiceProviderConfig(string baseUrl) => new()
    {
        ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"),
        ["documentationUri"] = "https://datatracker.ietf.org/doc/html/rfc7644",
        ["patch"] = new JsonObject { ["supported"] = true },
        ["bulk"] = new JsonObject { ["supported"] = false, ["maxOperations"] = 0, ["maxPayloadSize"] = 0 },
        ["filter"] = new JsonObject { ["supported"] = true, ["maxResults"] = ScimEndpoints.MaxPageSize },
        ["changePassword"] = new JsonObject { ["supported"] = false },
        ["sort"] = new JsonObject { ["supported"] = false },
        ["etag"] = new JsonObject { ["supported"] = false },
        ["authenticationSchemes"] = new JsonArray(new JsonObject
        {
            ["type"] = "oauthbearertoken",
            ["name"] = "Provisioning token",
            ["description"] = "A provisioning token of the account (CreateProvisioningToken), sent as Authorization: Bearer lbp_…",
            ["primary"] = true,
        }),
        ["meta"] = new JsonObject { ["resourceType"] = "ServiceProviderConfig", ["location"] = baseUrl + "/ServiceProviderConfig" },
    };

    public static JsonObject ResourceTypes(string baseUrl) => ListOf([ResourceType("User", baseUrl)!, ResourceType("Group", baseUrl)!]);

    /// <summary>One resource type by its id (User, Group); null when there is none.</summary>
    public static JsonObject? ResourceType(string id, string baseUrl) => id switch
    {
        "User" => ResourceTypeDocument("User", "/Users", ScimResources.UserSchema, baseUrl,
            new JsonArray(new JsonObject { ["schema"] = ScimResources.EnterpriseUserSchema, ["required"] = false })),
        "Group" => ResourceTypeDocument("Group", "/Groups", ScimResources.GroupSchema, baseUrl, new JsonArray()),
        _ => null,
    };

    public static JsonObject Schemas(string baseUrl) => ListOf([.. SchemaIds.Select(id => Schema(id, baseUrl)!)]);

    private static readonly string[] SchemaIds = [ScimResources.UserSchema, ScimResources.EnterpriseUserSchema, ScimResources.GroupSchema];

    /// <summary>
    /// One schema by its id (RFC 7644 §4): every attribute the endpoint accepts, with what it does with it.
    /// Core attributes accepted but not kept (title, locale, phoneNumbers…) are declared writeOnly and
    /// returned never: an identity provider may send them, and will never read them back.
    /// </summary>
    public static JsonObject? Schema(string id, string baseUrl)
    {
        JsonObject? schema = id switch
        {
            ScimResources.UserSchema => SchemaDocument(id, "User", "An agent of the account.", [
                Attribute("userName", required: true, uniqueness: "server"),
                Attribute("externalId", caseExact: true, uniqueness: "server"),
                Complex("name", false, Attribute("givenName"), Attribute("familyName"), Attribute("formatted", mutability: "readOnly")),
                Attribute("displayName"),
                Complex("emails", true, Attribute("value", uniqueness: "server"), Attribute("type", canonical: ["work", "home", "other"]), Attribute("primary", "boolean")),
                Attribute("active", "boolean"),
                Complex("groups", true, "readOnly", Attribute("value", mutability: "readOnly"), Attribute("$ref", "reference", mutability: "readOnly"), Attribute("display", mutability: "readOnly")),
                .. NotKept("nickName", "profileUrl", "title", "userType", "preferredLanguage", "locale", "timezone", "password"),
                .. NotKeptMultiValued("phoneNumbers", "ims", "photos", "addresses", "entitlements", "roles", "x509Certificates")]),
            ScimResources.EnterpriseUserSchema => SchemaDocument(id, "EnterpriseUser", "The enterprise extension of a User (RFC 7643 §4.3), kept as sent.",
                Attribute("employeeNumber"),
                Attribute("costCenter"),
                Attribute("organization"),
                Attribute("division"),
                Attribute("department"),
                Complex("manager", false, Attribute("value"), Attribute("$ref", "reference"), Attribute("displayName", mutability: "readOnly"))),
            ScimResources.GroupSchema => SchemaDocument(id, "Group", "A team; mapped groups give seats to their members.",
                Attribute("displayName", required: true, uniqueness: "server"),
                Attribute("externalId", caseExact: true),
                Complex("members", true, Attribute("value", mutability: "immutable"), Attribute("$ref", "reference", mutability: "immutable"), Attribute("display", mutability: "readOnly"), Attribute("type", mutability: "immutable"))),
            _ => null,
        };
        if (schema is not null)
        {
            schema["meta"] = new JsonObject { ["resourceType"] = "Schema", ["location"] = $"{baseUrl}/Schemas/{id}" };
        }

        return schema;
    }

    private static JsonObject ListOf(JsonObject[] resources) => new()
    {
        ["schemas"] = new JsonArray(ScimResources.ListSchema),
        ["totalResults"] = resources.Length,
        ["startIndex"] = 1,
        ["itemsPerPage"] = resources.Length,
        ["Resources"] = new JsonArray(resources.Select(r => (JsonNode)r).ToArray()),
    };

    private static JsonObject ResourceTypeDocument(string name, string endpoint, string schema, string baseUrl, JsonArray extensions) => new()
    {
        ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:ResourceType"),
        ["id"] = name,
        ["name"] = name,
        ["endpoint"] = endpoint,
        ["schema"] = schema,
        ["schemaExtensions"] = extensions,
        ["meta"] = new JsonObject { ["resourceType"] = "ResourceType", ["location"] = $"{baseUrl}/ResourceTypes/{name}" },
    };

    private static JsonObject SchemaDocument(string id, string name, string description, params JsonObject[] attributes) => new()
    {
        ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:Schema"),
        ["id"] = id,
        ["name"] = name,
        ["description"] = description,
        ["attributes"] = new JsonArray(attributes.Select(a => (JsonNode)a).ToArray()),
    };

    private static JsonObject Attribute(
        string name, string type = "string", bool required = false, bool caseExact = false, string mutability = "readWrite", string returned = "default",
        string uniqueness = "none", string[]? canonical = null, bool multiValued = false)
    {
        var attribute = new JsonObject
        {
            ["name"] = name,
            ["type"] = type,
            ["multiValued"] = multiValued,
            ["description"] = string.Empty,
            ["required"] = required,
            ["caseExact"] = caseExact,
            ["mutability"] = mutability,
            ["returned"] = returned,
            ["uniqueness"] = uniqueness,
        };
        if (canonical is not null)
        {
            attribute["canonicalValues"] = new JsonArray(canonical.Select(c => (JsonNode)c).ToArray());
        }

        if (type == "reference")
        {
            attribute["referenceTypes"] = new JsonArray("User", "Group");
        }

        return attribute;
    }

    private static JsonObject Complex(string name, bool multiValued, params JsonObject[] subAttributes) => Complex(name, multiValued, "readWrite", subAttributes);

    private static JsonObject Complex(string name, bool multiValued, string mutability, params JsonObject[] subAttributes) => new()
    {
        ["name"] = name,
        ["type"] = "complex",
        ["multiValued"] = multiValued,
        ["description"] = string.Empty,
        ["required"] = false,
        ["mutability"] = mutability,
        ["returned"] = "default",
        ["uniqueness"] = "none",
        ["subAttributes"] = new JsonArray(subAttributes.Select(a => (JsonNode)a).ToArray()),
    };

    private static IEnumerable<JsonObject> NotKept(params string[] names) =>
        names.Select(n => Attribute(n, mutability: "writeOnly", returned: "never"));

    private static IEnumerable<JsonObject> NotKeptMultiValued(params string[] names) =>
        names.Select(n =>
        {
            var attribute = Complex(n, true, "writeOnly", Attribute("value", mutability: "writeOnly", returned: "never"), Attribute("type", mutability: "writeOnly", returned: "never"));
            attribute["returned"] = "never";
            return attribute;
        });
}
