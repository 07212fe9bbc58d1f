using System.Globalization;
using StackExchange.Redis;

namespace LicenseBroker.Storage.Redis;

/// <summary>
/// A script's named reply (a flat list name, value, name, value... as Scripts/library/01_call.lua describes), read by
/// name so that the Lua and C# sides cannot drift by position. A missing field is a bug of one side:
/// it throws, and the call answers INTERNAL.
/// </summary>
internal sealed class ScriptReply
{
    private readonly string _script;
    private readonly Dictionary<string, RedisResult> _fields;

    public ScriptReply(string script, RedisResult result)
    {
        _script = script;
        var items = (RedisResult[])result!;
        _fields = new Dictionary<string, RedisResult>(items.Length / 2, StringComparer.Ordinal);
        for (var i = 0; i + 1 < items.Length; i += 2)
        {
            _fields[(string)items[i]!] = items[i + 1];
        }
    }

    private ScriptReply(string script, string[] names, RedisResult[] values)
    {
        _script = script;
        _fields = new Dictionary<string, RedisResult>(names.Length, StringComparer.Ordinal);
        for (var i = 0; i < names.Length && i < values.Length; i++)
        {
            _fields[names[i]] = values[i];
        }
    }

    /// <summary>The status of a script whose payload has one (GRANTED, RENEWED, ...).</summary>
    public string Status => String("status");

    public string String(string name) => (string)Field(name)!;

    public long Long(string name) => (long)Field(name);

    public int Int(string name) => (int)Field(name);

    /// <summary>A field some replies carry and others do not (a resumed grant carries no overage): its value, or null.</summary>
    public long? OptionalLong(string name) => _fields.TryGetValue(name, out var value) ? (long)value : null;

    public DateTimeOffset Time(string name) => DateTimeOffset.FromUnixTimeMilliseconds((long)Field(name));

    public TimeSpan Milliseconds(string name) => TimeSpan.FromMilliseconds((long)Field(name));

    /// <summary>A nested named record (the payload).</summary>
    public ScriptReply Record(string name) => new(_script, Field(name));

    /// <summary>A list of nested named records (leases of a page, agents of the queue).</summary>
    public IEnumerable<ScriptReply> Records(string name) => ((RedisResult[])Field(name)!).Select(item => new ScriptReply(_script, item));

    /// <summary>The rows of a table (<paramref name="rows"/>), each read by the names in <paramref name="columns"/>.</summary>
    public IEnumerable<ScriptReply> Rows(string rows, string columns = "columns")
    {
        var names = List(columns).Select(c => (string)c!).ToArray();
        return List(rows).Select(row => new ScriptReply(_script, names, (RedisResult[])row!));
    }

    /// <summary>A list of plain values.</summary>
    public RedisResult[] List(string name) => (RedisResult[])Field(name)!;

    private RedisResult Field(string name) => _fields.TryGetValue(name, out var value)
        ? value
        : throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"The {_script} script's reply has no field '{name}'."));
}
