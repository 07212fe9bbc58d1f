using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace LicenseBroker.UnitTests;

/// <summary>
/// Every resource string of both languages (the console's and the agents' messages), read from the files: no "(s)"
/// where a count is known (a _one and an _other form instead), French punctuation with its non-breaking space,
/// typographic apostrophes, every key translated, and the same placeholders in both languages.
/// </summary>
public sealed partial class ResourceTextTests
{
    // Keys whose French is rightly the English (names, numbers).
    private static readonly HashSet<string> SameInBothLanguages = ["OfLimit", "MinutesN", "Monitoring", "PlanModel", "Product", "Session", "Sessions", "Agent", "Agents", "Plan", "Action", "Actions", "Total", "Source", "Type", "DistinctAgents", "Email", "SecondsN", "MinutesUnit"];

    public static TheoryData<string> ResourcePairs()
    {
        var data = new TheoryData<string>();
        foreach (var english in Directory.EnumerateFiles(Path.Combine(RepositoryRoot(), "src"), "*.resx", SearchOption.AllDirectories)
                     .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                                 && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                                 && !f.EndsWith(".fr.resx", StringComparison.Ordinal))
                     .Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetRelativePath(RepositoryRoot(), english));
        }

        return data;
    }

    /// <summary>
    /// Every action the broker audits (the literal actions its stores pass to AuditAsync) reads as a sentence on the
    /// Activity page, in both languages; a new action without one would show "an event this console cannot name yet".
    /// </summary>
    [Fact]
    public void Every_audited_admin_action_has_an_activity_sentence_in_both_languages()
    {
        var actions = Directory.EnumerateFiles(Path.Combine(RepositoryRoot(), "src", "LicenseBroker.Storage"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(File.ReadLines)
            .Where(line => line.Contains("AuditAsync(", StringComparison.Ordinal))
            .SelectMany(line => AuditAction().Matches(line).Select(m => m.Groups[1].Value))
            .ToHashSet(StringComparer.Ordinal);
        Assert.True(actions.Count >= 25, $"only {actions.Count} audited actions found: {string.Join(", ", actions)}");
        foreach (var language in new[] { "", ".fr" })
        {
            var texts = Read(Path.Combine(RepositoryRoot(), "src", "LicenseBroker.AdminCenter", "Resources", $"Text{language}.resx"));
            Assert.Empty(actions.Where(a => !texts.ContainsKey("Event_" + a)).Select(a => $"Text{language}.resx: no Event_{a}"));
        }
    }

    [GeneratedRegex("\"((?:account|agent|seat|group|device|webhook|provisioning|subscription)\\.[a-z_.]+)\"")]
    private static partial Regex AuditAction();

    [Fact]
    public void The_console_and_the_agents_messages_are_both_checked() =>
        Assert.True(ResourcePairs().Count >= 2, "resource files found: " + ResourcePairs().Count);

    [Theory]
    [MemberData(nameof(ResourcePairs))]
    public void Every_string_is_translated_counted_properly_and_typeset_for_its_language(string englishFile)
    {
        var english = Read(Path.Combine(RepositoryRoot(), englishFile));
        var french = Read(Path.Combine(RepositoryRoot(), englishFile[..^".resx".Length] + ".fr.resx"));
        var problems = new List<string>();

        problems.AddRange(english.Keys.Except(french.Keys).Select(k => $"{k}: no French"));
        problems.AddRange(french.Keys.Except(english.Keys).Select(k => $"{k}: no English"));
        foreach (var (language, texts) in new[] { ("en", english), ("fr", french) })
        {
            foreach (var (key, value) in texts)
            {
                if (value.Contains("(s)", StringComparison.Ordinal) || value.Contains("(e)", StringComparison.Ordinal))
                {
                    problems.Add($"{language} {key}: a count needs {key}_one and {key}_other, not \"(s)\"");
                }

                if (value.Contains('\''))
                {
                    problems.Add($"{language} {key}: a typewriter apostrophe (use ’)");
                }

                if (key.EndsWith("_one", StringComparison.Ordinal) && !texts.ContainsKey(key[..^4] + "_other"))
                {
                    problems.Add($"{language} {key}: no _other form");
                }

                if (key.EndsWith("_other", StringComparison.Ordinal) && !texts.ContainsKey(key[..^6] + "_one"))
                {
                    problems.Add($"{language} {key}: no _one form");
                }
            }
        }

        foreach (var (key, value) in french)
        {
            if (PlainSpaceBeforeHighPunctuation().IsMatch(value) || value.Contains("« ", StringComparison.Ordinal) || value.Contains(" »", StringComparison.Ordinal))
            {
                problems.Add($"fr {key}: a plain space before : ; ? ! or inside « » (use a non-breaking one)");
            }

            if (NoSpaceBeforeHighPunctuation().IsMatch(value))
            {
                problems.Add($"fr {key}: : ; ? ! need a non-breaking space before them in French");
            }

            if (english.TryGetValue(key, out var en))
            {
                if (en == value && !SameInBothLanguages.Contains(key))
                {
                    problems.Add($"fr {key}: not translated (\"{value}\")");
                }

                // The _one form may leave the count out ("End this session?").
                var (enSlots, frSlots) = (Placeholders(en), Placeholders(value));
                if (!enSlots.SetEquals(frSlots) && !(key.EndsWith("_one", StringComparison.Ordinal) && enSlots.Except(frSlots).Concat(frSlots.Except(enSlots)).All(s => s == "{0}")))
                {
                    problems.Add($"fr {key}: placeholders {string.Join(" ", frSlots)}, English has {string.Join(" ", enSlots)}");
                }
            }
        }

        Assert.True(problems.Count == 0, englishFile + ":\n" + string.Join("\n", problems));
    }

    [Theory]
    [InlineData("Mettre fin à ces 2 session(s) ?")]
    [InlineData("Veuillez vérifier : {0}")]
    [InlineData("Aujourd'hui")]
    [InlineData("Sessions partagées en cours: {0}")]
    public void The_rules_catch_what_they_are_for(string frenchValue)
    {
        // The checks above, on texts that break them: the test can fail.
        var caught = frenchValue.Contains("(s)", StringComparison.Ordinal) || frenchValue.Contains('\'')
                     || PlainSpaceBeforeHighPunctuation().IsMatch(frenchValue) || NoSpaceBeforeHighPunctuation().IsMatch(frenchValue);
        Assert.True(caught, frenchValue);
    }

    private static Dictionary<string, string> Read(string file) =>
        XDocument.Load(file).Root!.Elements("data")
            .ToDictionary(d => (string)d.Attribute("name")!, d => (string?)d.Element("value") ?? string.Empty, StringComparer.Ordinal);

    private static HashSet<string> Placeholders(string text) => [.. Placeholder().Matches(text).Select(m => m.Value)];

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "LicenseBroker.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("The repository root (LicenseBroker.sln) is not above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"\{\d+[^}]*\}")]
    private static partial Regex Placeholder();

    [GeneratedRegex(@" [:;?!]")]
    private static partial Regex PlainSpaceBeforeHighPunctuation();

    // A letter, digit or closing sign right before : ; ? ! (not a URL's "://", not a time "10:00", not "{0}:").
    [GeneratedRegex(@"[\p{L}\)»](?<!https?)[:;?!](?!//)")]
    private static partial Regex NoSpaceBeforeHighPunctuation();
}
