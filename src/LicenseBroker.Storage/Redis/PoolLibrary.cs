using System.Security.Cryptography;
using System.Text;
using StackExchange.Redis;

namespace LicenseBroker.Storage.Redis;

/// <summary>
/// The pool scripts as one Redis Function library (Redis 7): the shared parts once (<see cref="Parts"/>), then
/// each script's body registered as a function <c>lb_&lt;version&gt;_&lt;name&gt;</c>. Loaded once per server, so
/// the shared functions and tables are built at load, not on every call as an EVAL of prelude + body did
/// (7–8 µs of each call's Redis time, BENCHMARKS.md).
/// </summary>
/// <remarks>
/// The version is a hash of the code, so brokers of different versions side by side (a rolling
/// deploy) each call their own functions. Nothing loads it ahead of time: a call that meets a
/// server without it (a new server, a restart without persistence, a new cluster node) loads it on
/// every primary and runs again, as StackExchange.Redis does for EVALSHA after NOSCRIPT. Libraries of
/// versions no replica runs any more stay until removed with FUNCTION DELETE.
/// </remarks>
public static class PoolLibrary
{
    private static readonly Lazy<(string Version, string Text)> Library = new(Build);

    /// <summary>The library's version: a hash of its code.</summary>
    public static string Version => Library.Value.Version;

    /// <summary>The library's code, as FUNCTION LOAD receives it.</summary>
    public static string Text => Library.Value.Text;

    /// <summary>
    /// The library's shared part, Scripts/library/NN_concern.lua in the order of their numbers (each part uses only
    /// what the parts before it define): the shared functions, and the per-call state begin_call resets.
    /// </summary>
    public static IReadOnlyList<(string Name, string Text)> Parts { get; } = ReadParts();

    /// <summary>The parts as one text: what precedes the scripts' functions in the library.</summary>
    public static string Prelude => string.Join('\n', Parts.Select(p => p.Text));

    /// <summary>The name of the function that runs the script <paramref name="script"/>.</summary>
    public static string FunctionName(string script) => $"lb_{Version}_{script}";

    /// <summary>Runs a pool script (FCALL) on the server owning the pool's slot, loading the library there first if it lacks it.</summary>
    public static async Task<RedisResult> CallAsync(IConnectionMultiplexer redis, IDatabase database, IPoolScript script, RedisKey[] keys, RedisValue[] args)
    {
        // RedisKey arguments are how StackExchange.Redis routes an ad-hoc command to the slot's owner in a cluster.
        var command = new object[2 + keys.Length + args.Length];
        command[0] = script.FunctionName;
        command[1] = keys.Length;
        for (var i = 0; i < keys.Length; i++)
        {
            command[2 + i] = keys[i];
        }

        for (var i = 0; i < args.Length; i++)
        {
            command[2 + keys.Length + i] = args[i];
        }

        try
        {
            return await database.ExecuteAsync("FCALL", command);
        }
        catch (RedisServerException ex) when (ex.Message.Contains("Function not found", StringComparison.Ordinal))
        {
            await LoadAsync(redis);
            return await database.ExecuteAsync("FCALL", command);
        }
    }

    /// <summary>Loads the library on every connected primary that lacks it.</summary>
    public static async Task LoadAsync(IConnectionMultiplexer redis)
    {
        foreach (var server in redis.GetServers().Where(s => s.IsConnected && !s.IsReplica))
        {
            try
            {
                await server.ExecuteAsync("FUNCTION", "LOAD", Text);
            }
            catch (RedisServerException ex) when (ex.Message.Contains("already exists", StringComparison.Ordinal))
            {
                // Another replica loaded it first.
            }
        }
    }

    private static List<(string Name, string Text)> ReadParts()
    {
        const string prefix = "LicenseBroker.Storage.Redis.Scripts.library.";
        return typeof(PoolLibrary).Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && n.EndsWith(".lua", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(n => n[prefix.Length..^".lua".Length])
            .Select(name => (name, PoolScriptText.Read("library." + name)))
            .ToList();
    }

    private static (string Version, string Text) Build()
    {
        var prelude = Prelude;
        var bodies = LuaScripts.All.Select(s => (s.Name, s.Text, s.OwnKeys)).ToList();
        var code = new StringBuilder(prelude);
        foreach (var (name, body, _) in bodies)
        {
            code.Append('\n').Append(name).Append('\n').Append(body);
        }

        var version = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(code.ToString())))[..12];
        var text = new StringBuilder($"#!lua name=licensebroker_{version}\n");
        text.Append(prelude).Append('\n');
        foreach (var (name, body, ownKeys) in bodies)
        {
            // A function per script: its body runs inside, after the call's state is set up.
            text.Append("\nredis.register_function('lb_").Append(version).Append('_').Append(name).Append("', function(KEYS, ARGV)\n")
                .Append(ownKeys ? string.Empty : "begin_call(KEYS)\n")
                .Append(body)
                .Append("\nend)\n");
        }

        return (version, text.ToString());
    }
}
