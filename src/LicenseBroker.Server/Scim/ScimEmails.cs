using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using LicenseBroker.Domain.Provisioning;

namespace LicenseBroker.Server.Scim;

/// <summary>
/// A user's e-mails under PATCH (RFC 7644 §3.5.2): the whole list ("emails"), or the entries a value
/// filter selects (<c>emails[type eq "other"]</c>, <c>emails[value eq "…"]</c>, <c>emails[primary eq true]</c>),
/// optionally one sub-attribute of them (<c>.value</c>, <c>.type</c>, <c>.primary</c>). Entra ID adds an
/// "other" address with <c>emails[type eq "other"].value</c>: an entry of that type is created when none
/// matches, and the work address stays. At most one entry is primary: making one primary clears the others.
/// </summary>
public static partial class ScimEmails
{
    public const int MaxEmails = 20;

    public static IReadOnlyList<ScimEmail> Patch(IReadOnlyList<ScimEmail> current, string op, string path, JsonNode? value)
    {
        var list = current.ToList();
        if (path.Equals("emails", StringComparison.OrdinalIgnoreCase))
        {
            var given = value is null ? [] : value is JsonArray ? ScimResources.Emails(value, "emails") : [ScimResources.EmailOf(value as JsonObject ?? throw Invalid("emails must be an array of objects."), "emails")];
            switch (op)
            {
                case "remove" when value is null:
                    return [];
                case "remove":
                    return list.Where(e => !given.Any(g => Same(g.Value, e.Value))).ToList();
                case "replace":
                    return Checked(given);
                default:
                    // add: new addresses are appended, known ones updated in place.
                    foreach (var email in given)
                    {
                        var index = list.FindIndex(e => Same(e.Value, email.Value));
                        if (index >= 0)
                        {
                            list[index] = email;
                        }
                        else
                        {
                            list.Add(email);
                        }

                        if (email.Primary)
                        {
                            list = OnlyPrimary(list, list.FindIndex(e => Same(e.Value, email.Value)));
                        }
                    }

                    return Checked(list);
            }
        }

        var match = FilteredPath().Match(path);
        if (!match.Success)
        {
            throw new ScimException(400, "invalidPath", $"'{path}' is not a path of emails this endpoint supports (emails, emails[type|value|primary eq …] with .value, .type or .primary).");
        }

        var filterAttribute = match.Groups["attribute"].Value.ToLowerInvariant();
        var filterValue = match.Groups["text"].Success ? System.Text.Json.JsonSerializer.Deserialize<string>("\"" + match.Groups["text"].Value + "\"")! : match.Groups["flag"].Value;
        var sub = match.Groups["sub"].Success ? match.Groups["sub"].Value.ToLowerInvariant() : null;
        bool Selected(ScimEmail e) => filterAttribute switch
        {
            "type" => string.Equals(e.Type, filterValue, StringComparison.OrdinalIgnoreCase),
            "value" => Same(e.Value, filterValue),
            _ => e.Primary == filterValue.Equals("true", StringComparison.OrdinalIgnoreCase),
        };

        var selected = Enumerable.Range(0, list.Count).Where(i => Selected(list[i])).ToList();
        if (op == "remove")
        {
            if (sub is null or "value")
            {
                return list.Where((_, i) => !selected.Contains(i)).ToList();
            }

            // Removing a sub-attribute: a type goes, primary becomes false.
            foreach (var i in selected)
            {
                list[i] = sub == "type" ? list[i] with { Type = null } : list[i] with { Primary = false };
            }

            return list;
        }

        if (selected.Count == 0)
        {
            // Entra's "Add emails[type eq "other"].value": the entry of that type is created.
            if (filterAttribute != "type" || sub is "type")
            {
                throw new ScimException(400, "noTarget", $"No e-mail matches '{path}'.");
            }

            list.Add(new ScimEmail(string.Empty, filterValue.ToLowerInvariant(), false));
            selected = [list.Count - 1];
        }

        foreach (var i in selected)
        {
            list[i] = sub switch
            {
                "value" => list[i] with { Value = ScimResources.Email(value, "emails.value") },
                "type" => list[i] with { Type = ScimResources.EmailType(value, "emails.type") },
                "primary" => list[i] with { Primary = ScimResources.Bool(value, "emails.primary") },
                _ => Merge(list[i], value as JsonObject ?? throw Invalid("The value of an e-mail must be an object.")),
            };
            if (list[i].Value.Length == 0)
            {
                throw Invalid("An e-mail needs a value.");
            }
        }

        var primary = selected.LastOrDefault(i => list[i].Primary, -1);
        return Checked(primary >= 0 ? OnlyPrimary(list, primary) : list);
    }

    private static ScimEmail Merge(ScimEmail email, JsonObject value) => new(
        ScimResources.Get(value, "value") is { } text ? ScimResources.Email(text, "emails.value") : email.Value,
        ScimResources.Get(value, "type") is { } type ? ScimResources.EmailType(type, "emails.type") : email.Type,
        ScimResources.Get(value, "primary") is { } primary ? ScimResources.Bool(primary, "emails.primary") : email.Primary);

    private static List<ScimEmail> OnlyPrimary(List<ScimEmail> list, int primary) =>
        list.Select((e, i) => i == primary ? e : e with { Primary = false }).ToList();

    private static IReadOnlyList<ScimEmail> Checked(IReadOnlyList<ScimEmail> list) =>
        list.Count > MaxEmails ? throw Invalid($"A user has at most {MaxEmails} e-mails.")
        : list.Count(e => e.Primary) > 1 ? throw Invalid("At most one e-mail may be primary (RFC 7643 §2.4).")
        : list;

    private static bool Same(string a, string b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);

    private static ScimException Invalid(string detail) => new(400, "invalidValue", detail);

    [GeneratedRegex(@"^emails\[(?<attribute>type|value|primary) eq (?:""(?<text>(?:[^""\\]|\\.){1,254})""|(?<flag>true|false))\](?:\.(?<sub>value|type|primary))?$", RegexOptions.IgnoreCase)]
    private static partial Regex FilteredPath();
}
