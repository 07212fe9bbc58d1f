using System.Collections.Concurrent;
using LicenseBroker.Domain.Seats;
using StackExchange.Redis;

namespace LicenseBroker.Storage.Redis;

/// <summary>
/// The pools' pub/sub channels, shared by every stream of this replica: one Redis subscription
/// per pool that has a waiter or a watcher here, dropped with the last of them. No polling loop
/// per waiter: a seat freed through any replica wakes them through the channel.
/// </summary>
public sealed class PoolEventHub : IPoolEvents
{
    private readonly IConnectionMultiplexer _redis;
    private readonly RedisKeys _keys;
    private readonly ConcurrentDictionary<PoolId, PoolSubscription> _pools = new();

    public PoolEventHub(IConnectionMultiplexer redis, RedisKeys keys)
    {
        _redis = redis;
        _keys = keys;
    }

    public async Task<IDisposable> SubscribeAsync(PoolId pool, Action<string> onEvent, CancellationToken cancellationToken)
    {
        while (true)
        {
            var subscription = _pools.GetOrAdd(pool, p => new PoolSubscription(this, p));
            if (subscription.TryAdd(onEvent))
            {
                var handle = new Handle(subscription, onEvent);
                try
                {
                    // Wait until Redis confirms the subscription, so no event after this point is missed.
                    await subscription.Ready.WaitAsync(cancellationToken);
                }
                catch (RedisException)
                {
                    // Redis is away: the streams' periodic refresh still moves them along.
                }
                catch
                {
                    handle.Dispose();
                    throw;
                }

                return handle;
            }

            // The subscription was being torn down; take a fresh one.
            _pools.TryRemove(KeyValuePair.Create(pool, subscription));
        }
    }

    private sealed class PoolSubscription
    {
        private readonly PoolEventHub _hub;
        private readonly PoolId _pool;
        private readonly List<Action<string>> _handlers = [];
        private bool _closed;

        public PoolSubscription(PoolEventHub hub, PoolId pool)
        {
            _hub = hub;
            _pool = pool;
            Ready = hub._redis.GetSubscriber().SubscribeAsync(hub._keys.PoolEvents(pool), OnMessage);
        }

        /// <summary>Completes when Redis has confirmed the subscription.</summary>
        public Task Ready { get; }

        public bool TryAdd(Action<string> handler)
        {
            lock (_handlers)
            {
                if (_closed)
                {
                    return false;
                }

                _handlers.Add(handler);
                return true;
            }
        }

        public void Remove(Action<string> handler)
        {
            lock (_handlers)
            {
                _handlers.Remove(handler);
                if (_handlers.Count > 0)
                {
                    return;
                }

                _closed = true;
            }

            _hub._pools.TryRemove(KeyValuePair.Create(_pool, this));
            _hub._redis.GetSubscriber().Unsubscribe(_hub._keys.PoolEvents(_pool), OnMessage, CommandFlags.FireAndForget);
        }

        private void OnMessage(RedisChannel channel, RedisValue message)
        {
            Action<string>[] handlers;
            lock (_handlers)
            {
                handlers = [.. _handlers];
            }

            foreach (var handler in handlers)
            {
                handler(message.ToString());
            }
        }
    }

    private sealed class Handle(PoolSubscription subscription, Action<string> handler) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                subscription.Remove(handler);
            }
        }
    }
}
