namespace LicenseBroker.Domain.Seats;

/// <summary>
/// Runs one round of work per key at a time, and lets callers who arrive while a round runs share the
/// next one. A caller's task completes when a round that started after the call has finished, so what
/// the caller committed before calling is always seen by the round it waits for.
/// </summary>
/// <remarks>
/// Fifty parallel changes to one account used to run fifty full reloads of the same pools; with this,
/// one runs and one more waits, whatever the number of callers: the work per change is bounded by the
/// number of rounds, not by how many other callers changed the account at the same moment. Not a
/// package's single-flight (those share the <em>running</em> call, which may have started before the
/// caller's change and so missed it).
/// </remarks>
public sealed class CoalescedRounds<TKey>
    where TKey : notnull
{
    private readonly Dictionary<TKey, Slot> _slots;
    private readonly Func<TKey, Task> _round;

    /// <param name="round">The work of one round for a key; any exception goes to every caller of that round.</param>
    /// <param name="comparer">Compares keys; the default when null.</param>
    public CoalescedRounds(Func<TKey, Task> round, IEqualityComparer<TKey>? comparer = null)
    {
        _round = round;
        _slots = new Dictionary<TKey, Slot>(comparer);
    }

    /// <summary>Keys with a round running (for tests and metrics).</summary>
    public int Running
    {
        get
        {
            lock (_slots)
            {
                return _slots.Count;
            }
        }
    }

    /// <summary>Completes when a round for <paramref name="key"/> that started after this call has finished.</summary>
    public Task RunAsync(TKey key)
    {
        TaskCompletionSource first;
        Slot slot;
        lock (_slots)
        {
            if (_slots.TryGetValue(key, out var running))
            {
                // A round is under way and may have read before this caller's change: wait for the next one.
                running.Next ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                return running.Next.Task;
            }

            slot = new Slot();
            _slots[key] = slot;
            first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        _ = DriveAsync(key, slot, first);
        return first.Task;
    }

    private async Task DriveAsync(TKey key, Slot slot, TaskCompletionSource round)
    {
        var current = round;
        while (true)
        {
            try
            {
                await _round(key).ConfigureAwait(false);
                current.TrySetResult();
            }
#pragma warning disable CA1031 // Every caller of the round gets its fault; the driver must go on to the next round.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                current.TrySetException(ex);
            }

            lock (_slots)
            {
                if (slot.Next is null)
                {
                    _slots.Remove(key);
                    return;
                }

                current = slot.Next;
                slot.Next = null;
            }
        }
    }

    private sealed class Slot
    {
        /// <summary>The callers of the round after the running one; null while nobody waits for it.</summary>
        public TaskCompletionSource? Next { get; set; }
    }
}
