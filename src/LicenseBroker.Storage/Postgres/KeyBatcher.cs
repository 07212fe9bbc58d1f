namespace LicenseBroker.Storage.Postgres;

/// <summary>
/// Coalesces concurrent calls into batches (group commit): up to a few batches run at a time, and
/// the calls that arrive while all of them run wait and go together in the next one, so a storm of
/// first uses costs a few PostgreSQL round trips and commits instead of one each. No call waits on
/// a timer: a call that finds a batch slot free runs at once. Calls for a key already waiting share
/// its result.
/// </summary>
/// <remarks>
/// Written here rather than taken from a package: the batching loaders on the mirror (GreenDonut's
/// DataLoader) bring a GraphQL runtime and a per-request scope; this needs sixty lines and no scope.
/// </remarks>
public sealed class KeyBatcher<TKey, TValue>
    where TKey : notnull
{
    private readonly Func<IReadOnlyList<TKey>, CancellationToken, Task<IReadOnlyDictionary<TKey, TValue>>> _run;
    private readonly int _maxBatch;
    private readonly int _maxRunning;
    private readonly Dictionary<TKey, TaskCompletionSource<TValue>> _waiting = [];
    private int _running;

    /// <param name="run">Runs one batch; the answer holds a value for every key (a missing key is a bug and fails its caller).</param>
    /// <param name="maxBatch">The most keys in one batch (one statement's parameters).</param>
    /// <param name="maxRunning">The most batches running at once (connections used). With one, a call
    /// can wait for the batch before its own; more shorten that wait and batch less.</param>
    public KeyBatcher(Func<IReadOnlyList<TKey>, CancellationToken, Task<IReadOnlyDictionary<TKey, TValue>>> run, int maxBatch = 500, int maxRunning = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRunning, 1);
        _run = run;
        _maxBatch = maxBatch;
        _maxRunning = maxRunning;
    }

    /// <summary>The value for <paramref name="key"/>, from the next batch. Cancelling stops the wait, not the batch.</summary>
    public Task<TValue> GetAsync(TKey key, CancellationToken cancellationToken)
    {
        TaskCompletionSource<TValue>? call;
        var start = false;
        lock (_waiting)
        {
            if (!_waiting.TryGetValue(key, out call))
            {
                call = new TaskCompletionSource<TValue>(TaskCreationOptions.RunContinuationsAsynchronously);
                _waiting.Add(key, call);
            }

            if (_running < _maxRunning)
            {
                _running++;
                start = true;
            }
        }

        if (start)
        {
            _ = Task.Run(DrainAsync, CancellationToken.None);
        }

        return call.Task.WaitAsync(cancellationToken);
    }

    private async Task DrainAsync()
    {
        while (true)
        {
            List<KeyValuePair<TKey, TaskCompletionSource<TValue>>> batch;
            lock (_waiting)
            {
                if (_waiting.Count == 0)
                {
                    _running--;
                    return;
                }

                batch = _waiting.Take(_maxBatch).ToList();
                foreach (var (key, _) in batch)
                {
                    _waiting.Remove(key);
                }
            }

            try
            {
                var values = await _run(batch.Select(b => b.Key).ToList(), CancellationToken.None);
                foreach (var (key, call) in batch)
                {
                    if (values.TryGetValue(key, out var value))
                    {
                        call.TrySetResult(value);
                    }
                    else
                    {
                        call.TrySetException(new InvalidOperationException($"A batch answered nothing for {key}."));
                    }
                }
            }
            catch (Exception ex)
            {
                foreach (var (_, call) in batch)
                {
                    call.TrySetException(ex);
                }
            }
        }
    }
}
