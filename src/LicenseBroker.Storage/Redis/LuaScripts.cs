using System.Reflection;

namespace LicenseBroker.Storage.Redis;

/// <summary>The embedded pool scripts, each prefixed by the shared prelude.</summary>
public static class LuaScripts
{
    // First: static fields initialize in order, and every Load below records its name here.
    private static readonly Dictionary<string, string> Names = new(ReferenceEqualityComparer.Instance);

    public static readonly string Acquire = Load("acquire");
    public static readonly string Heartbeat = Load("heartbeat");
    public static readonly string Release = Load("release");
    public static readonly string Revoke = Load("revoke");
    public static readonly string Live = Load("live");
    public static readonly string Sessions = Load("sessions");
    public static readonly string Usage = Load("usage");
    public static readonly string WaitJoin = Load("wait_join");
    public static readonly string WaitStatus = Load("wait_status");
    public static readonly string WaitLeave = Load("wait_leave");
    public static readonly string LeaseState = Load("lease_state");
    public static readonly string Queue = Load("queue");
    public static readonly string Sweep = Load("sweep");

    /// <summary>The file name of a loaded script, for metrics and traces.</summary>
    public static string NameOf(string script) => Names.TryGetValue(script, out var name) ? name : "script";

    private static string Load(string name)
    {
        // Runs only from the static initializers, one at a time: no lock needed.
        var script = Read("prelude") + "\n" + Read(name);
        Names[script] = name;
        return script;
    }

    private static string Read(string name)
    {
        var resource = $"LicenseBroker.Storage.Redis.Scripts.{name}.lua";
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"Embedded script {resource} is missing.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
