using Npgsql;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;
using StackExchange.Redis;

namespace LicenseBroker.Storage.Resilience;

/// <summary>Section "Resilience" of the settings: one block per backend.</summary>
public sealed class ResilienceOptions
{
    public const string SectionName = "Resilience";

    public BackendResilienceOptions Redis { get; set; } = new() { AttemptTimeout = TimeSpan.FromSeconds(1) };

    public BackendResilienceOptions Postgres { get; set; } = new() { AttemptTimeout = TimeSpan.FromSeconds(3) };

    /// <summary>
    /// Catalog writes (seats given, groups changed, SCIM): never retried (<see cref="BackendResilienceOptions.MaxRetries"/>
    /// is ignored). Their timeout is longer than the reads' because a write may queue on its pool's row
    /// behind the other writers of that pool (fifty admins or an identity provider's burst at once): that
    /// queue is load, not an outage, and must not be answered UNAVAILABLE after three seconds.
    /// </summary>
    public BackendResilienceOptions PostgresWrites { get; set; } = new() { AttemptTimeout = TimeSpan.FromSeconds(10), MaxRetries = 0 };

    /// <summary>
    /// Report queries (usage history): a pipeline and breaker of their own, so that a burst of expensive
    /// reports can open only this breaker, never the one of the catalog loads AcquireSeat depends on.
    /// </summary>
    public BackendResilienceOptions PostgresReports { get; set; } = new() { AttemptTimeout = TimeSpan.FromSeconds(5), MaxRetries = 0 };
}

/// <summary>Timeout, retry and circuit breaker of one backend.</summary>
public sealed class BackendResilienceOptions
{
    /// <summary>Longest wait for one attempt; below the apps' deadlines so an outage answers UNAVAILABLE, not a hang.</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Retries after a transient failure (only idempotent operations go through these pipelines).</summary>
    public int MaxRetries { get; set; } = 1;

    /// <summary>Base delay between retries; jittered.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Share of failed calls within the sampling window that opens the breaker.</summary>
    public double BreakerFailureRatio { get; set; } = 0.5;

    /// <summary>Calls needed in the window before the breaker may open.</summary>
    public int BreakerMinimumThroughput { get; set; } = 20;

    /// <summary>Window over which failures are counted.</summary>
    public TimeSpan BreakerSamplingDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long an open breaker fails calls at once before it tries the backend again.</summary>
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(2);
}

/// <summary>
/// The Polly pipelines every Redis and PostgreSQL call goes through. Only idempotent operations
/// use them (each call site says why it is idempotent), so a retry never applies a change twice.
/// </summary>
public sealed class BackendPipelines
{
    public BackendPipelines(ResilienceOptions options, TimeProvider time)
    {
        // TRYAGAIN: Redis Cluster is moving the pool's slot right now; the same script succeeds a moment later.
        Redis = Build("redis", options.Redis, time, static ex => ex is RedisConnectionException or RedisTimeoutException
            || (ex is RedisServerException server && server.Message.StartsWith("TRYAGAIN", StringComparison.Ordinal)));
        Postgres = Build("postgres", options.Postgres, time, static ex => ex is NpgsqlException { IsTransient: true });

        // Writes get a timeout and a breaker but never a retry: a retried write could apply twice.
        var writes = new BackendResilienceOptions
        {
            AttemptTimeout = options.PostgresWrites.AttemptTimeout,
            MaxRetries = 0,
            BreakerFailureRatio = options.PostgresWrites.BreakerFailureRatio,
            BreakerMinimumThroughput = options.PostgresWrites.BreakerMinimumThroughput,
            BreakerSamplingDuration = options.PostgresWrites.BreakerSamplingDuration,
            BreakDuration = options.PostgresWrites.BreakDuration,
        };
        PostgresWrites = Build("postgres", writes, time, static ex => ex is NpgsqlException { IsTransient: true });
        PostgresReports = Build("postgres-reports", options.PostgresReports, time, static ex => ex is NpgsqlException { IsTransient: true });
    }

    /// <summary>Report reads: their own timeout and breaker, apart from the hot path's.</summary>
    public ResiliencePipeline PostgresReports { get; }

    public ResiliencePipeline Redis { get; }

    /// <summary>Reads: timeout, jittered retries, circuit breaker.</summary>
    public ResiliencePipeline Postgres { get; }

    /// <summary>Writes: timeout and circuit breaker, no retry.</summary>
    public ResiliencePipeline PostgresWrites { get; }

    private static ResiliencePipeline Build(string backend, BackendResilienceOptions options, TimeProvider time, Func<Exception, bool> isTransient)
    {
        var transient = new PredicateBuilder().Handle<Exception>(isTransient).Handle<TimeoutRejectedException>();
        var builder = new ResiliencePipelineBuilder { TimeProvider = time };
        if (options.MaxRetries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = transient,
                MaxRetryAttempts = options.MaxRetries,
                Delay = options.RetryDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
            });
        }

        return builder
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                ShouldHandle = transient,
                FailureRatio = options.BreakerFailureRatio,
                MinimumThroughput = options.BreakerMinimumThroughput,
                SamplingDuration = options.BreakerSamplingDuration,
                BreakDuration = options.BreakDuration,
                OnOpened = _ =>
                {
                    StorageTelemetry.BreakerChanged(backend, open: true);
                    return ValueTask.CompletedTask;
                },
                OnClosed = _ =>
                {
                    StorageTelemetry.BreakerChanged(backend, open: false);
                    return ValueTask.CompletedTask;
                },
            })
            .AddTimeout(options.AttemptTimeout)
            .Build();
    }
}
