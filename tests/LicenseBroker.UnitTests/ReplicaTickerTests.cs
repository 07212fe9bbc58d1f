using LicenseBroker.Server.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace LicenseBroker.UnitTests;

/// <summary>A replica's periodic work survives a tick that throws: a background service that throws stops the whole host.</summary>
public sealed class ReplicaTickerTests
{
    [Fact]
    public async Task A_tick_that_throws_is_logged_and_the_next_one_runs()
    {
        using var ticker = new FailingTwice();
        await ticker.StartAsync(CancellationToken.None);
        await ticker.ThirdTick.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await ticker.StopAsync(CancellationToken.None);
        Assert.True(ticker.ExecuteTask!.IsCompletedSuccessfully);
    }

    private sealed class FailingTwice() : ReplicaTicker(TimeSpan.FromMilliseconds(10), TimeProvider.System, NullLogger.Instance)
    {
        private int _ticks;

        public TaskCompletionSource ThirdTick { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override Task TickAsync() => Interlocked.Increment(ref _ticks) switch
        {
            <= 2 => throw new InvalidOperationException("a bug in one tick"),
            _ => Complete(),
        };

        private Task Complete()
        {
            ThirdTick.TrySetResult();
            return Task.CompletedTask;
        }
    }
}
