using Npgsql;

namespace LicenseBroker.Storage.Postgres;

/// <summary>
/// Tells the webhook dispatchers that messages were written: the outbox write calls pg_notify in its own
/// transaction (delivered at commit, see <see cref="WebhookOutbox"/>), and every replica LISTENs on one
/// connection of its own, so a new message is sent within milliseconds instead of at the next poll.
/// The poll stays, for a notification lost with a connection.
/// </summary>
public sealed class OutboxSignal
{
    /// <summary>The notification channel.</summary>
    public const string Channel = "lb_webhook_outbox";

    private readonly NpgsqlDataSource _dataSource;

    public OutboxSignal(NpgsqlDataSource dataSource)
    {
        _dataSource = dataSource;
    }

    /// <summary>Calls <paramref name="onNotified"/> for each notification until cancelled; reconnects after a failure.</summary>
    public async Task ListenAsync(Action onNotified, Action<Exception> onFailure, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
                connection.Notification += (_, _) => onNotified();
                await using (var listen = new NpgsqlCommand($"LISTEN {Channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(cancellationToken);
                }

                // Messages written while this connection was away are found by the next poll; wake once for them.
                onNotified();
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
