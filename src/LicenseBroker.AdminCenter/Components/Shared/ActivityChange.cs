using System.Text.Json;
using LicenseBroker.Contracts.V1;
using Microsoft.Extensions.Localization;

namespace LicenseBroker.AdminCenter.Components.Shared;

/// <summary>
/// An audit event's change in words: each field that differs between its before and after, as "Role: Member → Account
/// admin". Only fields with a label (resource "Field_" + the key in lower case without underscores: the log writes both
/// snake_case and PascalCase keys) are said, and their values in words (seat types, roles, classes, durations): an
/// id or a code the admin never typed is not shown. Something created reads "— → value", something removed "value → —".
/// </summary>
public static class ActivityChange
{
    /// <summary>At most this many fields are said per event: a whole record created or removed stays one line.</summary>
    private const int MaxFields = 6;

    public static string Describe(IStringLocalizer<Text> text, AuditEvent e)
    {
        var before = Fields(e.BeforeJson);
        var after = Fields(e.AfterJson);
        var keys = after.Keys.Concat(before.Keys).Distinct(StringComparer.Ordinal);
        var parts = new List<string>();
        foreach (var key in keys)
        {
            var label = text["Field_" + key];
            if (label.ResourceNotFound)
            {
                continue;
            }

            var was = before.TryGetValue(key, out var b) ? b : (JsonElement?)null;
            var now = after.TryGetValue(key, out var a) ? a : (JsonElement?)null;
            if (Same(was, now))
            {
                continue;
            }

            parts.Add(text["ChangeFormat", label.Value, Value(text, key, was), Value(text, key, now)]);
            if (parts.Count == MaxFields)
            {
                break;
            }
        }

        return string.Join(text["ChangeSeparator"], parts);
    }

    private static Dictionary<string, JsonElement> Fields(string json)
    {
        var fields = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        if (json.Length == 0)
        {
            return fields;
        }

        try
        {
            using var document = JsonDocument.Parse(json);
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                foreach (var property in document.RootElement.EnumerateObject())
                {
                    fields[property.Name.Replace("_", string.Empty, StringComparison.Ordinal).ToLowerInvariant()] = property.Value.Clone();
                }
            }
        }
        catch (JsonException)
        {
            // The broker writes these as JSON; one that is not says no change rather than breaking the page.
        }

        return fields;
    }

    private static bool Same(JsonElement? was, JsonElement? now) =>
        IsNone(was) && IsNone(now) || was is { } b && now is { } a && b.GetRawText() == a.GetRawText();

    private static bool IsNone(JsonElement? value) =>
        value is null || value.Value.ValueKind == JsonValueKind.Null || value.Value.ValueKind == JsonValueKind.Array && value.Value.GetArrayLength() == 0;

    private static string Value(IStringLocalizer<Text> text, string key, JsonElement? value)
    {
        if (IsNone(value))
        {
            return "—";
        }

        var v = value!.Value;
        return v.ValueKind switch
        {
            JsonValueKind.True => text["Yes"],
            JsonValueKind.False => text["No"],
            JsonValueKind.Array => string.Join(", ", v.EnumerateArray().Select(item => Word(text, key, item.ToString()))),
            JsonValueKind.Number when key.EndsWith("timeoutseconds", StringComparison.Ordinal) && v.TryGetInt32(out var off) && off == 0 => text["Never"],
            JsonValueKind.Number when key.EndsWith("seconds", StringComparison.Ordinal) && v.TryGetInt32(out var seconds) => Duration(text, seconds),
            JsonValueKind.Number when key == "retentiondays" && v.TryGetInt32(out var days) => text.Plural("DaysN", days),
            JsonValueKind.Number when v.TryGetInt32(out var number) => Fmt.Number(number),
            JsonValueKind.String when key == "validuntil" && v.TryGetDateTimeOffset(out var at) => Fmt.When(at),
            _ => Word(text, key, v.ToString()),
        };
    }

    /// <summary>A coded value in words (NAMED → "Named seat"); free text (a name, an address) as it is.</summary>
    private static string Word(IStringLocalizer<Text> text, string key, string value)
    {
        var resource = key switch
        {
            "seattype" => value.Equals("NAMED", StringComparison.OrdinalIgnoreCase) ? "NamedSeat" : "ConcurrentSeat",
            "role" => value.ToUpperInvariant() switch { "ADMIN" => "RoleAdmin", "MANAGER" => "RoleManager", _ => "RoleMember" },
            "privileges" => value.Equals("MANAGE_SEATS", StringComparison.OrdinalIgnoreCase) ? "PrivilegeSeats" : "PrivilegeUsers",
            "plan" => value.Equals("PAID", StringComparison.OrdinalIgnoreCase) ? "PlanPaid" : "PlanTrial",
            "queuepriority" => "QueuePriority_" + Title(value),
            "overagemode" => "OverageMode_" + Title(value),
            "state" => "WebhookState_" + Title(value),
            "eventtypes" => "WebhookType_" + value,
            _ => null,
        };
        if (resource is null)
        {
            return value;
        }

        var word = text[resource];
        return word.ResourceNotFound ? "—" : word.Value;
    }

    private static string Title(string code) =>
        code.Length == 0 ? code : char.ToUpperInvariant(code[0]) + code[1..].ToLowerInvariant();

    private static string Duration(IStringLocalizer<Text> text, int seconds) =>
        seconds % 60 == 0 ? text["MinutesN", Fmt.Number(seconds / 60)] : text["SecondsN", Fmt.Number(seconds)];
}
