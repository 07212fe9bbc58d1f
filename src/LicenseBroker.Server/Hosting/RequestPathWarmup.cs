using System.Diagnostics;
using LicenseBroker.Domain.Catalog;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Redis;
using LicenseBroker.Storage.Resilience;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using StackExchange.Redis;

namespace LicenseBroker.Server.Hosting;

/// <summary>
/// Runs the seat path (token validation, rules, proofs, the Redis store, its Polly pipeline and pool functions, the pool
/// registry's read) a few hundred times before the replica listens, so the first minute after a deploy is not spent compiling it
/// (issue 28, item 4: half of the cold start's excess was code being compiled). It touches no account: its pools are
/// invented for this replica, under a key prefix of their own (no listing, janitor or journal drain reads it), with
/// a policy of its own (no catalog read), events recorded nowhere, no pool registration written; its keys are
/// removed at the end.
/// </summary>
internal sealed partial class RequestPathWarmup(
    IConnectionMultiplexer redis,
    RedisOptions redisOptions,
    BackendPipelines pipelines,
    IPoolRegistry registry,
    SeatOptions seats,
    LeaseLayoutGate layout,
    TimeProvider time,
    LeaseProofs proofs,
    WarmupOptions options,
    IOptionsMonitor<JwtBearerOptions> jwt,
    ILogger<RedisOccupancyStore> storeLogger,
    ILogger<RequestPathWarmup> logger)
{
    private const int Pools = 4;
    private static readonly string[] SharedAgents = ["w0", "w1", "w2"];
    private const string NamedAgent = "wn";

    /// <summary>Runs the warm-up; a failure (Redis away, the time limit) is logged and the replica starts anyway.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (options.Rounds == 0)
        {
            return;
        }

        // A prefix of this replica's own: replicas starting together never meet each other's warm-up pools.
        var keys = new RedisKeys($"{redisOptions.KeyPrefix}warmup-{Guid.NewGuid():N}:");
        var account = "warmup";
        var pools = Enumerable.Range(0, Pools).Select(i => new PoolId(account, "warmup-" + i)).ToArray();
        var store = new RedisOccupancyStore(
            redis, keys, pipelines, new NoEvents(), new ReadOnlyRegistry(registry), seats, new ExpiryBacklog(), new ReclaimIndex(redis, keys), layout, storeLogger);
        var broker = new SeatBroker(new WarmupCatalog(time), store, time, seats, proofs);

        var started = Stopwatch.GetTimestamp();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(options.Timeout);
        var calls = 0;
        var highestFence = 0L;
        try
        {
            calls += await ValidateTokensAsync();
            for (var round = 0; round < options.Rounds; round++)
            {
                var product = pools[round % Pools].Product;
                var held = new List<(AgentIdentity Agent, Lease Lease)>();
                foreach (var agentId in SharedAgents.Append(NamedAgent))
                {
                    // Two shared seats for three agents: the third is refused, the refusal's path is warmed too.
                    var agent = new AgentIdentity(account, agentId);
                    var outcome = await broker.AcquireAsync(agent, product, $"s{round}-{agentId}", new DeviceInfo("warmup", Platform.Windows), SessionKind.Attended, limit.Token);
                    calls++;
                    if (outcome is AcquireOutcome.Granted granted)
                    {
                        held.Add((agent, granted.Lease));
                        highestFence = Math.Max(highestFence, granted.Lease.FencingToken);
                    }
                }

                foreach (var (agent, lease) in held)
                {
                    await broker.HeartbeatAsync(agent, product, lease.LeaseId, limit.Token, lease.SessionId, lease.FencingToken, leaseProof: lease.Proof);
                    await broker.ReleaseAsync(agent, product, lease.LeaseId, limit.Token);
                    calls += 2;
                }
            }

            var elapsed = Stopwatch.GetElapsedTime(started);
            LogWarmed(logger, calls, elapsed.TotalMilliseconds);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            LogWarmFailed(logger, calls, ex);
        }
        finally
        {
            await RemoveAsync(keys, pools, highestFence);
        }
    }

    /// <summary>
    /// Every agent's first call validates its token in full (the cache keeps successes only): tokens of invented agents,
    /// signed with the broker's own key, through the handler the authentication uses. None without a key of its own
    /// (an authority's keys only): no such token can be made.
    /// </summary>
    private async Task<int> ValidateTokensAsync()
    {
        var bearer = jwt.Get(JwtBearerDefaults.AuthenticationScheme);
        var parameters = bearer.TokenValidationParameters;
        if (parameters.IssuerSigningKeys?.OfType<SymmetricSecurityKey>().FirstOrDefault() is not { } key || bearer.TokenHandlers.FirstOrDefault() is not { } handler)
        {
            return 0;
        }

        var writer = new JsonWebTokenHandler();
        var now = time.GetUtcNow().UtcDateTime;
        var validated = 0;
        for (var i = 0; i < options.Rounds; i++)
        {
            var token = writer.CreateToken(new SecurityTokenDescriptor
            {
                Subject = new System.Security.Claims.ClaimsIdentity([new System.Security.Claims.Claim("sub", $"warmup-{i}")]),
                Claims = new Dictionary<string, object> { ["account_id"] = "warmup" },
                Issuer = parameters.ValidIssuer,
                Audience = parameters.ValidAudience,
                IssuedAt = now,
                NotBefore = now,
                Expires = now.AddMinutes(1),
                SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.HmacSha256),
            });
            var result = await handler.ValidateTokenAsync(token, parameters);
            validated += result.IsValid ? 1 : 0;
        }

        return validated;
    }

    private async Task RemoveAsync(RedisKeys keys, PoolId[] pools, long highestFence)
    {
        try
        {
            var database = redis.GetDatabase();
            // One pool's keys share a slot (its hash tag), so each pool is one UNLINK, on Redis Cluster too.
            foreach (var pool in pools)
            {
                await database.KeyDeleteAsync(keys.AllPoolKeys(pool, highestFence).ToArray());
            }

            await database.KeyDeleteAsync(keys.ReclaimIndex);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Left behind only when Redis went away meanwhile; they hold no seat of any account.
            LogRemoveFailed(logger, ex);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Seat path warmed: {Calls} synthetic calls in {Milliseconds:F0} ms")]
    private static partial void LogWarmed(ILogger logger, int calls, double milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Warming the seat path stopped after {Calls} calls; the replica starts anyway")]
    private static partial void LogWarmFailed(ILogger logger, int calls, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The warm-up's keys could not be removed")]
    private static partial void LogRemoveFailed(ILogger logger, Exception exception);

    /// <summary>The warm-up pools' policy: two shared seats for three agents and one named seat, valid for a day.</summary>
    private sealed class WarmupCatalog(TimeProvider clock) : ILicenseCatalog
    {
        public ValueTask<PoolPolicy> GetPoolPolicyAsync(PoolId pool, CancellationToken cancellationToken)
        {
            var assignments = SharedAgents.ToDictionary(a => a, _ => SeatType.Concurrent);
            assignments[NamedAgent] = SeatType.Named;
            return ValueTask.FromResult(new PoolPolicy(
                pool,
                SeatModel.Seats,
                new SubscriptionTerms(Plan.Paid, clock.GetUtcNow().AddDays(1), NamedSeatLimit: 1, ConcurrentSeatLimit: 2, UnattendedDeviceLimit: 0),
                assignments,
                assignments.Keys.ToDictionary(a => a, a => new AgentContact(a, a + "@warmup.invalid"))));
        }

        public ValueTask<PoolPolicy> GetPoolPolicyAsync(PoolId pool, long atLeastVersion, CancellationToken cancellationToken) =>
            GetPoolPolicyAsync(pool, cancellationToken);
    }

    /// <summary>Reads the registry as a first use does (its query is warmed too) and writes nothing: no warm-up pool is registered.</summary>
    private sealed class ReadOnlyRegistry(IPoolRegistry inner) : IPoolRegistry
    {
        public Task<bool> BeginAsync(PoolId pool, CancellationToken cancellationToken) => inner.BeginAsync(pool, cancellationToken);

        public Task MarkActiveAsync(PoolId pool, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>The warm-up's seat events stay in its own journal, which is removed with its keys: no audit row, no webhook.</summary>
    private sealed class NoEvents : ISeatEventSink
    {
        public void Record(SeatEvent seatEvent)
        {
        }
    }
}
