using Grpc.Core;
using LicenseBroker.Contracts.V1;

namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>One WaitForSeat stream, read in the background: its first and last positions, its grant, or the error that ended it.</summary>
internal sealed class WaitStream : IDisposable
{
    private readonly AsyncServerStreamingCall<WaitForSeatResponse> _call;
    private int _lastPosition;

    private WaitStream(string agent, AsyncServerStreamingCall<WaitForSeatResponse> call, int firstPosition)
    {
        Agent = agent;
        _call = call;
        FirstPosition = firstPosition;
        _lastPosition = firstPosition;
        _ = Task.Run(async () =>
        {
            try
            {
                while (await _call.ResponseStream.MoveNext(CancellationToken.None))
                {
                    var update = _call.ResponseStream.Current;
                    if (update.UpdateCase == WaitForSeatResponse.UpdateOneofCase.Granted)
                    {
                        Granted.TrySetResult(update.Granted);
                        return;
                    }

                    Volatile.Write(ref _lastPosition, update.Position.Position);
                }
            }
            catch (RpcException ex)
            {
                Ended.TrySetResult(ex);
            }
        });
    }

    public string Agent { get; }

    public int FirstPosition { get; }

    /// <summary>The position the stream last reported.</summary>
    public int LastPosition => Volatile.Read(ref _lastPosition);

    public TaskCompletionSource<Lease> Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The error the stream ended with (not its client's own cancellation).</summary>
    public TaskCompletionSource<RpcException> Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Joins the queue of <paramref name="product"/> and waits for the first update, which must be a position.</summary>
    public static async Task<WaitStream> JoinAsync(AgentClient client, string agent, string product = "remote-support")
    {
        var call = client.Raw.WaitForSeat(
            new WaitForSeatRequest { Product = product, SessionId = "w-" + agent, Device = new Device { Id = "d", Platform = Platform.Windows }, SessionKind = SessionKind.Pending },
            client.Headers);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(WaitForSeatResponse.UpdateOneofCase.Position, call.ResponseStream.Current.UpdateCase);
        return new WaitStream(agent, call, call.ResponseStream.Current.Position.Position);
    }

    public void Dispose() => _call.Dispose();
}
