using Dapper;
using LicenseBroker.Domain.Seats;
using LicenseBroker.IntegrationTests.Infrastructure;
using LicenseBroker.Storage.Postgres;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Replicas drain pools' journals side by side and may store the same pools' events at once (a recovery scan, a drain
/// retried): their transactions must take their row locks in one order, or PostgreSQL ends one of them as a deadlock
/// (seen in the bench: "40P01: deadlock detected" while three replicas drained 2,000 pools).
/// </summary>
public sealed class SeatEventWriterRaceTests : IClassFixture<BrokerFixture>
{
    private const string Product = "remote-support";
    private readonly BrokerFixture _fixture;

    public SeatEventWriterRaceTests(BrokerFixture fixture)
    {
        _fixture = fixture;
    }

    [Fact]
    public async Task Two_writers_storing_the_same_pools_events_in_opposite_orders_never_deadlock_and_store_each_once()
    {
        var accounts = new[] { await _fixture.Seeder.AccountAsync(concurrentSeats: 100), await _fixture.Seeder.AccountAsync(concurrentSeats: 100) };
        var writer = new PostgresSeatEventWriter(_fixture.Host.Services.GetRequiredService<NpgsqlDataSource>());
        const int Rounds = 15;
        const int PerPool = 40;
        var failures = new List<string>();
        for (var round = 0; round < Rounds; round++)
        {
            var at = DateTimeOffset.UtcNow;
            var byPool = accounts.Select(account => Enumerable.Range(1, PerPool).Select(i => new SeatEvent(
                new PoolId(account, Product), SeatEventKind.Granted, $"agent-{round}-{i}", $"ls_{round}_{i}", $"agent-{round}-{i}", at,
                PeakToday: i, SeatsInUse: i, Sequence: (round * 1000) + i)).ToList()).ToList();
            var results = await Task.WhenAll(
                Attempt([.. byPool[0], .. byPool[1]]),
                Attempt([.. byPool[1], .. byPool[0]]));
            failures.AddRange(results.OfType<string>().Select(f => $"round {round}: {f}"));
        }

        Assert.Empty(failures);
        await using var connection = new NpgsqlConnection(_fixture.Host.Database.ConnectionString);
        Assert.Equal(Rounds * PerPool * 2, await connection.ExecuteScalarAsync<long>(
            "SELECT count(*) FROM audit_events WHERE account_id = ANY(@accounts) AND action = 'seat.granted'", new { accounts }));

        async Task<string?> Attempt(IReadOnlyList<SeatEvent> batch)
        {
            try
            {
                await writer.WriteAsync(batch, CancellationToken.None);
                return null;
            }
            catch (PostgresException ex)
            {
                return ex.SqlState + " " + ex.MessageText;
            }
        }
    }
}
