using LicenseBroker.Domain.Administration;
using LicenseBroker.Domain.Catalog;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Server.Grpc;
using LicenseBroker.Server.Health;
using LicenseBroker.Server.Hosting;
using LicenseBroker.Server.Identity;
using LicenseBroker.Server.Observability;
using LicenseBroker.Storage.Catalog;
using LicenseBroker.Storage.Postgres;
using LicenseBroker.Storage.Redis;
using LicenseBroker.Storage.Resilience;
using Npgsql;
using StackExchange.Redis;

namespace LicenseBroker.Server.Extensions;

/// <summary>Registers everything the broker needs, grouped the way the folders are.</summary>
public static class BrokerServiceExtensions
{
    public static WebApplicationBuilder AddBrokerServices(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton(TimeProvider.System);

        // On SIGTERM: stop taking calls, let the ones in flight finish, then flush the audit buffer.
        builder.Services.Configure<HostOptions>(options =>
            options.ShutdownTimeout = builder.Configuration.GetValue("Shutdown:Timeout", TimeSpan.FromSeconds(20)));
        builder.AddSettings();
        builder.Services.AddBrokerStorage();
        builder.Services.AddBrokerIdentity(builder.Configuration);
        builder.AddBrokerTls();
        builder.AddBrokerObservability();
        builder.AddBrokerRest();
        builder.Services.AddBrokerGrpc();
        return builder;
    }

    private static void AddSettings(this WebApplicationBuilder builder)
    {
        // Options are bound once at start and validated, so a broken setting stops the start, not a call.
        var configuration = builder.Configuration;
        builder.Services.AddSingleton(_ =>
        {
            var redis = configuration.GetSection(RedisOptions.SectionName).Get<RedisOptions>() ?? new RedisOptions();
            redis.Validate();
            return redis;
        });
        builder.Services.AddSingleton(_ => configuration.GetSection(PostgresOptions.SectionName).Get<PostgresOptions>() ?? new PostgresOptions());
        builder.Services.AddSingleton(_ => configuration.GetSection(ResilienceOptions.SectionName).Get<ResilienceOptions>() ?? new ResilienceOptions());
        builder.Services.AddSingleton(_ =>
        {
            var cache = configuration.GetSection(CatalogCacheOptions.SectionName).Get<CatalogCacheOptions>() ?? new CatalogCacheOptions();
            cache.Validate();
            return cache;
        });
        builder.Services.AddSingleton(_ =>
        {
            var seats = configuration.GetSection(SeatOptions.SectionName).Get<SeatOptions>() ?? new SeatOptions();
            seats.Validate();
            return seats;
        });
        builder.Services.AddSingleton(_ =>
        {
            var webhooks = configuration.GetSection(Webhooks.WebhookOptions.SectionName).Get<Webhooks.WebhookOptions>() ?? new Webhooks.WebhookOptions();
            webhooks.Validate();
            return webhooks;
        });
        builder.Services.AddSingleton(_ =>
        {
            var warmup = configuration.GetSection(Hosting.WarmupOptions.SectionName).Get<Hosting.WarmupOptions>() ?? new Hosting.WarmupOptions();
            warmup.Validate();
            return warmup;
        });
        builder.Services.AddSingleton(_ =>
        {
            var eventLog = configuration.GetSection(Hosting.EventLogOptions.SectionName).Get<Hosting.EventLogOptions>() ?? new Hosting.EventLogOptions();
            eventLog.Validate();
            return eventLog;
        });
        builder.Services.AddSingleton(_ =>
        {
            var reports = configuration.GetSection(ReportOptions.SectionName).Get<ReportOptions>() ?? new ReportOptions();
            reports.Validate();
            return reports;
        });
        builder.Services.AddSingleton(_ =>
        {
            var entitlements = configuration.GetSection(Entitlements.EntitlementOptions.SectionName).Get<Entitlements.EntitlementOptions>() ?? new Entitlements.EntitlementOptions();
            entitlements.Validate();
            return entitlements;
        });
        builder.Services.AddSingleton<ReportAdmission>();
        builder.Services.AddSingleton(sp =>
        {
            var options = configuration.GetSection(LeaseProofOptions.SectionName).Get<LeaseProofOptions>() ?? new LeaseProofOptions();
            var keys = options.DecodeKeys();
            if (keys.Count > 0)
            {
                return new LeaseProofs(keys, options.CurrentKey);
            }

            // No proof keys configured: derive them from the token signing keys (HKDF, so a proof key
            // reveals nothing of a token key), which every replica of a deployment already shares.
            var auth = configuration.GetSection(Identity.AuthOptions.SectionName).Get<Identity.AuthOptions>() ?? new Identity.AuthOptions();
            if (auth.SigningKeys.Count == 0)
            {
                throw new InvalidOperationException(
                    $"No lease proof key is configured. Set {LeaseProofOptions.SectionName}__Keys__<id> to a base64 key of at least 32 bytes " +
                    $"and {LeaseProofOptions.SectionName}__CurrentKey to its id (the same on every replica).");
            }

            var derived = auth.SigningKeys.Select((key, index) => (Id: "auth" + index, Key: System.Security.Cryptography.HKDF.DeriveKey(
                System.Security.Cryptography.HashAlgorithmName.SHA256, Convert.FromBase64String(key), 32, info: System.Text.Encoding.UTF8.GetBytes("licensebroker lease proofs v1"))));
            return new LeaseProofs(derived.ToDictionary(d => d.Id, d => d.Key), "auth0");
        });
    }

