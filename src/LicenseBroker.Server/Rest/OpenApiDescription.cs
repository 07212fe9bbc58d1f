using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Google.Api;
using Google.Protobuf.Reflection;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;

namespace LicenseBroker.Server.Rest;

/// <summary>
/// The OpenAPI 3.0 description of the JSON/REST routes, built from the same descriptors and
/// google.api.http options that JSON transcoding serves, so it cannot drift from the routes.
/// Schemas follow the proto3 JSON mapping that transcoding applies: lowerCamelCase names, enums as
/// their names, 64-bit integers as strings, Timestamp as RFC 3339. (Microsoft.AspNetCore.Grpc.Swagger,
/// the package that would do this with Swashbuckle, is not available to this project.)
/// </summary>
public static partial class OpenApiDescription
{
    private const string SchemaPrefix = "#/components/schemas/";

    public static JsonObject Build(IEnumerable<ServiceDescriptor> services, ContractDocumentation docs, string version)
    {
        var schemas = new SortedDictionary<string, JsonNode>(StringComparer.Ordinal);
        var paths = new SortedDictionary<string, JsonObject>(StringComparer.Ordinal);
        var tags = new JsonArray();

        foreach (var service in services)
        {
            tags.Add(new JsonObject { ["name"] = service.Name, ["description"] = docs.For(service) ?? service.FullName });
            foreach (var method in service.Methods)
            {
                if (method.GetOptions()?.GetExtension(AnnotationsExtensions.Http) is not { } rule)
                {
                    continue;
                }

                var (verb, template) = Route(rule);
                var pathItem = paths.TryGetValue(template, out var existing) ? existing : paths[template] = new JsonObject();
                pathItem[verb] = Operation(method, rule, verb, template, docs, schemas);
            }
        }

        schemas[RpcStatusSchema] = new JsonObject
        {
            ["type"] = "object",
            ["description"] = "An error: the gRPC status code and message, and details such as google.rpc.BadRequest "
                + "(the fields that were refused), google.rpc.ErrorInfo (reason and metadata) and google.rpc.RetryInfo.",
            ["properties"] = new JsonObject
            {
                ["code"] = new JsonObject { ["type"] = "integer", ["format"] = "int32", ["description"] = "gRPC status code." },
                ["message"] = new JsonObject { ["type"] = "string" },
                ["details"] = new JsonObject
                {
                    ["type"] = "array",
                    ["items"] = new JsonObject { ["type"] = "object", ["description"] = "A typed detail, with its type in \"@type\"." },
                },
            },
        };

        return new JsonObject
        {
            ["openapi"] = "3.0.3",
            ["info"] = new JsonObject
            {
                ["title"] = "LicenseBroker admin, subscription and entitlement API",
                ["version"] = version,
                ["description"] = "JSON over HTTP/1.1 for admin tools and back-office scripts; the same RPCs, tokens, "
                    + "policies and validation as over gRPC. The agent apps' SeatService is gRPC only.",
            },
            ["tags"] = tags,
            ["security"] = new JsonArray(new JsonObject { ["bearer"] = new JsonArray() }),
            ["paths"] = ToObject(paths),
            ["components"] = new JsonObject
            {
                ["securitySchemes"] = new JsonObject
                {
                    ["bearer"] = new JsonObject { ["type"] = "http", ["scheme"] = "bearer", ["bearerFormat"] = "JWT" },
                },
                ["schemas"] = ToObject(schemas),
            },
        };
    }

    private const string RpcStatusSchema = "google.rpc.Status";

