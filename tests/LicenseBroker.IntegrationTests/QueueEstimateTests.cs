using LicenseBroker.Contracts.V1;
using LicenseBroker.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Issue 33: each position carries an estimate of the wait (position x the recent time between releases, less the time
/// since the last). On a steady trace (a seat frees every 400 ms, a waiter joins at the back as one is served) the
/// estimate a waiter is first given is within 30 % of the wait it then has.
/// </summary>
[Collection(MeasuredAlone.Name)]
public sealed class QueueEstimateTests(ITestOutputHelper output)
{
    private const string Product = "remote-support";
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(400);

    [Fact]
    public async Task On_a_steady_trace_the_first_estimate_is_within_thirty_percent_of_the_wait()
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var host = await BrokerTestHost.StartAsync(database, new Dictionary<string, string?> { ["Seats:WaiterRefresh"] = "00:00:00.500" });
        var account = await host.Seeder().AccountAsync(concurrentSeats: 1);
        var agents = await host.Seeder().AgentsAsync(account, 30, "CONCURRENT");
        var seat = (await host.Agent(account, agents[0]).AcquireAsync(Product)).Lease;
        var seatHolder = agents[0];

        // Four wait from the start; then one joins as one is served, so four are always ahead of the newest.
        var streams = new List<QueueStream>();
        for (var i = 1; i <= 4; i++)
        {
            streams.Add(await QueueStream.JoinAsync(host.Agent(account, agents[i]), agents[i]));
            Assert.Null(streams[^1].Last!.EstimatedWait); // no release seen yet: no estimate rather than a guess
        }

        var next = 5;
        var errors = new List<(string Agent, double Estimate, double Actual)>();
        for (var served = 0; served < 24; served++)
        {
            // The trace: a seat frees every period.
            await Task.Delay(Period);
            Assert.True(await host.Agent(account, seatHolder).ReleaseAsync(seat));
            var stream = streams[served];
            var (lease, grantedAt) = await stream.Granted.Task.WaitAsync(TimeSpan.FromSeconds(10));
            (seat, seatHolder) = (lease, stream.Agent);
            if (stream.Positions.TryPeek(out var first) && first.Position.EstimatedWait is { } estimate && served >= 10)
            {
                // Measured once the rate had five releases to learn from (the waiter joined after the sixth).
                errors.Add((stream.Agent, estimate.ToTimeSpan().TotalMilliseconds, (grantedAt - first.At).TotalMilliseconds));
            }

            if (next < agents.Count)
            {
                streams.Add(await QueueStream.JoinAsync(host.Agent(account, agents[next]), agents[next]));
                next++;
            }
        }

        Assert.True(errors.Count >= 10, $"{errors.Count} waiters measured");
        var relative = errors.Select(e => Math.Abs(e.Estimate - e.Actual) / e.Actual).ToList();
        output.WriteLine($"estimate error over {errors.Count} waiters: mean {relative.Average():P1}, max {relative.Max():P1}; " + string.Join(", ", errors.Select(e => $"{e.Estimate:F0}/{e.Actual:F0} ms")));
        Assert.True(
            relative.Average() <= 0.30,
            $"mean error {relative.Average():P0}: " + string.Join(", ", errors.Select(e => $"{e.Estimate:F0}/{e.Actual:F0} ms")));
        foreach (var stream in streams)
        {
            stream.Dispose();
        }
    }
}
