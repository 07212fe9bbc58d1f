using System.Reflection;

namespace LicenseBroker.Storage.Redis;

/// <summary>The embedded pool scripts, each prefixed by the shared prelude.</summary>
public static class LuaScripts
{
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

    private static string Load(string name) => Read("prelude") + "\n" + Read(name);

    private static string Read(string name)
    {
        var resource = $"LicenseBroker.Storage.Redis.Scripts.{name}.lua";
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"Embedded script {resource} is missing.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
