using System.Text.RegularExpressions;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Postgres;
using LicenseBroker.Storage.Redis;

namespace LicenseBroker.UnitTests;

public sealed class StorageLayoutTests
{
    [Fact]
    public void Every_key_of_a_pool_shares_one_hash_tag_so_scripts_run_on_redis_cluster()
    {
        var keys = new RedisKeys("lb:").Pool(new PoolId("acme", "remote-support"));
        Assert.Equal(19, keys.Length);
        Assert.All(keys, key => Assert.StartsWith("lb:{acme/remote-support}:", key.ToString(), StringComparison.Ordinal));
        Assert.Equal(keys.Length, keys.Select(k => k.ToString()).Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void Pools_of_different_accounts_get_different_tags()
    {
        var keys = new RedisKeys("lb:");
        Assert.NotEqual(keys.Pool(new PoolId("a", "p"))[0], keys.Pool(new PoolId("b", "p"))[0]);
        Assert.NotEqual(keys.Pool(new PoolId("a", "p"))[0], keys.Pool(new PoolId("a", "q"))[0]);
    }

    [Fact]
    public void Each_script_is_a_function_of_one_library_after_the_prelude_with_a_documented_body_and_every_argument_named()
    {
        // Every Scripts/<name>.lua is one registered script, and every registered script has its file.
        var files = typeof(PoolLibrary).Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith("LicenseBroker.Storage.Redis.Scripts.", StringComparison.Ordinal) && !n.Contains(".library.", StringComparison.Ordinal))
            .Select(n => n["LicenseBroker.Storage.Redis.Scripts.".Length..^".lua".Length])
            .Order(StringComparer.Ordinal);
        Assert.Equal(files, LuaScripts.All.Select(s => s.Name).Order(StringComparer.Ordinal));
        var library = PoolLibrary.Text;
        Assert.StartsWith($"#!lua name=licensebroker_{PoolLibrary.Version}\n", library, StringComparison.Ordinal);
        Assert.Equal(1, library.Split("local function purge(now, max)").Length - 1);
        Assert.True(library.IndexOf("local function begin_call(keys)", StringComparison.Ordinal) < library.IndexOf("redis.register_function(", StringComparison.Ordinal));
        foreach (var script in LuaScripts.All)
        {
            Assert.Equal($"lb_{PoolLibrary.Version}_{script.Name}", script.FunctionName);
            // A script with its own keys (heartbeat_fast) runs without the library's per-call state, and says so.
            var start = script.OwnKeys ? string.Empty : "begin_call(KEYS)\n";
            Assert.Contains($"redis.register_function('{script.FunctionName}', function(KEYS, ARGV)\n{start}{script.Text}\nend)", library, StringComparison.Ordinal);
            Assert.Contains($"-- {script.Name}:", script.Text, StringComparison.Ordinal);
            Assert.Contains(script.OwnKeys ? "-- KEYS: its own" : "-- KEYS:", script.Text, StringComparison.Ordinal);
            Assert.Contains(script.OwnKeys ? "-- Returns (flat):" : "-- Returns (payload):", script.Text, StringComparison.Ordinal);

            // Every argument is documented by name in the header and used by position nowhere in the code.
            foreach (var (name, index) in script.ArgumentNames.Select((n, i) => (n, i + 1)))
            {
                Assert.Contains($"-- @{name} ", script.Text, StringComparison.Ordinal);
                Assert.Contains($"ARGV[{index}]", script.Text, StringComparison.Ordinal);
            }

            var code = string.Join('\n', script.Text.Split('\n').Select(line => line.Contains("--", StringComparison.Ordinal) ? line[..line.IndexOf("--", StringComparison.Ordinal)] : line));
            Assert.DoesNotContain("@", code, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Every_piece_of_state_a_call_changes_is_reset_by_begin_call()
    {
        // The library's upvalues outlive a call (a Function library is loaded once): a module-level
        // name that some function assigns, or whose table it fills, must start afresh in begin_call
        // or in a reset a part registers with on_each_call.
        var unreset = UnresetState(PoolLibrary.Prelude);
        Assert.Empty(unreset);

        // And the check can fail: a name whose reset is taken out is found.
        var withoutReset = PoolLibrary.Prelude.Replace("  RULES, RULE_BY_ID, GROUP_COUNTS = nil, {}, nil\n", string.Empty, StringComparison.Ordinal);
        Assert.NotEqual(PoolLibrary.Prelude, withoutReset);
        Assert.Equal(["GROUP_COUNTS", "RULES", "RULE_BY_ID"], UnresetState(withoutReset).Order(StringComparer.Ordinal));
    }

    /// <summary>The module-level names that some function assigns outside begin_call and the on_each_call resets.</summary>
    private static List<string> UnresetState(string library)
    {
        var lines = library.Split('\n').Select(line => line.Contains("--", StringComparison.Ordinal) ? line[..line.IndexOf("--", StringComparison.Ordinal)] : line).ToList();
        var reset = new HashSet<string>(StringComparer.Ordinal);
        var inReset = new bool[lines.Count];
        for (var i = 0; i < lines.Count; i++)
        {
            if (!lines[i].StartsWith("local function begin_call(", StringComparison.Ordinal) && !lines[i].StartsWith("on_each_call(function()", StringComparison.Ordinal))
            {
                continue;
            }

            var end = lines.FindIndex(i, line => line is "end" or "end)");
            for (var j = i + 1; j < end; j++)
            {
                inReset[j] = true;
                reset.UnionWith(Regex.Matches(lines[j], "\\b[A-Z][A-Z0-9_]+\\b").Select(m => m.Value));
            }
        }

        var changed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in lines.Where((line, i) => !inReset[i] && line.StartsWith(' ')))
        {
            // NAME = ..., NAME, OTHER = ..., NAME[...] = ..., NAME.field[...] = ...
            var target = Regex.Match(line, "^\\s+((?:[A-Z][A-Z0-9_]*(?:\\.[a-z_]+)?(?:\\[[^]]*\\])?\\s*,\\s*)*[A-Z][A-Z0-9_]*(?:\\.[a-z_]+)?(?:\\[[^]]*\\])?)\\s*=[^=]");
            if (target.Success)
            {
                changed.UnionWith(Regex.Matches(target.Groups[1].Value, "(?<![.\\[])\\b[A-Z][A-Z0-9_]+\\b").Select(m => m.Value));
            }
        }

        Assert.Contains("EVENTS", changed);
        Assert.Contains("DUE", changed);
        return changed.Except(reset).ToList();
    }

    [Fact]
    public void The_library_is_split_by_concern_into_short_parts_each_using_only_what_the_parts_before_it_define()
    {
        var parts = PoolLibrary.Parts;
        Assert.Equal(
            ["01_call", "02_records", "03_epoch", "04_terms", "05_groups", "06_leases", "07_queue", "08_admission", "09_views", "10_finish"],
            parts.Select(p => p.Name));
        var definedBefore = new HashSet<string>(StringComparer.Ordinal);
        for (var n = 0; n < parts.Count; n++)
        {
            var (name, text) = parts[n];
            var lines = text.TrimEnd('\n').Split('\n');
            Assert.True(lines.Length <= 250, $"{name}.lua has {lines.Length} lines (at most 250)");
            Assert.StartsWith($"-- The pool library, part {n + 1} of {parts.Count}: ", text, StringComparison.Ordinal);
            Assert.Contains("Owns ", lines[0] + lines[1], StringComparison.Ordinal);

            // A name a later part defines is not used here: Lua would read it as an (absent) global at run time.
            var code = string.Join('\n', lines.Select(line => line.Contains("--", StringComparison.Ordinal) ? line[..line.IndexOf("--", StringComparison.Ordinal)] : line));
            // Field names (lease.reclaim, 'reclaim') are not uses of a name.
            var withoutStrings = Regex.Replace(code, "'[^']*'|\"[^\"]*\"", "''");
            var definedHere = Defined(code).ToHashSet(StringComparer.Ordinal);
            Assert.Empty(definedHere.Intersect(definedBefore));
            var definedLater = parts.Skip(n + 1)
                .SelectMany(p => Defined(p.Text))
                .Where(later => !definedHere.Contains(later))
                .Where(later => Regex.IsMatch(withoutStrings, $"(?<![.\\w]){later}\\b"))
                .ToList();
            Assert.True(definedLater.Count == 0, $"{name}.lua uses {string.Join(", ", definedLater)}, defined by a later part");
            definedBefore.UnionWith(definedHere);
        }
    }

    /// <summary>The module-level names a part declares (local NAME, local A, B, local function name).</summary>
    private static IEnumerable<string> Defined(string code) =>
        Regex.Matches(code, "^local (?:function )?([A-Za-z_][A-Za-z0-9_, ]*)", RegexOptions.Multiline)
            .SelectMany(m => m.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries));

    [Fact]
    public void A_script_argument_without_a_binding_or_a_binding_never_used_stops_the_load()
    {
        var unbound = Assert.Throws<InvalidOperationException>(() => PoolScript.Load<int>("queue", rest: null));
        Assert.Contains("@max", unbound.Message, StringComparison.Ordinal);
        var unused = Assert.Throws<InvalidOperationException>(() => PoolScript.Load<int>("queue", rest: null, ("max", m => m), ("extra", m => m)));
        Assert.Contains("@extra", unused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Migrations_are_numbered_from_one_without_gaps()
    {
        var versions = MigrationRunner.Available.Select(m => m.Version).ToList();
        Assert.NotEmpty(versions);
        Assert.Equal(Enumerable.Range(1, versions.Count), versions);
        Assert.All(MigrationRunner.Available, m => Assert.False(string.IsNullOrWhiteSpace(m.Sql)));
    }
}
