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
        Assert.Equal(14, LuaScripts.All.Count);
        var library = PoolLibrary.Text;
        Assert.StartsWith($"#!lua name=licensebroker_{PoolLibrary.Version}\n", library, StringComparison.Ordinal);
        Assert.Equal(1, library.Split("local function purge(now, max)").Length - 1);
        Assert.True(library.IndexOf("local function begin_call(keys)", StringComparison.Ordinal) < library.IndexOf("redis.register_function(", StringComparison.Ordinal));
        foreach (var script in LuaScripts.All)
        {
            Assert.Equal($"lb_{PoolLibrary.Version}_{script.Name}", script.FunctionName);
            Assert.Contains($"redis.register_function('{script.FunctionName}', function(KEYS, ARGV)\nbegin_call(KEYS)\n{script.Text}\nend)", library, StringComparison.Ordinal);
            Assert.Contains($"-- {script.Name}:", script.Text, StringComparison.Ordinal);
            Assert.Contains("-- KEYS:", script.Text, StringComparison.Ordinal);
            Assert.Contains("-- Returns (payload):", script.Text, StringComparison.Ordinal);

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
        // name that some function assigns, or whose table it fills, must start afresh in begin_call.
        var prelude = PoolLibrary.Prelude;
        var lines = prelude.Split('\n').Select(line => line.Contains("--", StringComparison.Ordinal) ? line[..line.IndexOf("--", StringComparison.Ordinal)] : line).ToList();
        var beginAt = lines.FindIndex(line => line.StartsWith("local function begin_call(", StringComparison.Ordinal));
        Assert.True(beginAt > 0, "begin_call is missing");
        var beginEnd = lines.FindIndex(beginAt, line => line == "end");
        var reset = lines.GetRange(beginAt + 1, beginEnd - beginAt - 1).SelectMany(line => Regex.Matches(line, "\\b[A-Z][A-Z0-9_]+\\b").Select(m => m.Value)).ToHashSet(StringComparer.Ordinal);

        var changed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in lines.Where((_, i) => i < beginAt || i > beginEnd).Where(line => line.StartsWith(' ')))
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
        Assert.Empty(changed.Except(reset));
    }

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
