using Npgsql;

namespace LicenseBroker.Storage.Postgres;

/// <summary>
/// LISTENs on one PostgreSQL channel over a connection of its own, reconnecting after a failure. A
/// notification sent while the connection was away is lost, so each (re)connection is reported
/// (<c>onNotified(null)</c>): the caller then catches up by reading, as after a lost message.
/// </summary>
public static class PostgresListener
{
    /// <summary>Calls <paramref name="onNotified"/> with each payload (null after each connect) until cancelled.</summary>
    public static async Task ListenAsync(
        NpgsqlDataSource dataSource, string channel, Action<string?> onNotified, Action<Exception> onFailure, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
                connection.Notification += (_, e) => onNotified(e.Payload);
                await using (var listen = new NpgsqlCommand($"LISTEN {channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(cancellationToken);
                }

                onNotified(null);
                while (true)
                {
                    await connection.WaitAsync(cancellationToken);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                onFailure(ex);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }
}
