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

    /// <summary>Calls <paramref name="onNotified"/> for each notification (and once per reconnection, for what it missed) until cancelled.</summary>
    public Task ListenAsync(Action onNotified, Action<Exception> onFailure, CancellationToken cancellationToken) =>
        PostgresListener.ListenAsync(_dataSource, Channel, _ => onNotified(), onFailure, cancellationToken);
}
