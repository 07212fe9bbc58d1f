using System.Globalization;
using LicenseBroker.Contracts.V1;
using Microsoft.Extensions.Localization;

namespace LicenseBroker.AdminCenter.Components.Shared;

/// <summary>The Activity page's filter (kind, from, to: query parameters), as the page and its CSV export both read it.</summary>
public static class ActivityFilter
{
    /// <summary>The kinds offered: categories and the seat events an admin looks for most.</summary>
    public static IReadOnlyList<string> Kinds { get; } =
        ["seat", "seat.granted", "seat.refused", "seat.released", "seat.expired", "seat.revived", "seat.force_released", "seat.idle_released", "queue", "agent", "group", "subscription", "device",
            "provisioning", "webhook"];

    /// <summary>
    /// The ListAuditEvents request of a filter; a date that does not parse is no bound (the page shows what it used).
    /// person: only the events that name this user (who did it or whom it concerns); the broker checks the id.
    /// </summary>
    public static ListAuditEventsRequest Request(string? kind, string? person, string? from, string? to, int pageSize, string? pageToken)
    {
        var request = new ListAuditEventsRequest
        {
            Page = new PageRequest { PageSize = pageSize, PageToken = pageToken ?? string.Empty },
            AgentId = person?.Trim() ?? string.Empty,
        };
        if (kind is { Length: > 0 })
        {
            request.Actions.Add(kind);
        }

        if (Date(from) is { } start)
        {
            request.From = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTime(start);
        }

        if (Date(to) is { } end)
        {
            request.To = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTime(end.AddDays(1)); // the whole "to" day
        }

        return request;
    }

    /// <summary>
    /// Who the person filter means: the admin types a name, an e-mail or an id. An exact id, or the one person whose id,
    /// e-mail or name contains the text, is that person (with their record); several are offered to choose from (at most
    /// 20); none is taken as an id the log may still hold (someone removed, erased, or an admin who is not one of the
    /// account's people).
    /// </summary>
    public static async Task<(string? AgentId, Agent? Person, IReadOnlyList<Agent> Choices, Broker.BrokerProblem? Problem)> ResolvePersonAsync(
        Broker.AdminBroker broker, string? person)
    {
        var text = person?.Trim() ?? string.Empty;
        if (text.Length == 0)
        {
            return (null, null, [], null);
        }

        var found = await broker.CallAsync(async (admin, headers) => await admin.ListAgentsAsync(
            new ListAgentsRequest { Query = text.Length > 100 ? text[..100] : text, Page = new PageRequest { PageSize = 20 } }, headers));
        if (found.Problem is { } problem)
        {
            return (text, null, [], problem);
        }

        var agents = found.Value!.Agents;
        return agents.FirstOrDefault(a => a.AgentId == text) is { } exact ? (exact.AgentId, exact, [], null)
            : agents.Count == 1 ? (agents[0].AgentId, agents[0], [], null)
            : agents.Count > 1 ? (null, null, agents.ToList(), null)
            : (text, null, [], null);
    }

    /// <summary>The query string of a filter, for the next page and the export.</summary>
    public static string Query(string? kind, string? person, string? from, string? to) =>
        $"kind={Uri.EscapeDataString(kind ?? "")}&person={Uri.EscapeDataString(person ?? "")}&from={Uri.EscapeDataString(from ?? "")}&to={Uri.EscapeDataString(to ?? "")}";

    /// <summary>An event in words ("Alice ended the session of Bob on Remote Support"), people and things by their names.</summary>
    public static string Told(IStringLocalizer<Text> text, AuditEvent e, Func<string, string> productName)
    {
        var sentence = text["Event_" + e.Action, Actor(text, e), Subject(e), e.Product.Length == 0 ? string.Empty : productName(e.Product)];
        return sentence.ResourceNotFound ? text["UnknownEvent"] : sentence.Value;
    }

    /// <summary>
    /// Who did it, in words: a person by name; the broker itself; an identity provider by its token's name; a back-office
    /// service by its name; a person the account no longer has by the id the log kept (an erased one's is opaque).
    /// </summary>
    public static string Actor(IStringLocalizer<Text> text, AuditEvent e) => e.ActorName.Length > 0 ? e.ActorName
        : e.Actor == "broker" ? text["ActorBroker"]
        : e.Actor.StartsWith("scim:", StringComparison.Ordinal) ? text["ActorScim", e.Actor["scim:".Length..]]
        : e.Actor.StartsWith("service:", StringComparison.Ordinal) ? text["ActorService", e.Actor["service:".Length..]]
        : text["FormerPerson", e.Actor];

    /// <summary>What it concerned: its name as the broker knows it, else the id the log kept.</summary>
    public static string Subject(AuditEvent e) => e.SubjectName.Length > 0 ? e.SubjectName : e.Subject;

    private static DateTime? Date(string? text) =>
        DateTime.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var day) ? day : null;
}
