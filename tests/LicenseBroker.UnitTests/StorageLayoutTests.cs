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
        Assert.Equal(15, keys.Length);
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
    public void Each_script_is_the_prelude_plus_its_own_documented_body()
    {
        foreach (var (name, script) in new[] { ("acquire", LuaScripts.Acquire), ("heartbeat", LuaScripts.Heartbeat), ("release", LuaScripts.Release), ("revoke", LuaScripts.Revoke), ("live", LuaScripts.Live), ("sessions", LuaScripts.Sessions), ("usage", LuaScripts.Usage), ("wait_join", LuaScripts.WaitJoin), ("wait_status", LuaScripts.WaitStatus), ("wait_leave", LuaScripts.WaitLeave), ("lease_state", LuaScripts.LeaseState), ("queue", LuaScripts.Queue), ("sweep", LuaScripts.Sweep) })
        {
            Assert.Contains("local function purge(now, max)", script, StringComparison.Ordinal);
            Assert.Contains($"-- {name}:", script, StringComparison.Ordinal);
            Assert.Contains("-- KEYS:", script, StringComparison.Ordinal);
            Assert.Contains("-- Returns (payload):", script, StringComparison.Ordinal);
        }
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
