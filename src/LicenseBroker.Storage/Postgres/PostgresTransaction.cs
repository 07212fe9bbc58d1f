using System.Data;
using Npgsql;
using Polly;

namespace LicenseBroker.Storage.Postgres;

/// <summary>
/// The one way the stores run a change: a ReadCommitted transaction on a connection of its own,
/// committed unless the change was refused, the whole retried by the writes' pipeline.
/// </summary>
internal static class PostgresTransaction
{
    /// <param name="isRefusal">True for an outcome that refuses the change: then nothing it wrote stays.</param>
    public static async Task<T> RunAsync<T>(
        NpgsqlDataSource dataSource,
        ResiliencePipeline pipeline,
        Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work,
        Func<T, bool> isRefusal,
        CancellationToken cancellationToken) =>
        await pipeline.ExecuteAsync(
            async ct =>
            {
                await using var connection = await dataSource.OpenConnectionAsync(ct);

                // On an exception the transaction is disposed uncommitted, which rolls it back when the connection
                // still works. (An explicit rollback on a connection the server just terminated threw
                // ObjectDisposedException over the real fault, and an outage was answered as a bug.)
                await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, ct);
                var result = await work(connection, transaction);
                if (isRefusal(result))
                {
                    // A refused change leaves nothing behind.
                    await transaction.RollbackAsync(ct);
                }
                else
                {
                    await transaction.CommitAsync(ct);
                }

                return result;
            },
            cancellationToken);
}
