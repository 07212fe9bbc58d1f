using LicenseBroker.Domain.Seats;

namespace LicenseBroker.UnitTests;

/// <summary>Changes made at once share a round; none is answered by a round that started before it.</summary>
public sealed class CoalescedRoundsTests
{
    [Fact]
    public async Task Callers_during_a_round_share_the_next_one_which_starts_after_them()
    {
        var started = 0;
        var gates = new List<TaskCompletionSource>();
        var rounds = new CoalescedRounds<string>(_ =>
        {
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (gates)
            {
                gates.Add(gate);
                started++;
            }

            return gate.Task;
        });

        var first = rounds.RunAsync("acct");
        var during = Enumerable.Range(0, 20).Select(_ => rounds.RunAsync("acct")).ToList();
        var other = rounds.RunAsync("other");
        Assert.Equal(2, started);

        // The first round ends: only its caller is answered, and one more round starts for the twenty.
        gates[0].SetResult();
        await first;
        Assert.All(during, t => Assert.False(t.IsCompleted));
        await WaitUntil(() => Volatile.Read(ref started) == 3);
        gates[2].SetResult();
        await Task.WhenAll(during);
        gates[1].SetResult();
        await other;
        Assert.Equal(3, started);
        Assert.Equal(0, rounds.Running);
    }

    [Fact]
    public async Task A_failed_round_fails_its_callers_only_and_the_next_round_runs()
    {
        var calls = 0;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var rounds = new CoalescedRounds<string>(async _ =>
        {
            var n = Interlocked.Increment(ref calls);
            if (n == 1)
            {
                await gate.Task;
                throw new InvalidOperationException("backend down");
            }
        });

        var first = rounds.RunAsync("acct");
        var second = rounds.RunAsync("acct");
        gate.SetResult();
        await Assert.ThrowsAsync<InvalidOperationException>(() => first);
        await second;
        Assert.Equal(2, calls);
        await rounds.RunAsync("acct");
        Assert.Equal(3, calls);
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!condition())
        {
            await Task.Delay(5, timeout.Token);
        }
    }
}
