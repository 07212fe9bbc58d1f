using LicenseBroker.Contracts.V1;
using PoolId = LicenseBroker.Domain.Seats.PoolId;
using LicenseBroker.IntegrationTests.Infrastructure;
using LicenseBroker.Storage.Redis;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// The lease record in Redis is compact (fields joined by '|'), and records in the JSON form that
/// earlier brokers wrote keep working through a rolling upgrade.
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
    public async Task A_new_lease_is_stored_as_a_compact_record()
    {
        var seeder = new CatalogSeeder(Host.Database);
        var account = await seeder.AccountAsync(concurrentSeats: 2);
        var agentId = (await seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];
        var lease = (await Host.Agent(account, agentId).AcquireAsync(Product, sessionId: "s-compact", deviceId: "desk-9", platform: Platform.Mac)).Lease;

        var record = (string?)await Redis.HashGetAsync(DataKey(account), lease.LeaseId);

        Assert.NotNull(record);
        var fields = record.Split('|');
        Assert.Equal(9, fields.Length);
        Assert.Equal([agentId, "s-compact", "C", "desk-9", "Mac"], fields[..5]);
        Assert.Equal(lease.FencingToken.ToString(System.Globalization.CultureInfo.InvariantCulture), fields[8]);
    }

    [Fact]
    public async Task A_heartbeat_that_changes_nothing_but_the_expiry_leaves_the_record_and_the_listing_shows_its_time()
    {
        var seeder = new CatalogSeeder(Host.Database);
        var account = await seeder.AccountAsync(concurrentSeats: 2);
        var agentId = (await seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];
        var agent = Host.Agent(account, agentId);
        var lease = (await agent.AcquireAsync(Product, sessionId: "s-beat")).Lease;
        var written = (string?)await Redis.HashGetAsync(DataKey(account), lease.LeaseId);

        // Redis's clock moves on between the two calls: the renewal's expiry is later than the grant's.
        await Eventually.Until(
            async () => (long)(await Redis.ExecuteAsync("TIME"))[0] * 1000 > lease.ExpiresAt.ToDateTimeOffset().ToUnixTimeMilliseconds() - (long)Ttl.TotalMilliseconds + 5 ? "later" : null,
            TimeSpan.FromSeconds(5),
            "Redis's clock to pass the grant");
        var renewed = await agent.HeartbeatAsync(lease, SessionKind.Pending);
        var unchanged = (string?)await Redis.HashGetAsync(DataKey(account), lease.LeaseId);
        var listed = Assert.Single((await Host.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, Host.AdminHeaders(account))).Sessions);

        Assert.Equal(written, unchanged);
        Assert.True(renewed.ExpiresAt.ToDateTimeOffset() > lease.ExpiresAt.ToDateTimeOffset());
        Assert.Equal(renewed.ExpiresAt.ToDateTimeOffset() - Ttl, listed.LastHeartbeatAt.ToDateTimeOffset());

        // A change of kind is written.
        await agent.HeartbeatAsync(renewed, SessionKind.Attended);
        Assert.Equal("Attended", ((string?)await Redis.HashGetAsync(DataKey(account), lease.LeaseId))!.Split('|')[5]);
    }

    [Fact]
    public async Task A_lease_written_as_json_by_an_earlier_broker_still_renews_lists_and_releases()
    {
        var seeder = new CatalogSeeder(Host.Database);
        var account = await seeder.AccountAsync(concurrentSeats: 2);
        var agentId = (await seeder.AgentsAsync(account, 1, "CONCURRENT"))[0];
        var agent = Host.Agent(account, agentId);
        var lease = (await agent.AcquireAsync(Product, sessionId: "s-json", deviceId: "desk-1")).Lease;
        var fields = ((string?)await Redis.HashGetAsync(DataKey(account), lease.LeaseId))!.Split('|');
        var json = $$"""{"agent":"{{fields[0]}}","session":"{{fields[1]}}","seat":"CONCURRENT","device":"{{fields[3]}}","platform":"{{fields[4]}}","kind":"{{fields[5]}}","started":{{fields[6]}},"beat":{{fields[7]}},"fence":{{fields[8]}}}""";
        await Redis.HashSetAsync(DataKey(account), lease.LeaseId, json);

        var renewed = await agent.HeartbeatAsync(lease);
        var sessions = await Host.AdminClient.ListSharedSessionsAsync(new ListSharedSessionsRequest { Product = Product }, Host.AdminHeaders(account));
        var again = await agent.AcquireAsync(Product, sessionId: "s-json", deviceId: "desk-1");

        Assert.Equal(lease.FencingToken, renewed.FencingToken);
        var listed = Assert.Single(sessions.Sessions);
        Assert.Equal((lease.LeaseId, agentId, "desk-1"), (listed.LeaseId, listed.AgentId, listed.Device.Id));
        Assert.True(again.Resumed);
        Assert.Equal(lease.LeaseId, again.Lease.LeaseId);
        Assert.True(await agent.ReleaseAsync(lease));
        Assert.False(await Redis.HashExistsAsync(DataKey(account), lease.LeaseId));
        Assert.Equal(0, await Redis.HashLengthAsync(HoldersKey(account)));
    }

    private TimeSpan Ttl => Host.Services.GetRequiredService<LicenseBroker.Domain.Seats.SeatOptions>().LeaseTtl;

    private IDatabase Redis => Host.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();

    private RedisKey DataKey(string account) => Host.Services.GetRequiredService<RedisKeys>().Pool(new PoolId(account, Product))[1];

    private RedisKey HoldersKey(string account) => Host.Services.GetRequiredService<RedisKeys>().Pool(new PoolId(account, Product))[3];
}
