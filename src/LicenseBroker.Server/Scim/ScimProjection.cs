using System.Text.Json.Nodes;

namespace LicenseBroker.Server.Scim;

/// <summary>
/// <c>attributes</c> and <c>excludedAttributes</c> (RFC 7644 §3.4.2.5) on every read: the resource as
/// rendered, cut to what was asked for. Names are matched without regard to case and may carry their
/// schema's URN (<c>urn:…:core:2.0:User:userName</c>, <c>urn:…:enterprise:2.0:User:employeeNumber</c>);
/// one level of sub-attribute (<c>name.givenName</c>, <c>emails.value</c>). <c>id</c> and <c>schemas</c>
/// are always returned.
/// </summary>
public sealed class ScimProjection
{
    public const int MaxNames = 100;

    private static readonly string[] Always = ["id", "schemas"];
    private readonly IReadOnlyList<(string Attribute, string? Sub)>? _attributes;
    private readonly IReadOnlyList<(string Attribute, string? Sub)> _excluded;

    private ScimProjection(IReadOnlyList<(string, string?)>? attributes, IReadOnlyList<(string, string?)> excluded)
    {
        _attributes = attributes;
        _excluded = excluded;
    }

    /// <summary>Everything, as rendered.</summary>
    public static ScimProjection All { get; } = new(null, []);

    /// <summary>True when <paramref name="attribute"/> (a top-level name) is returned.</summary>
    public bool Returns(string attribute) =>
        (_attributes is null || _attributes.Any(a => Same(a.Attribute, attribute)) || Always.Any(a => Same(a, attribute)))
        && !_excluded.Any(e => e.Sub is null && Same(e.Attribute, attribute));

    /// <summary>From comma-separated query parameters.</summary>
    public static ScimProjection Parse(string? attributes, string? excludedAttributes, string coreSchema) =>
        Parse(Split(attributes), Split(excludedAttributes), coreSchema);

    /// <summary>From a search request's arrays (or the query's lists).</summary>
    public static ScimProjection Parse(IReadOnlyList<string>? attributes, IReadOnlyList<string>? excludedAttributes, string coreSchema)
    {
        if ((attributes?.Count ?? 0) + (excludedAttributes?.Count ?? 0) > MaxNames)
        {
            throw new ScimException(400, "invalidValue", $"At most {MaxNames} attribute names.");
        }

        var included = attributes is { Count: > 0 } ? attributes.Select(a => Path(a, coreSchema)).ToList() : null;
        return new ScimProjection(included, (excludedAttributes ?? []).Select(a => Path(a, coreSchema)).ToList());
    }

    public JsonObject Apply(JsonObject resource)
    {
        var result = new JsonObject();
        if (_attributes is null)
        {
            foreach (var (key, value) in resource)
            {
                result[key] = value?.DeepClone();
            }
        }
        else
        {
            foreach (var (key, value) in resource)
            {
                if (Always.Any(a => Same(a, key)))
                {
                    result[key] = value?.DeepClone();
                    continue;
                }

                var wanted = _attributes.Where(a => Same(a.Attribute, key)).ToList();
                if (wanted.Count == 0 || value is null)
                {
                    continue;
                }

                result[key] = wanted.Any(a => a.Sub is null) ? value.DeepClone() : Only(value, wanted.Select(a => a.Sub!).ToList());
            }
        }

        foreach (var (attribute, sub) in _excluded)
        {
            if (Always.Any(a => Same(a, attribute)) || result.FirstOrDefault(p => Same(p.Key, attribute)) is not { Key: { } key } found)
            {
                continue;
            }

            if (sub is null)
            {
                result.Remove(key);
            }
            else
            {
                foreach (var item in found.Value is JsonArray array ? array.OfType<JsonObject>() : found.Value is JsonObject single ? [single] : [])
                {
                    if (item.FirstOrDefault(p => Same(p.Key, sub)) is { Key: { } subKey })
                    {
                        item.Remove(subKey);
                    }
                }
            }
        }

        return result;
    }

    // Keeps only the sub-attributes named, in an object or in each object of a multi-valued attribute.
    private static JsonNode? Only(JsonNode value, IReadOnlyList<string> subs)
    {
        JsonObject Cut(JsonObject item)
        {
            var cut = new JsonObject();
            foreach (var (key, subValue) in item)
            {
                if (subs.Any(s => Same(s, key)))
                {
                    cut[key] = subValue?.DeepClone();
                }
            }

            return cut;
        }

        return value switch
        {
            JsonObject item => Cut(item),
            JsonArray array => new JsonArray(array.OfType<JsonObject>().Select(i => (JsonNode)Cut(i)).ToArray()),
            _ => value.DeepClone(),
        };
    }

    /// <summary>
    /// An attribute path as (top-level key, sub-attribute). An extension's attributes live under the key of its
    /// URN; the core schema's URN prefix is dropped.
    /// </summary>
    private static (string Attribute, string? Sub) Path(string name, string coreSchema)
    {
        var text = name.Trim();
        if (text.Length is 0 or > 300 || text.Any(char.IsControl))
        {
            throw new ScimException(400, "invalidValue", "An attribute name must be 1-300 printable characters.");
        }

        if (text.StartsWith(coreSchema + ":", StringComparison.OrdinalIgnoreCase))
        {
            text = text[(coreSchema.Length + 1)..];
        }
        else if (text.StartsWith("urn:", StringComparison.OrdinalIgnoreCase))
        {
            // urn:…:enterprise:2.0:User (the whole extension) or urn:…:enterprise:2.0:User:employeeNumber.
            var known = ScimResources.EnterpriseUserSchema;
            if (text.Equals(known, StringComparison.OrdinalIgnoreCase))
            {
                return (known, null);
            }

            if (text.StartsWith(known + ":", StringComparison.OrdinalIgnoreCase))
            {
                var attribute = text[(known.Length + 1)..];
                return (known, attribute.Split('.')[0]);
            }

            return (text, null);
        }

        var dot = text.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? (text, null) : (text[..dot], text[(dot + 1)..]);
    }

    private static List<string> Split(string? names) =>
        string.IsNullOrWhiteSpace(names) ? [] : names.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();

    private static bool Same(string a, string b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);
}
