using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Text;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.Domain.Administration;
using LicenseBroker.IntegrationTests.Infrastructure;
using LicenseBroker.Server.Grpc;
using LicenseBroker.Storage.Postgres;
using LicenseBroker.Storage.Redis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using DomainSeats = LicenseBroker.Domain.Seats;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Inputs at the edge of what the types hold (calendar extremes, nanos out of range, NUL in page
/// tokens) are INVALID_ARGUMENT naming the field and change nothing; a bug is INTERNAL with a
/// correlation id that finds its stack in the log; never UNAVAILABLE while the backends are up.
/// </summary>
public sealed class EdgeInputTests : IAsyncLifetime
{
    private readonly ConcurrentQueue<string> _logs = new();
    private string _buggyAccount = "none";
    private TestDatabase? _database;
    private BrokerTestHost? _host;

    private BrokerTestHost Host => _host!;

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync();
        _host = await BrokerTestHost.StartAsync(_database, configure: builder =>
        {
            builder.Services.AddSingleton<ILoggerProvider>(new CapturingLoggerProvider(_logs));

            // A bug on one path: the history of the account "buggy" fails with an exception no backend raises.
            builder.Services.AddSingleton<IUsageReader>(sp => new BugOnAccount(ActivatorUtilities.CreateInstance<PostgresUsageReader>(sp), () => _buggyAccount));
        });
    }

    public async Task DisposeAsync()
    {
        await _host!.DisposeAsync();
        await _database!.DisposeAsync();
    }

    /// <summary>Finding 4: these dates reached PostgreSQL as ±infinity and ran an endless generate_series.</summary>
    [Theory]
    [InlineData("0001-01-01", "0001-01-02", "from")]
    [InlineData("9999-12-30", "9999-12-31", "to")]
    [InlineData("1999-12-31", "2000-01-01", "from")]
    [InlineData("2199-12-31", "2200-01-01", "to")]
    public async Task History_dates_beyond_the_calendar_are_invalid_arguments(string from, string to, string field)
    {
        var account = await Host.Seeder().AccountAsync();
        var error = await Assert.ThrowsAsync<RpcException>(async () => await Host.AdminClient.GetUsageHistoryAsync(
            new GetUsageHistoryRequest { Product = "remote-support", From = from, To = to }, Host.AdminHeaders(account)));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains(Errors.BadRequest(error).FieldViolations, v => v.Field == field);
    }

    /// <summary>Finding 5: valid_until out of range threw inside the conversion and was answered UNAVAILABLE.</summary>
    [Fact]
    public async Task Subscription_times_out_of_range_or_past_are_invalid_arguments_and_change_nothing()
    {
        var account = await Host.Seeder().AccountAsync();
        var before = await StateSnapshot.TakeAsync(Host, account);
        var cases = new[]
        {
            new Timestamp { Seconds = 1_900_000_000, Nanos = -1 },
            new Timestamp { Seconds = 1_900_000_000, Nanos = 2_000_000_000 },
            new Timestamp { Seconds = long.MaxValue },
            new Timestamp { Seconds = long.MinValue },
            Timestamp.FromDateTimeOffset(new DateTimeOffset(1, 1, 1, 0, 0, 0, TimeSpan.Zero)),
            Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(-1)),
        };
        foreach (var validUntil in cases)
        {
            var error = await Assert.ThrowsAsync<RpcException>(async () => await Host.SubscriptionClient.UpsertSubscriptionAsync(
                new UpsertSubscriptionRequest
                {
                    Subscription = new Subscription { AccountId = account, Product = "remote-support", Plan = Plan.Paid, ValidUntil = validUntil, NamedSeatLimit = 1, ConcurrentSeatLimit = 1 },
                },
                Host.ServiceHeaders()));
            Assert.True(error.StatusCode == StatusCode.InvalidArgument, $"{validUntil}: {error.Status}");
            Assert.Contains(Errors.BadRequest(error).FieldViolations, v => v.Field == "subscription.valid_until");
        }

        Assert.Equal(before, await StateSnapshot.TakeAsync(Host, account));
    }

    /// <summary>Finding 5: a page token decoding to "\0" reached SQL (22021) and was answered UNAVAILABLE.</summary>
    [Fact]
    public async Task Page_tokens_with_control_characters_or_invalid_utf8_are_invalid_arguments()
    {
        var account = await Host.Seeder().AccountAsync();
        foreach (var bytes in new[] { "\0"u8.ToArray(), "agent-1\0"u8.ToArray(), "\n"u8.ToArray(), new byte[] { 0xC3, 0x28 }, new byte[] { 0xFF } })
        {
            var token = Base64Url.EncodeToString(bytes);
            var agents = await Assert.ThrowsAsync<RpcException>(async () => await Host.AdminClient.ListAgentsAsync(
                new ListAgentsRequest { Page = new PageRequest { PageToken = token } }, Host.AdminHeaders(account)));
            var sessions = await Assert.ThrowsAsync<RpcException>(async () => await Host.AdminClient.ListSharedSessionsAsync(
                new ListSharedSessionsRequest { Product = "remote-support", Page = new PageRequest { PageToken = token } }, Host.AdminHeaders(account)));
            foreach (var error in new[] { agents, sessions })
            {
                Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
                Assert.Contains(Errors.BadRequest(error).FieldViolations, v => v.Field == "page.page_token");
            }
        }
    }

    /// <summary>Finding 5: a bug was answered UNAVAILABLE, so clients retried it forever.</summary>
    [Fact]
    public async Task A_bug_is_internal_with_a_correlation_id_that_finds_the_stack_in_the_log()
    {
        var account = await Host.Seeder().AccountAsync();
        _buggyAccount = account;
        var error = await Assert.ThrowsAsync<RpcException>(async () => await Host.AdminClient.GetUsageHistoryAsync(
            new GetUsageHistoryRequest { Product = "remote-support", From = "2026-01-01", To = "2026-01-31" }, Host.AdminHeaders(account)));
        Assert.Equal(StatusCode.Internal, error.StatusCode);
        var id = error.Status.Detail[(error.Status.Detail.IndexOf("Correlation id: ", StringComparison.Ordinal) + 16)..].TrimEnd('.');
        Assert.Matches("^[0-9a-f]{32}$", id);
        Assert.DoesNotContain("   at ", error.Status.Detail, StringComparison.Ordinal);
        Assert.Contains(_logs, line => line.Contains(id, StringComparison.Ordinal) && line.Contains("   at ", StringComparison.Ordinal) && line.Contains("injected bug", StringComparison.Ordinal));
    }

    /// <summary>The scripts check their numbers again, before any write; such a refusal is a bug (INTERNAL), not an outage.</summary>
    [Fact]
    public async Task Scripts_refuse_numbers_out_of_range_before_writing_and_the_refusal_maps_to_internal()
    {
        var account = await Host.Seeder().AccountAsync();
        var agent = (await Host.Seeder().AgentsAsync(account, 1, "CONCURRENT"))[0];
        var lease = (await Host.Agent(account, agent).AcquireAsync("remote-support")).Lease;
        await Host.AuditWrittenAsync();
        var before = await StateSnapshot.TakeAsync(Host, account);

        var store = Host.Services.GetRequiredService<RedisOccupancyStore>();
        var pool = new DomainSeats.PoolId(account, "remote-support");
        foreach (var token in new[] { -1L, DomainSeats.FencingTokens.MaxValue + 1, long.MaxValue })
        {
            var error = await Assert.ThrowsAsync<RedisServerException>(() => store.HeartbeatAsync(
                new DomainSeats.HeartbeatCommand(pool, agent, lease.LeaseId, TimeSpan.FromSeconds(90), lease.SessionId, token, DomainSeats.SeatType.Concurrent, 5), CancellationToken.None));
            Assert.StartsWith("LB_BAD_ARGUMENT proven_token", error.Message, StringComparison.Ordinal);
            Assert.Null(BackendFaultInterceptor.BackendOf(error));
        }

        var ttl = await Assert.ThrowsAsync<RedisServerException>(() => store.HeartbeatAsync(
            new DomainSeats.HeartbeatCommand(pool, agent, lease.LeaseId, TimeSpan.FromDays(400), lease.SessionId), CancellationToken.None));
        Assert.StartsWith("LB_BAD_ARGUMENT ttl", ttl.Message, StringComparison.Ordinal);

        // The idle rules and the idle time an app reports: checked at the edge, and again here.
        foreach (var idleFor in new[] { TimeSpan.FromMilliseconds(-1), TimeSpan.FromDays(31) })
        {
            var idle = await Assert.ThrowsAsync<RedisServerException>(() => store.HeartbeatAsync(
                new DomainSeats.HeartbeatCommand(pool, agent, lease.LeaseId, TimeSpan.FromSeconds(90), lease.SessionId, IdleFor: idleFor), CancellationToken.None));
            Assert.StartsWith("LB_BAD_ARGUMENT idle_for_ms", idle.Message, StringComparison.Ordinal);
        }

        var rules = await Assert.ThrowsAsync<RedisServerException>(() => store.HeartbeatAsync(
            new DomainSeats.HeartbeatCommand(pool, agent, lease.LeaseId, TimeSpan.FromSeconds(90), lease.SessionId,
                IdleRules: new DomainSeats.IdleRules(TimeSpan.FromDays(2), TimeSpan.Zero)), CancellationToken.None));
        Assert.StartsWith("LB_BAD_ARGUMENT pending_ms", rules.Message, StringComparison.Ordinal);
        Assert.Equal(before, await StateSnapshot.TakeAsync(Host, account));
    }

    private sealed class BugOnAccount(IUsageReader inner, Func<string> buggyAccount) : IUsageReader
    {
        public Task<IReadOnlyList<DurableUsage>> GetUsageAsync(string accountId, string? product, DateOnly today, CancellationToken cancellationToken) =>
            inner.GetUsageAsync(accountId, product, today, cancellationToken);

        public Task<IReadOnlyList<LicenseBroker.Domain.Administration.UsageDay>> GetHistoryAsync(string accountId, string product, DateOnly from, DateOnly to, CancellationToken cancellationToken) =>
            accountId == buggyAccount() ? throw new InvalidOperationException("injected bug") : inner.GetHistoryAsync(accountId, product, from, to, cancellationToken);

        public Task<(int InitialSeats, IReadOnlyList<LicenseBroker.Domain.Administration.OverageChange> Changes)> GetOverageChangesAsync(
            string accountId, string product, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken) =>
            inner.GetOverageChangesAsync(accountId, product, from, to, cancellationToken);
    }
}
