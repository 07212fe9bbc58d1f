using LicenseBroker.Contracts.V1;
using PoolId = LicenseBroker.Domain.Seats.PoolId;
using LicenseBroker.IntegrationTests.Infrastructure;
using LicenseBroker.Storage.Redis;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// The lease record in Redis is short (fields joined by '|') and, for a compact lease, in its bucket under its fence
/// (records of earlier brokers: <see cref="LeaseLayoutMigrationTests"/>).
/// </summary>
public sealed class LeaseRecordTests : IClassFixture<BrokerFixture>
{
    private const string Product = "remote-support";
    private readonly BrokerFixture _fixture;

    public LeaseRecordTests(BrokerFixture fixture)
    {
        _fixture = fixture;
    }

    private BrokerTestHost Host => _fixture.Host;

    [Fact]
    public async Task A_new_lease_is_stored_as_a_short_compact_record()
    {
        var seeder = new CatalogSeeder(Host.Database);
        var account = await seeder.AccountAsync(concurrentSeats: 2);
        var agentId = (await seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];
        var before = DateTimeOffset.UtcNow.AddSeconds(-5).ToUnixTimeMilliseconds();
        var lease = (await Host.Agent(account, agentId).AcquireAsync(Product, sessionId: "s-compact", deviceId: "desk-9", platform: Platform.Mac)).Lease;

        var record = await LeaseRecords.ReadAsync(Host.Services, new PoolId(account, Product), lease.LeaseId);

        // "~", the lease id's 22 random characters (checked on every read: a fence alone names no lease), then
        // agent|session|seat, kind and platform letters|device|started (base 36); since, reclaim and group empty, left
        // out; no fence (the bucket's field is the fence) and no beat (a listing derives it from the expiry).
        Assert.NotNull(record);
        Assert.StartsWith("~" + lease.LeaseId[^22..] + agentId + "|", record, StringComparison.Ordinal);
        var fields = record[(23 + agentId.Length + 1)..].Split('|');
        Assert.Equal(["s-compact", "CPM", "desk-9"], fields[..3]);
        Assert.Equal(4, fields.Length);
        var started = Convert.ToInt64(Base36(fields[3]));
        Assert.InRange(started, before, DateTimeOffset.UtcNow.AddSeconds(5).ToUnixTimeMilliseconds());
        Assert.DoesNotContain(lease.FencingToken.ToString(System.Globalization.CultureInfo.InvariantCulture), fields);
        Assert.False(await Redis.KeyExistsAsync(Host.Services.GetRequiredService<RedisKeys>().Pool(new PoolId(account, Product))[1]));
    }

    private static long Base36(string digits) =>
        digits.Aggregate(0L, (value, digit) => (value * 36) + "0123456789abcdefghijklmnopqrstuvwxyz".IndexOf(digit, StringComparison.Ordinal));

    [Fact]
    public async Task A_heartbeat_that_changes_nothing_but_the_expiry_leaves_the_record_and_the_listing_shows_its_time()
    {
        var seeder = new CatalogSeeder(Host.Database);
        var account = await seeder.AccountAsync(concurrentSeats: 2);
        var agentId = (await seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];
        var agent = Host.Agent(account, agentId);
        var lease = (await agent.AcquireAsync(Product, sessionId: "s-beat")).Lease;
        var written = await LeaseRecords.ReadAsync(Host.Services, new PoolId(account, Product), lease.LeaseId);

        // Redis's clock moves on between the two calls: the renewal's expiry is later than the grant's.
        await Eventually.Until(
            async () => (long)(await Redis.ExecuteAsync("TIME"))[0] * 1000 > lease.ExpiresAt.ToDateTimeOffset().ToUnixTimeMilliseconds() - (long)Ttl.TotalMilliseconds + 5 ? "later" : null,
            TimeSpan.FromSeconds(5),
            "Redis's clock to pass the grant");
        var renewed = await agent.HeartbeatAsync(lease, SessionKind.Pending);
        var unchanged = await LeaseRecords.ReadAsync(Host.Services, new PoolId(account, Product), lease.LeaseId);
        var listed = Assert.Single((await Host.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, Host.AdminHeaders(account))).Sessions);

