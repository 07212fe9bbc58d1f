using System.Collections.Concurrent;
using System.Diagnostics;

namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>
/// Counts Npgsql commands on one database through Npgsql's own tracing (ActivitySource "Npgsql"),
/// leaving out the background writer of the audit log.
/// </summary>
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
                var values = activity.TagObjects.Select(tag => tag.Value?.ToString() ?? string.Empty).ToList();

                // Commands only: opening a physical connection (the background services' pool) is no query.
                if (!activity.TagObjects.Any(tag => tag.Key is "db.statement" or "db.query.text"))
                {
                    return;
                }

                // The seat-event batches (and their webhook messages) are written in the background, the webhook
                // dispatcher polls its outbox and listens for new messages, and the seat event drain lists the pools
                // to scan their journals (keyset pages of subscriptions), off the request path: not counted. Nor are the
                // drain's look-up of erased agents and the audit log's partition maintenance.
                if (values.Any(v => v.Contains(database, StringComparison.Ordinal))
                    && !values.Any(v => v.Contains("audit_events", StringComparison.Ordinal) || v.Contains("usage_daily", StringComparison.Ordinal)
                        || v.Contains("webhook_", StringComparison.Ordinal) || v.StartsWith("LISTEN ", StringComparison.Ordinal)
                        || v.Contains("erased_agents", StringComparison.Ordinal) || v.Contains("lb_erasure:", StringComparison.Ordinal) || v.Contains("lb_partitions_", StringComparison.Ordinal)
                        || v.Contains("WHERE (account_id, product_code) > (", StringComparison.Ordinal)))
                {
                    _commands.Add(activity.TagObjects.First(tag => tag.Key is "db.statement" or "db.query.text").Value?.ToString() ?? string.Empty);
                }
            },
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public int Count => _commands.Count;

    /// <summary>The text of every command counted.</summary>
    public IReadOnlyList<string> Texts => [.. _commands];

    public void Dispose() => _listener.Dispose();
}
