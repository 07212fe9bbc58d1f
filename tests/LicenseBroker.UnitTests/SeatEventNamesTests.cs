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

    [Fact]
    public void Events_are_read_by_the_column_names_the_scripts_write_them_in()
    {
        var declared = EventColumns().Match(PoolLibrary.Prelude);
        Assert.True(declared.Success, "EVENT_COLUMNS is missing from the library");
        Assert.Equal(
            SeatEventCodec.Columns,
            declared.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries).Select(c => c.Trim('\'')));

        // Read by name: a refusal (no lease) and a grant, as a script replies them.
        var pool = new PoolId("acme", "remote-support");
        var refused = SeatEventCodec.FromValues(pool, 7, ["refused", "", "bob", "bob", "-1", "3", "1700000000000", "-1"]);
        Assert.Equal((SeatEventKind.Refused, null, "bob", 3, (int?)null), (refused.Kind, refused.LeaseId, refused.AgentId, refused.RefusedToday, refused.SeatsInUse));
        var granted = Assert.Single(SeatEventCodec.FromJson(pool, 8, """["granted","l-1","ann","ann",2,-1,1700000000001,2]"""));
        Assert.Equal((SeatEventKind.Granted, "l-1", 2, 2, 8L), (granted.Kind, granted.LeaseId, granted.PeakToday, granted.SeatsInUse, granted.Sequence));
    }

    [GeneratedRegex(@"local EVENT_COLUMNS = \{([^}]*)\}")]
    private static partial Regex EventColumns();

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
