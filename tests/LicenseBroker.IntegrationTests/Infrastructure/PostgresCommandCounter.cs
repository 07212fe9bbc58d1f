using System.Collections.Concurrent;
using System.Diagnostics;

namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>Counts Npgsql commands on one database through Npgsql's own tracing (ActivitySource "Npgsql").</summary>
internal sealed class PostgresCommandCounter : IDisposable
{
    private readonly ActivityListener _listener;
    private readonly ConcurrentBag<string> _commands = [];

    public PostgresCommandCounter(string database)
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.TagObjects.Any(tag => tag.Value?.ToString()?.Contains(database, StringComparison.Ordinal) == true))
                {
                    _commands.Add(activity.DisplayName);
                }
            },
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public int Count => _commands.Count;

    public void Dispose() => _listener.Dispose();
}
