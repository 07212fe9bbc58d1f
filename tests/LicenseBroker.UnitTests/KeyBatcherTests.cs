using LicenseBroker.Storage.Postgres;

namespace LicenseBroker.UnitTests;

/// <summary>The group commit of first uses (KeyBatcher): what arrives during a batch goes together in the next.</summary>
public sealed class KeyBatcherTests
{
    [Fact]
    public async Task Calls_arriving_while_a_batch_runs_share_the_next_batch_and_equal_keys_share_one_answer()
    {
        var batches = new List<IReadOnlyList<int>>();
        var firstRunning = new TaskCompletionSource();
        var releaseFirst = new TaskCompletionSource();
        var batcher = new KeyBatcher<int, string>(async (keys, _) =>
        {
            lock (batches)
            {
                batches.Add(keys);
            }

            if (firstRunning.TrySetResult())
            {
                await releaseFirst.Task;
            }

            return keys.ToDictionary(k => k, k => "v" + k);
        });

        var lone = batcher.GetAsync(0, CancellationToken.None);
        await firstRunning.Task;
        var waiting = Enumerable.Range(1, 50).Select(k => batcher.GetAsync(k % 25 + 1, CancellationToken.None)).ToList();
        releaseFirst.SetResult();

        Assert.Equal("v0", await lone);
        var answers = await Task.WhenAll(waiting);
        Assert.Equal(Enumerable.Range(1, 50).Select(k => "v" + (k % 25 + 1)), answers);
        Assert.Equal(2, batches.Count);
        Assert.Equal([0], batches[0]);
        Assert.Equal(Enumerable.Range(1, 25).ToHashSet(), batches[1].ToHashSet());
        Assert.Equal(25, batches[1].Count);
    }

    [Fact]
    public async Task A_failed_batch_fails_each_of_its_calls_and_the_next_call_runs_again()
    {
        var calls = 0;
        var batcher = new KeyBatcher<string, int>((keys, _) => ++calls == 1
            ? throw new TimeoutException("backend away")
            : Task.FromResult<IReadOnlyDictionary<string, int>>(keys.ToDictionary(k => k, k => k.Length)));

        await Assert.ThrowsAsync<TimeoutException>(() => batcher.GetAsync("a", CancellationToken.None));
        Assert.Equal(2, await batcher.GetAsync("bb", CancellationToken.None));
    }

    [Fact]
    public async Task A_key_the_batch_left_out_fails_its_call_and_batches_are_bounded()
    {
        var sizes = new List<int>();
        var gate = new TaskCompletionSource();
        var batcher = new KeyBatcher<int, int>(
            async (keys, _) =>
            {
                sizes.Add(keys.Count);
                await gate.Task;
                return keys.Where(k => k != 7).ToDictionary(k => k, k => k);
            },
            maxBatch: 4);

        var calls = Enumerable.Range(0, 10).Select(k => batcher.GetAsync(k, CancellationToken.None)).ToList();
        gate.SetResult();
        await Assert.ThrowsAsync<InvalidOperationException>(() => calls[7]);
        Assert.Equal(9, (await Task.WhenAll(calls.Where((_, k) => k != 7))).Length);
        Assert.All(sizes, size => Assert.InRange(size, 1, 4));
        Assert.Equal(10, sizes.Sum());
    }
}
