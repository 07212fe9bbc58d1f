using System.Text;
using System.Text.RegularExpressions;
using StackExchange.Redis;

namespace LicenseBroker.Storage.Redis;

/// <summary>A loaded pool script, whatever its arguments: for metrics, traces and the layout tests.</summary>
public interface IPoolScript
{
    /// <summary>The file name (acquire, heartbeat, ...).</summary>
    string Name { get; }

    /// <summary>The body as the library registers it (see <see cref="PoolLibrary"/>): names turned into ARGV[n].</summary>
    string Text { get; }

    /// <summary>The function's name in the library loaded into Redis (FCALL).</summary>
    string FunctionName { get; }

    /// <summary>The argument names, in ARGV order.</summary>
    IReadOnlyList<string> ArgumentNames { get; }

    /// <summary>
    /// True for a script that takes its own keys (its header names them) and none of the library's per-call state:
    /// registered without begin_call (heartbeat_fast). False: the pool layout's keys, begin_call first.
    /// </summary>
    bool OwnKeys { get; }
}

/// <summary>
/// One pool script with named arguments (the idea of madelson/DistributedLock's RedisScript): the
/// Lua writes <c>@name</c> where it uses an argument, and each name is bound here to the C# value it
/// comes from, so argument order cannot drift between the two sides. Loading fails when the Lua
/// uses a name without a binding or a binding is never used. <c>@rest</c> is the index of the first
/// of the variable arguments that follow the named ones (revoke's ids, live's agents).
/// </summary>
/// <remarks>
/// Not StackExchange.Redis's LuaScript: it maps every parameter to ARGV and would send the pool's
/// keys as arguments, which Redis Cluster cannot route; the keys here are the KEYS layout of Scripts/library/01_call.lua.
/// </remarks>
public sealed class PoolScript<TArgs> : IPoolScript
{
    private readonly Func<TArgs, RedisValue>[] _values;
    private readonly Func<TArgs, IReadOnlyList<RedisValue>>? _rest;

    internal PoolScript(string name, string text, IReadOnlyList<string> names, Func<TArgs, RedisValue>[] values, Func<TArgs, IReadOnlyList<RedisValue>>? rest, bool ownKeys)
    {
        OwnKeys = ownKeys;
        Name = name;
        Text = text;
        ArgumentNames = names;
        _values = values;
        _rest = rest;
    }

    public string Name { get; }

    public string Text { get; }

    public IReadOnlyList<string> ArgumentNames { get; }

    public bool OwnKeys { get; }

    public string FunctionName => PoolLibrary.FunctionName(Name);

    /// <summary>The ARGV of one call.</summary>
    public RedisValue[] Arguments(TArgs args)
    {
        var rest = _rest?.Invoke(args) ?? [];
        var values = new RedisValue[_values.Length + rest.Count];
        for (var i = 0; i < _values.Length; i++)
        {
            values[i] = _values[i](args);
        }

        for (var i = 0; i < rest.Count; i++)
        {
            values[_values.Length + i] = rest[i];
        }

        return values;
    }
}

/// <summary>Loads pool scripts (see <see cref="PoolScript{TArgs}"/>).</summary>
public static class PoolScript
{
    /// <summary>Reads Scripts/<paramref name="name"/>.lua and binds its named arguments.</summary>
    public static PoolScript<TArgs> Load<TArgs>(string name, Func<TArgs, IReadOnlyList<RedisValue>>? rest, params (string Name, Func<TArgs, RedisValue> Value)[] arguments) =>
        Load(name, rest, ownKeys: false, arguments);

    /// <summary>As <see cref="Load{TArgs}(string, Func{TArgs, IReadOnlyList{RedisValue}}?, ValueTuple{string, Func{TArgs, RedisValue}}[])"/>; <paramref name="ownKeys"/>: see <see cref="IPoolScript.OwnKeys"/>.</summary>
    public static PoolScript<TArgs> Load<TArgs>(string name, Func<TArgs, IReadOnlyList<RedisValue>>? rest, bool ownKeys, params (string Name, Func<TArgs, RedisValue> Value)[] arguments)
    {
        var names = arguments.Select(a => a.Name).ToList();
        var text = PoolScriptText.Compile(name, names, rest is not null);
        return new PoolScript<TArgs>(name, text, names, arguments.Select(a => a.Value).ToArray(), rest, ownKeys);
    }
}

/// <summary>Reads a pool script and turns its argument names into ARGV indexes (see <see cref="PoolScript{TArgs}"/>).</summary>
internal static partial class PoolScriptText
{
    public static string Compile(string name, IReadOnlyList<string> names, bool hasRest)
    {
        var index = names.Select((n, i) => (Name: n, Index: i + 1)).ToDictionary(a => a.Name, a => a.Index, StringComparer.Ordinal);
        var used = new HashSet<string>(StringComparer.Ordinal);
        var text = new StringBuilder();
        foreach (var line in Read(name).Split('\n'))
        {
            // Names are replaced in code only; the comments keep them, as documentation.
            var comment = line.IndexOf("--", StringComparison.Ordinal);
            var code = comment < 0 ? line : line[..comment];
            text.Append(Placeholder().Replace(code, match =>
            {
                var argument = match.Groups[1].Value;
                if (argument == "rest")
                {
                    return hasRest
                        ? (names.Count + 1).ToString(System.Globalization.CultureInfo.InvariantCulture)
                        : throw new InvalidOperationException($"{name}.lua uses @rest but takes no variable arguments.");
                }

                used.Add(argument);
                return index.TryGetValue(argument, out var i)
                    ? $"ARGV[{i}]"
                    : throw new InvalidOperationException($"{name}.lua uses @{argument}, which has no binding.");
            }));
            if (comment >= 0)
            {
                text.Append(line[comment..]);
            }

            text.Append('\n');
        }

        if (names.FirstOrDefault(a => !used.Contains(a)) is { } unused)
        {
            throw new InvalidOperationException($"{name}.lua never uses the argument @{unused}.");
        }

        return text.ToString();
    }

    public static string Read(string name)
    {
        var resource = $"LicenseBroker.Storage.Redis.Scripts.{name}.lua";
        using var stream = typeof(PoolScriptText).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"Embedded script {resource} is missing.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    [GeneratedRegex("@([a-z][a-z0-9_]*)")]
    private static partial Regex Placeholder();
}
