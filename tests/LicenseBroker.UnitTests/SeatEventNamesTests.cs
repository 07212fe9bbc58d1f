using System.Text.RegularExpressions;
using System.Xml.Linq;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Domain.Webhooks;
using LicenseBroker.Storage.Redis;

namespace LicenseBroker.UnitTests;

/// <summary>Issue 28, item 6: one row per seat-event kind with all its names, and every name in use is in the table.</summary>
public sealed partial class SeatEventNamesTests
{
    [Fact]
    public void Every_seat_event_kind_has_all_its_names_once_and_a_sentence_in_both_languages()
    {
        Assert.Equal(Enum.GetValues<SeatEventKind>().Order(), SeatEventKinds.All.Select(n => n.Kind).Order());
        foreach (var column in new Func<SeatEventNames, string?>[] { n => n.ScriptName, n => n.AuditAction, n => n.MetricLabel, n => n.WebhookType })
        {
            var names = SeatEventKinds.All.Select(column).Where(n => n is not null).ToList();
            Assert.Equal(names.Count, names.Distinct(StringComparer.Ordinal).Count());
        }

        // Only a re-established lease raises no webhook (nothing changed for the account); every other type is offered.
        Assert.Equal([SeatEventKind.Reestablished], SeatEventKinds.All.Where(n => n.WebhookType is null).Select(n => n.Kind));
        Assert.All(SeatEventKinds.All.Where(n => n.WebhookType is not null), n => Assert.Contains(n.WebhookType, WebhookEventTypes.All));

        // One name per action: the webhook type is the audit action.
        Assert.All(SeatEventKinds.All.Where(n => n.WebhookType is not null), n => Assert.Equal(n.AuditAction, n.WebhookType));

        var english = Resources("Text.resx");
        var french = Resources("Text.fr.resx");
        foreach (var names in SeatEventKinds.All)
        {
            Assert.True(english.ContainsKey(names.SentenceKey), $"{names.SentenceKey}: no English sentence");
            Assert.True(french.ContainsKey(names.SentenceKey), $"{names.SentenceKey}: no French sentence");
            Assert.Contains("{1}", english[names.SentenceKey], StringComparison.Ordinal);
        }

        Assert.Throws<InvalidOperationException>(() => SeatEventKinds.FromScript("revoked"));
    }

    [Fact]
    public void Every_seat_event_the_scripts_write_is_a_kind_of_the_table()
    {
        var written = LuaScripts.All.Select(s => s.Text).Concat(PoolLibrary.Parts.Select(p => p.Text))
            .SelectMany(text => KindArgument().Matches(text).Select(m => m.Groups[1].Value))
            .ToHashSet(StringComparer.Ordinal);
        Assert.Equal(
            SeatEventKinds.All.Select(n => n.ScriptName).Order(StringComparer.Ordinal),
            written.Order(StringComparer.Ordinal));
    }

    private static Dictionary<string, string> Resources(string file)
    {
        var directory = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(directory, "LicenseBroker.slnx")) && !File.Exists(Path.Combine(directory, "LicenseBroker.sln")))
        {
            directory = Path.GetDirectoryName(directory) ?? throw new InvalidOperationException("repository root not found");
        }

        return XDocument.Load(Path.Combine(directory, "src", "LicenseBroker.AdminCenter", "Resources", file)).Root!.Elements("data")
            .ToDictionary(d => (string)d.Attribute("name")!, d => (string?)d.Element("value") ?? string.Empty, StringComparer.Ordinal);
    }

    // The kind argument of the calls that record a seat event: event('kind', ...), drop_lease(id, lease, 'kind', ...),
    // leave_queue(agent, waiter, 'kind', ...).
    [GeneratedRegex(@"\b(?:event|drop_lease|leave_queue)\((?:[^'\n]*?)'([a-z_]+)'")]
    private static partial Regex KindArgument();
}