    private static IServiceCollection AddBrokerStorage(this IServiceCollection services)
    {
        services.AddSingleton<IConnectionMultiplexer>(sp =>
        {
            var options = ConfigurationOptions.Parse(sp.GetRequiredService<RedisOptions>().Configuration);

            // Keep starting and reconnecting while Redis is away: calls fail fast (UNAVAILABLE)
            // and the broker recovers by itself when Redis returns.
            options.AbortOnConnectFail = false;

            // While disconnected, fail calls at once instead of queueing them: an agent gets
            // UNAVAILABLE and retries, rather than waiting on a backlog that may never drain.
            options.BacklogPolicy = BacklogPolicy.FailFast;

            // Try to reconnect every half second: after a Redis restart the broker serves again quickly.
            options.ReconnectRetryPolicy = new LinearRetry(500);
            return ConnectionMultiplexer.Connect(options);
        });
        services.AddSingleton(sp => new RedisKeys(sp.GetRequiredService<RedisOptions>().KeyPrefix));
        services.AddSingleton(sp => NpgsqlDataSource.Create(sp.GetRequiredService<PostgresOptions>().ConnectionString));
        services.AddSingleton<BackendPipelines>();
        services.AddSingleton<MigrationRunner>();
        services.AddSingleton<PostgresCatalogReader>();
        services.AddSingleton<CachedLicenseCatalog>();
        services.AddSingleton<ILicenseCatalog>(sp => sp.GetRequiredService<CachedLicenseCatalog>());
        // A committed change drops every replica's copy, then takes effect in the live pools it touches.
        services.AddSingleton<IPoolPolicySource>(sp => sp.GetRequiredService<PostgresCatalogReader>());
        services.AddSingleton<ICatalogInvalidator>(sp => new LivePoolRules(
            sp.GetRequiredService<CachedLicenseCatalog>(),
            sp.GetRequiredService<IPoolPolicySource>(),
            sp.GetRequiredService<IOccupancyStore>(),
            sp.GetRequiredService<SeatOptions>(),
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<ExpiryBacklog>();
        services.AddSingleton<ReclaimIndex>();
        services.AddSingleton<LeaseLayoutGate>();
        services.AddSingleton<OutageWatch>();
        services.AddSingleton<RedisOccupancyStore>();
        services.AddSingleton<IOccupancyStore>(sp => sp.GetRequiredService<RedisOccupancyStore>());
        services.AddSingleton<IQueueStore>(sp => sp.GetRequiredService<RedisOccupancyStore>());
        services.AddSingleton<IPoolEvents, PoolEventHub>();
        services.AddSingleton<SeatWaiter>();
        services.AddSingleton<IPoolRegistry, PostgresPoolRegistry>();
        services.AddSingleton<SeatBroker>();
        services.AddSingleton<EntitlementChecker>();
        services.AddSingleton<ICatalogStore, PostgresCatalogStore>();
        services.AddSingleton<SeatAdministration>();
        services.AddSingleton<IGroupStore, PostgresGroupStore>();
        services.AddSingleton<AgentGroups>();
        services.AddSingleton<Domain.Webhooks.IWebhookStore, PostgresWebhookStore>();
        services.AddSingleton<Webhooks.WebhookTargets>();
        services.AddSingleton<OutboxSignal>();
        services.AddSingleton<Domain.Provisioning.IProvisioningStore, PostgresProvisioningStore>();
        // Signed entitlement snapshots and their change stream (docs/entitlements.md).
        services.AddSingleton<PostgresEntitlementStore>();
        services.AddSingleton<Domain.Entitlements.IEntitlementSource>(sp => sp.GetRequiredService<PostgresEntitlementStore>());
        services.AddSingleton<Domain.Entitlements.ISigningKeyStore>(sp => sp.GetRequiredService<PostgresEntitlementStore>());
        services.AddSingleton<Entitlements.EntitlementKeyRing>();
        services.AddSingleton<Entitlements.EntitlementDocuments>();
        services.AddSingleton<Entitlements.EntitlementSnapshots>();
        services.AddSingleton<Entitlements.EntitlementFeed>();
        services.AddHostedService(sp => sp.GetRequiredService<Entitlements.EntitlementFeed>());
        services.AddSingleton<Domain.Provisioning.ProvisioningService>();
        // Seat events are journaled by the pool scripts themselves (Redis); the sink counts them and marks their pools for the drain.
        services.AddSingleton<JournalBacklog>();
        services.AddSingleton<SeatEventJournal>();
        services.AddSingleton<BrokerMetrics>(sp => new BrokerMetrics(
            sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), sp.GetRequiredService<JournalBacklog>()));
        services.AddSingleton<ISeatEventSink>(sp => sp.GetRequiredService<BrokerMetrics>());
        services.AddSingleton<PostgresSeatEventWriter>();
        services.AddSingleton<IUsageReader, PostgresUsageReader>();
        services.AddSingleton<UsageReports>();
        // The seat planner: the audit log's seat events replayed against candidate seat counts (docs/seat-planner.md).
        services.AddSingleton<Domain.Planning.ISeatEventHistory, PostgresSeatEventHistory>();
        services.AddSingleton<Domain.Planning.SeatPlanning>();
        services.AddSingleton<SeatEventDrainService>();
        services.AddHostedService(sp => sp.GetRequiredService<SeatEventDrainService>());
        services.AddSingleton<RequestPathWarmup>();
        services.AddHostedService<BrokerStartup>();
        services.AddHostedService<PoolJanitor>();
        services.AddHostedService<LeaseLayoutRefresh>();
        services.AddHostedService<PresenceBeacon>();
        services.AddSingleton<EventLogPartitions>();
        services.AddHostedService<EventLogMaintenance>();
        services.AddHostedService<Webhooks.WebhookDispatcher>();
        return services;
    }

    private static IServiceCollection AddBrokerGrpc(this IServiceCollection services)
    {
        services.AddGrpc(options =>
        {
            options.Interceptors.Add<BackendFaultInterceptor>();

            // The largest legitimate request is a batch of 1,000 entitlement checks, about 330 KB at
            // the longest ids; anything larger is refused before it is parsed.
            options.MaxReceiveMessageSize = 512 * 1024;
        }).AddJsonTranscoding(options =>
            // The error details the broker sends, so JSON clients get them too.
            options.TypeRegistry = Google.Protobuf.Reflection.TypeRegistry.FromMessages(
                Google.Rpc.ErrorInfo.Descriptor, Google.Rpc.BadRequest.Descriptor, Google.Rpc.RetryInfo.Descriptor, Google.Rpc.LocalizedMessage.Descriptor));
        services.AddGrpcReflection();
        services.AddGrpcHealthChecks(options =>
            {
                // "" is the whole server; each service answers for the backends it cannot work without:
                // agents' seats need Redis (policies are cached), reports and changes both, billing and
                // entitlement checks PostgreSQL. Any other name is NOT_FOUND.
                options.Services.Map(string.Empty, _ => true);
                options.Services.Map(Contracts.V1.SeatService.Descriptor.FullName, check => check.Name == "redis");
                options.Services.Map(Contracts.V1.SeatAdminService.Descriptor.FullName, _ => true);
                options.Services.Map(Contracts.V1.SubscriptionService.Descriptor.FullName, check => check.Name == "postgres");
                options.Services.Map(Contracts.V1.EntitlementService.Descriptor.FullName, check => check.Name == "postgres");
            })
            .AddCheck<RedisHealthCheck>("redis")
            .AddCheck<PostgresHealthCheck>("postgres");
        return services;
    }
}