        Assert.Equal(written, unchanged);
        Assert.True(renewed.ExpiresAt.ToDateTimeOffset() > lease.ExpiresAt.ToDateTimeOffset());
        Assert.Equal(renewed.ExpiresAt.ToDateTimeOffset() - Ttl, listed.LastHeartbeatAt.ToDateTimeOffset());

        // A change of kind is written.
        await agent.HeartbeatAsync(renewed, SessionKind.Attended);
        Assert.Equal("CAW", (await LeaseRecords.ReadAsync(Host.Services, new PoolId(account, Product), lease.LeaseId))!.Split('|')[2]);
    }

    /// <summary>A compact id's fence is no secret: with other random characters (or its fence written otherwise) it names nothing.</summary>
    [Fact]
    public async Task A_compact_lease_id_with_its_fence_and_other_random_characters_names_no_lease()
    {
        var seeder = new CatalogSeeder(Host.Database);
        var account = await seeder.AccountAsync(concurrentSeats: 2);
        var agentId = (await seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];
        var agent = Host.Agent(account, agentId);
        var lease = (await agent.AcquireAsync(Product, sessionId: "s-forged")).Lease;
        var pool = new PoolId(account, Product);
        var record = await LeaseRecords.ReadAsync(Host.Services, pool, lease.LeaseId);
        var random = lease.LeaseId[^22..];
        var forged = lease.LeaseId[..^22] + (random[0] == 'A' ? 'B' : 'A') + random[1..];

        var forgedBeat = new Lease { Product = Product, LeaseId = forged, SessionId = lease.SessionId, FencingToken = lease.FencingToken };
        var heartbeat = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => agent.HeartbeatAsync(forgedBeat));
        Assert.Equal(Grpc.Core.StatusCode.NotFound, heartbeat.StatusCode);
        Assert.Equal(Grpc.Core.StatusCode.NotFound, (await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => agent.ReleaseAsync(forgedBeat))).StatusCode);
        var padded = new Lease { Product = Product, LeaseId = "lc_0" + lease.LeaseId[3..], SessionId = lease.SessionId };
        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, (await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => agent.HeartbeatAsync(padded))).StatusCode);

        // The lease itself is untouched, and still the agent's.
        Assert.Equal(record, await LeaseRecords.ReadAsync(Host.Services, pool, lease.LeaseId));
        Assert.Equal(lease.FencingToken, (await agent.HeartbeatAsync(lease)).FencingToken);
    }

    /// <summary>A page token is the broker's, but a client can change it: a compact cursor that names no fence lists nothing, never an error.</summary>
    [Fact]
    public async Task A_forged_compact_page_cursor_lists_nothing_and_changes_nothing()
    {
        var seeder = new CatalogSeeder(Host.Database);
        var account = await seeder.AccountAsync(concurrentSeats: 3);
        var ids = await seeder.AgentsAsync(account, 2, "CONCURRENT");
        foreach (var id in ids)
        {
            await Host.Agent(account, id).AcquireAsync(Product);
        }

        foreach (var cursor in new[] { "#", "#x", "#-1", "#1e9", "#99999999999999999999", "# 1" })
        {
            var page = await Host.AdminClient.ListSharedSessionsAsync(
                new ListSharedSessionsRequest { Product = Product, Page = new PageRequest { PageToken = LicenseBroker.Server.Grpc.AdminMapping.EncodePageToken(cursor) } },
                Host.AdminHeaders(account));
            Assert.Empty(page.Sessions);
            Assert.Equal(2, page.TotalSessions);
        }

        // A cursor that does name a fence goes on from it.
        var first = await Host.AdminClient.ListSharedSessionsAsync(
            new ListSharedSessionsRequest { Product = Product, Page = new PageRequest { PageSize = 1 } }, Host.AdminHeaders(account));
        var rest = await Host.AdminClient.ListSharedSessionsAsync(
            new ListSharedSessionsRequest { Product = Product, Page = new PageRequest { PageSize = 1, PageToken = first.NextPageToken } }, Host.AdminHeaders(account));
        Assert.Single(rest.Sessions);
        Assert.NotEqual(first.Sessions[0].LeaseId, rest.Sessions[0].LeaseId);
    }

    private TimeSpan Ttl => Host.Services.GetRequiredService<LicenseBroker.Domain.Seats.SeatOptions>().LeaseTtl;

    private IDatabase Redis => Host.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
}
