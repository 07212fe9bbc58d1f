namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>
/// Three broker replicas over one database and one Redis prefix, two of them with clocks 30 s ahead and
/// 30 s behind: what the group and live-rule tests race across. Disposed together, with the database.
/// </summary>
internal sealed class SkewedReplicas : IAsyncDisposable
{
    private SkewedReplicas(TestDatabase database, IReadOnlyList<BrokerTestHost> replicas)
    {
        Database = database;
        Replicas = replicas;
    }

    public TestDatabase Database { get; }

    public IReadOnlyList<BrokerTestHost> Replicas { get; }

    /// <summary>The first replica, on the true clock: where the tests' admin changes are made.</summary>
    public BrokerTestHost First => Replicas[0];

    public static async Task<SkewedReplicas> StartAsync(Dictionary<string, string?> settings)
    {
        var database = await TestDatabase.CreateAsync();
        var first = await BrokerTestHost.StartAsync(database, settings);
        settings["Redis:KeyPrefix"] = first.Services.GetRequiredRedisPrefix();
        var ahead = await BrokerTestHost.StartAsync(database, settings, signingKey: first.SigningKey, time: new SkewedTimeProvider(TimeSpan.FromSeconds(30)));
        var behind = await BrokerTestHost.StartAsync(database, settings, signingKey: first.SigningKey, time: new SkewedTimeProvider(TimeSpan.FromSeconds(-30)));
        return new SkewedReplicas(database, [first, ahead, behind]);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var replica in Replicas)
        {
            await replica.DisposeAsync();
        }

        await Database.DisposeAsync();
    }
}

/// <summary>Agent groups and their seat rules, as an admin of the account sets them.</summary>
internal static class GroupAdmin
{
    public static async Task SetGroupAsync(this BrokerTestHost host, string account, string groupId, IReadOnlyList<string> members) =>
        await host.AdminClient.UpsertAgentGroupAsync(
            new Contracts.V1.UpsertAgentGroupRequest { GroupId = groupId, DisplayName = "Team " + groupId, ReplaceMembers = true, MemberIds = { members } }, host.AdminHeaders(account));

    public static async Task SetGroupRuleAsync(
        this BrokerTestHost host, string account, string groupId, int reserved, int? max, string product = "remote-support",
        Contracts.V1.QueuePriority priority = Contracts.V1.QueuePriority.Unspecified)
    {
        var request = new Contracts.V1.SetGroupSeatRuleRequest { Product = product, GroupId = groupId, ReservedSeats = reserved, QueuePriority = priority };
        if (max is { } m)
        {
            request.MaxSeats = m;
        }

        await host.AdminClient.SetGroupSeatRuleAsync(request, host.AdminHeaders(account));
    }
}
