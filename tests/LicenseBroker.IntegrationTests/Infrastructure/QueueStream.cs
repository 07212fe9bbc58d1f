using System.Collections.Concurrent;
using System.Diagnostics;
using Grpc.Core;
using LicenseBroker.Contracts.V1;

namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>
/// A WaitForSeat stream read in the background, keeping what an app keeps: every position (with when it came), the last
/// queue ticket, the grant, or the error that ended the stream, and when each came.
/// </summary>
internal sealed class QueueStream : IDisposable
{
    private readonly AsyncServerStreamingCall<WaitForSeatResponse> _call;
    private readonly CancellationTokenSource _cancel = new();

    private QueueStream(string agent, AsyncServerStreamingCall<WaitForSeatResponse> call)
    {
        Agent = agent;
        _call = call;
        _ = Task.Run(ReadAsync);
    }

    public string Agent { get; }

    public ConcurrentQueue<(QueuePosition Position, DateTimeOffset At)> Positions { get; } = new();

    public QueuePosition? Last => Positions.LastOrDefault().Position;

    public string Ticket { get; private set; } = string.Empty;

    public TaskCompletionSource<(Lease Lease, DateTimeOffset At)> Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The error that ended the stream (not this client's own cancellation), and when it came.</summary>
    public TaskCompletionSource<(RpcException Error, DateTimeOffset At)> Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Joins (with <paramref name="ticket"/> when re-joining) and waits for the first update.</summary>
    public static async Task<QueueStream> JoinAsync(AgentClient client, string agent, string product = "remote-support", string ticket = "", Metadata? headers = null)
    {
        var call = client.Raw.WaitForSeat(
            new WaitForSeatRequest
            {
                Product = product, SessionId = "w-" + agent, Device = new Device { Id = "d", Platform = Platform.Windows }, SessionKind = SessionKind.Pending, QueueTicket = ticket,
            },
            headers ?? client.Headers);
        return await FromAsync(agent, call);
    }

    /// <summary>Reads a WaitForSeat call the test made itself, and waits for its first update.</summary>
    public static async Task<QueueStream> FromAsync(string agent, AsyncServerStreamingCall<WaitForSeatResponse> call)
    {
        var stream = new QueueStream(agent, call);
        await Eventually.Until(
            async () =>
            {
                await Task.Yield();
                return !stream.Positions.IsEmpty || stream.Granted.Task.IsCompleted || stream.Ended.Task.IsCompleted ? "answered" : null;
            },
            TimeSpan.FromSeconds(20),
            $"the first update of {agent}'s wait");
        return stream;
    }

    public async Task PositionAsync(int expected) => await Eventually.Until(
        async () =>
        {
            await Task.Yield();
            return Last?.Position == expected ? "there" : null;
        },
        TimeSpan.FromSeconds(20),
        $"{Agent} at position {expected} (last {Last?.Position})");

    public void Dispose()
    {
        _cancel.Cancel();
        _call.Dispose();
    }

    private async Task ReadAsync()
    {
        try
        {
            while (await _call.ResponseStream.MoveNext(_cancel.Token))
            {
                var update = _call.ResponseStream.Current;
                if (update.UpdateCase == WaitForSeatResponse.UpdateOneofCase.Granted)
                {
                    Granted.TrySetResult((update.Granted, DateTimeOffset.UtcNow));
                    return;
                }

                if (update.Position.QueueTicket.Length > 0)
                {
                    Ticket = update.Position.QueueTicket;
                }

                Positions.Enqueue((update.Position, DateTimeOffset.UtcNow));
            }
        }
        catch (RpcException ex) when (!_cancel.IsCancellationRequested)
        {
            Ended.TrySetResult((ex, DateTimeOffset.UtcNow));
        }
        catch (Exception ex) when (ex is OperationCanceledException || _cancel.IsCancellationRequested)
        {
            Debug.WriteLine($"{Agent}'s wait cancelled by the test");
        }
    }
}
