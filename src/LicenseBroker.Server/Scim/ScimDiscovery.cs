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

    public static JsonObject ResourceTypes(string baseUrl) => new()
    {
        ["schemas"] = new JsonArray(ScimResources.ListSchema),
        ["totalResults"] = 2,
        ["startIndex"] = 1,
        ["itemsPerPage"] = 2,
        ["Resources"] = new JsonArray(
            ResourceType("User", "/Users", ScimResources.UserSchema, baseUrl, new JsonArray(new JsonObject { ["schema"] = ScimResources.EnterpriseUserSchema, ["required"] = false })),
            ResourceType("Group", "/Groups", ScimResources.GroupSchema, baseUrl, new JsonArray())),
    };

    public static JsonObject Schemas() => new()
    {
        ["schemas"] = new JsonArray(ScimResources.ListSchema),
        ["totalResults"] = 2,
        ["startIndex"] = 1,
        ["itemsPerPage"] = 2,
        ["Resources"] = new JsonArray(
            Schema(ScimResources.UserSchema, "User", "An agent of the account.",
                Attribute("userName", "string", required: true, uniqueness: "server"),
                Attribute("externalId", "string", uniqueness: "server"),
                Attribute("displayName", "string"),
                Complex("name", Attribute("givenName", "string"), Attribute("familyName", "string"), Attribute("formatted", "string")),
                Complex("emails", Attribute("value", "string"), Attribute("type", "string"), Attribute("primary", "boolean")),
                Attribute("active", "boolean"),
                Complex("groups", Attribute("value", "string"), Attribute("display", "string"))),
            Schema(ScimResources.GroupSchema, "Group", "A team; mapped groups give seats to their members.",
                Attribute("displayName", "string", required: true, uniqueness: "server"),
                Attribute("externalId", "string"),
                Complex("members", Attribute("value", "string"), Attribute("display", "string")))),
    };

    private static JsonObject ResourceType(string name, string endpoint, string schema, string baseUrl, JsonArray extensions) => new()
    {
        ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:ResourceType"),
        ["id"] = name,
        ["name"] = name,
        ["endpoint"] = endpoint,
        ["schema"] = schema,
        ["schemaExtensions"] = extensions,
        ["meta"] = new JsonObject { ["resourceType"] = "ResourceType", ["location"] = $"{baseUrl}/ResourceTypes/{name}" },
    };

    private static JsonObject Schema(string id, string name, string description, params JsonObject[] attributes) => new()
    {
        ["id"] = id,
        ["name"] = name,
        ["description"] = description,
        ["attributes"] = new JsonArray(attributes.Select(a => (JsonNode)a).ToArray()),
        ["meta"] = new JsonObject { ["resourceType"] = "Schema" },
    };

    private static JsonObject Attribute(string name, string type, bool required = false, string uniqueness = "none") => new()
    {
        ["name"] = name,
        ["type"] = type,
        ["multiValued"] = false,
        ["required"] = required,
        ["caseExact"] = false,
        ["mutability"] = "readWrite",
        ["returned"] = "default",
        ["uniqueness"] = uniqueness,
    };

    private static JsonObject Complex(string name, params JsonObject[] subAttributes) => new()
    {
        ["name"] = name,
        ["type"] = "complex",
        ["multiValued"] = name is "emails" or "groups" or "members",
        ["required"] = false,
        ["mutability"] = name == "groups" ? "readOnly" : "readWrite",
        ["returned"] = "default",
        ["subAttributes"] = new JsonArray(subAttributes.Select(a => (JsonNode)a).ToArray()),
    };
}
