using System.Collections.Concurrent;
using System.Threading.Channels;
using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Storage.Redis;

/// <summary>
/// Pools whose scripts left expired leases behind (each call drops a bounded number): the janitor
/// drains them in bounded batches. A pool is queued once however many calls report it.
/// </summary>
public sealed class ExpiryBacklog
{
    private readonly ConcurrentDictionary<PoolId, byte> _queued = new();
    private readonly Channel<PoolId> _pools = Channel.CreateUnbounded<PoolId>(new UnboundedChannelOptions { SingleReader = true });

    public void Report(PoolId pool)
    {
        if (_queued.TryAdd(pool, 0))
        {
            _pools.Writer.TryWrite(pool);
        }
    }

    /// <summary>The next pool to sweep; the pool may be reported again from the moment it is taken.</summary>
    public async ValueTask<PoolId> TakeAsync(CancellationToken cancellationToken)
    {
        var pool = await _pools.Reader.ReadAsync(cancellationToken);
        _queued.TryRemove(pool, out _);
        return pool;
    }
}