    private static JsonObject Operation(MethodDescriptor method, HttpRule rule, string verb, string template, ContractDocumentation docs, SortedDictionary<string, JsonNode> schemas)
    {
        var input = method.InputType;
        var pathFields = PathParameter().Matches(template).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
        var parameters = new JsonArray();
        foreach (var name in pathFields)
        {
            var field = input.FindFieldByName(name)
                ?? throw new InvalidOperationException($"{method.FullName}: route variable {name} is not a field of {input.FullName}");
            parameters.Add(Parameter(field, "path", docs, schemas));
        }

        // Fields neither in the path nor in the body are read from the query string.
        if (rule.Body != "*")
        {
            AddQueryParameters(input, prefix: "", skip: new HashSet<string>(pathFields.Append(rule.Body), StringComparer.Ordinal), parameters, docs, schemas);
        }

        var operation = new JsonObject
        {
            ["operationId"] = $"{method.Service.Name}_{method.Name}",
            ["tags"] = new JsonArray(method.Service.Name),
            ["summary"] = method.Name,
        };
        if (docs.For(method) is { } description)
        {
            operation["description"] = description;
        }

        if (parameters.Count > 0)
        {
            operation["parameters"] = parameters;
        }

        if (rule.Body.Length > 0)
        {
            var bodyType = rule.Body == "*" ? input : input.FindFieldByName(rule.Body).MessageType;
            operation["requestBody"] = new JsonObject
            {
                ["required"] = true,
                ["description"] = rule.Body == "*" && pathFields.Count > 0
                    ? $"The request; {string.Join(", ", pathFields)} come from the path and override the body."
                    : $"The {bodyType.Name}.",
                ["content"] = Json(Schema(bodyType, docs, schemas)),
            };
        }

        operation["responses"] = new JsonObject
        {
            ["200"] = new JsonObject { ["description"] = "The response.", ["content"] = Json(Schema(method.OutputType, docs, schemas)) },
            ["default"] = new JsonObject
            {
                ["description"] = "An error (400 INVALID_ARGUMENT or FAILED_PRECONDITION, 401, 403, 404, 429 RESOURCE_EXHAUSTED, 503 UNAVAILABLE).",
                ["content"] = Json(Reference(RpcStatusSchema)),
            },
        };
        return operation;
    }

    /// <summary>Scalar fields, and those of nested messages as "page.pageSize", as transcoding reads them.</summary>
    private static void AddQueryParameters(MessageDescriptor message, string prefix, HashSet<string> skip, JsonArray parameters, ContractDocumentation docs, SortedDictionary<string, JsonNode> schemas)
    {
        foreach (var field in message.Fields.InFieldNumberOrder())
        {
            if (skip.Contains(field.Name) || field.IsMap)
            {
                continue;
            }

            if (field.FieldType == FieldType.Message && WellKnown(field.MessageType) is null)
            {
                if (!field.IsRepeated)
                {
                    AddQueryParameters(field.MessageType, $"{prefix}{field.JsonName}.", new HashSet<string>(StringComparer.Ordinal), parameters, docs, schemas);
                }

                continue;
            }

            parameters.Add(Parameter(field, "query", docs, schemas, prefix + field.JsonName));
        }
    }

    private static JsonObject Parameter(FieldDescriptor field, string location, ContractDocumentation docs, SortedDictionary<string, JsonNode> schemas, string? name = null)
    {
        var parameter = new JsonObject
        {
            // Path variables keep the proto name used in the route; query parameters use the JSON name.
            ["name"] = name ?? field.Name,
            ["in"] = location,
            ["required"] = location == "path",
            ["schema"] = FieldSchema(field, docs, schemas),
        };
        if (docs.For(field) is { } description)
        {
            parameter["description"] = description;
        }

        if (field.IsRepeated)
        {
            parameter["explode"] = true;
        }

        return parameter;
    }

    /// <summary>A reference to the message's schema, adding it (and what it refers to) on first use.</summary>
    private static JsonObject Schema(MessageDescriptor message, ContractDocumentation docs, SortedDictionary<string, JsonNode> schemas)
    {
        if (WellKnown(message) is { } wellKnown)
        {
            return wellKnown;
        }

        if (!schemas.ContainsKey(message.FullName))
        {
            var properties = new JsonObject();
            var schema = new JsonObject { ["type"] = "object" };
            if (docs.For(message) is { } description)
            {
                schema["description"] = description;
            }

            schema["properties"] = properties;
            schemas[message.FullName] = schema; // before the fields: a message may refer to itself
            foreach (var field in message.Fields.InFieldNumberOrder())
            {
                var fieldSchema = FieldSchema(field, docs, schemas);
                if (docs.For(field) is { } fieldDescription && !fieldSchema.ContainsKey("$ref"))
                {
                    fieldSchema["description"] = fieldDescription;
                }

                properties[field.JsonName] = fieldSchema;
            }
        }

        return Reference(message.FullName);
    }

