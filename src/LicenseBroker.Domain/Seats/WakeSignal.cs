using System.Threading.Channels;

namespace LicenseBroker.Domain.Seats;

/// <summary>
/// A wake-up for a background loop or a stream: <see cref="Set"/> from any thread, and <see cref="WaitAsync"/>
/// returns at the first signal since the last wait (several signals count as one), or when its own timer is due.
/// </summary>
public sealed class WakeSignal
{
    private readonly Channel<bool> _signal = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    public void Set() => _signal.Writer.TryWrite(true);

    /// <summary>Returns at the first signal since the last wait, or after <paramref name="atMost"/>; throws only when <paramref name="cancellationToken"/> is cancelled.</summary>
    public async Task WaitAsync(TimeSpan atMost, CancellationToken cancellationToken)
    {
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timer.CancelAfter(atMost);
        try
        {
            await _signal.Reader.ReadAsync(timer.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
        }
    }
}