    private static JsonObject FieldSchema(FieldDescriptor field, ContractDocumentation docs, SortedDictionary<string, JsonNode> schemas)
    {
        if (field.IsMap)
        {
            var value = field.MessageType.FindFieldByNumber(2);
            return new JsonObject { ["type"] = "object", ["additionalProperties"] = ValueSchema(value, docs, schemas) };
        }

        var single = ValueSchema(field, docs, schemas);
        return field.IsRepeated ? new JsonObject { ["type"] = "array", ["items"] = single } : single;
    }

    private static JsonObject ValueSchema(FieldDescriptor field, ContractDocumentation docs, SortedDictionary<string, JsonNode> schemas) => field.FieldType switch
    {
        FieldType.Message or FieldType.Group => Schema(field.MessageType, docs, schemas),
        FieldType.Enum => EnumSchema(field.EnumType, docs, schemas),
        FieldType.Bool => Scalar("boolean"),
        FieldType.String => Scalar("string"),
        FieldType.Bytes => Scalar("string", "byte"),
        FieldType.Double => Scalar("number", "double"),
        FieldType.Float => Scalar("number", "float"),
        FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32 => Scalar("integer", "int32"),
        FieldType.UInt32 or FieldType.Fixed32 => Scalar("integer", "int64"),
        // proto3 JSON writes 64-bit integers as strings (JavaScript numbers lose precision above 2^53).
        _ => Scalar("string", "int64"),
    };

    private static JsonObject EnumSchema(EnumDescriptor enumeration, ContractDocumentation docs, SortedDictionary<string, JsonNode> schemas)
    {
        if (!schemas.ContainsKey(enumeration.FullName))
        {
            var schema = new JsonObject
            {
                ["type"] = "string",
                ["enum"] = new JsonArray(enumeration.Values.Select(v => (JsonNode)v.Name).ToArray()),
            };
            if (docs.For(enumeration) is { } description)
            {
                schema["description"] = description;
            }

            schemas[enumeration.FullName] = schema;
        }

        return Reference(enumeration.FullName);
    }

    private static JsonObject? WellKnown(MessageDescriptor message) => message.FullName switch
    {
        "google.protobuf.Timestamp" => Scalar("string", "date-time"),
        "google.protobuf.Duration" => new JsonObject { ["type"] = "string", ["description"] = "Seconds with an \"s\" suffix, e.g. \"30s\"." },
        "google.protobuf.Empty" => new JsonObject { ["type"] = "object" },
        "google.protobuf.StringValue" => Scalar("string"),
        "google.protobuf.Int32Value" => Scalar("integer", "int32"),
        "google.protobuf.BoolValue" => Scalar("boolean"),
        _ => null,
    };

    private static (string Verb, string Template) Route(HttpRule rule) => rule.PatternCase switch
    {
        HttpRule.PatternOneofCase.Get => ("get", rule.Get),
        HttpRule.PatternOneofCase.Put => ("put", rule.Put),
        HttpRule.PatternOneofCase.Post => ("post", rule.Post),
        HttpRule.PatternOneofCase.Delete => ("delete", rule.Delete),
        HttpRule.PatternOneofCase.Patch => ("patch", rule.Patch),
        _ => throw new InvalidOperationException($"Unsupported HTTP rule {rule}"),
    };

    private static JsonObject Json(JsonObject schema) => new() { ["application/json"] = new JsonObject { ["schema"] = schema } };

    private static JsonObject Reference(string name) => new() { ["$ref"] = SchemaPrefix + name };

    private static JsonObject Scalar(string type, string? format = null)
    {
        var schema = new JsonObject { ["type"] = type };
        if (format is not null)
        {
            schema["format"] = format;
        }

        return schema;
    }

    private static JsonObject ToObject<T>(SortedDictionary<string, T> entries)
        where T : JsonNode
    {
        var result = new JsonObject();
        foreach (var (key, value) in entries)
        {
            result[key] = value;
        }

        return result;
    }

    [GeneratedRegex(@"\{([a-z0-9_.]+)(?:=[^}]*)?\}")]
    private static partial Regex PathParameter();
}
