using Grpc.Core;
using LicenseBroker.Cli;
using LicenseBroker.IntegrationTests.Infrastructure;
using Microsoft.IdentityModel.JsonWebTokens;

namespace LicenseBroker.IntegrationTests;

/// <summary>
/// Validated tokens are remembered between calls (an agent heartbeats with the same token); the
/// memory must never accept what validation would refuse.
/// </summary>
public sealed class TokenCacheTests
{
    private const string Product = "remote-support";

    [Fact]
    public async Task A_remembered_token_is_refused_from_its_expiry_and_a_altered_copy_is_never_accepted()
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var host = await BrokerTestHost.StartAsync(database, new Dictionary<string, string?> { ["Auth:ClockSkew"] = "00:00:00" });
        var seeder = new CatalogSeeder(database);
        var account = await seeder.AccountAsync(concurrentSeats: 2);
        var ids = await seeder.AgentsAsync(account, 2, "CONCURRENT");

        // A genuine token, validated and remembered by its first call.
        // Eight seconds: room for several heartbeats on a loaded machine (four left only five under CI with a CPU burner).
        var token = DevTokens.Mint(host.SigningKey, account, ids[0], TimeSpan.FromSeconds(8));
        var expires = new DateTimeOffset(new JsonWebToken(token).ValidTo, TimeSpan.Zero);
        var agent = new AgentClient(host.Channel, token);
        var lease = (await agent.AcquireAsync(Product)).Lease;

        // The same claims under a changed signature, and another agent's claims under the genuine
        // signature: both refused while the genuine token is remembered.
        var parts = token.Split('.');
        var signature = parts[2].ToCharArray();
        signature[10] = signature[10] == 'A' ? 'B' : 'A';
        var otherClaims = DevTokens.Mint(host.SigningKey, account, ids[1], TimeSpan.FromSeconds(8)).Split('.')[1];
        foreach (var altered in new[] { $"{parts[0]}.{parts[1]}.{new string(signature)}", $"{parts[0]}.{otherClaims}.{parts[2]}" })
        {
            var refused = await Assert.ThrowsAsync<RpcException>(() => new AgentClient(host.Channel, altered).HeartbeatAsync(lease));
            Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
        }

        // Heartbeats until the token is refused: every one accepted was sent before the expiry, and
        // the refusal comes right after it, not a cache lifetime later.
        var accepted = 0;
        var acceptedAfterExpiry = new List<DateTimeOffset>();
        DateTimeOffset? refusedAt = null;
        while (refusedAt is null && DateTimeOffset.UtcNow < expires.AddSeconds(10))
        {
            var sent = DateTimeOffset.UtcNow;
            try
            {
                lease = await agent.HeartbeatAsync(lease);
                accepted++;
                if (sent >= expires)
                {
                    acceptedAfterExpiry.Add(sent);
                }
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Unauthenticated)
            {
                refusedAt = DateTimeOffset.UtcNow;
            }

            await Task.Delay(100);
        }

        Assert.Empty(acceptedAfterExpiry);
        Assert.True(accepted >= 5, $"only {accepted} heartbeats were accepted before the expiry");
        Assert.NotNull(refusedAt);
        Assert.True(refusedAt < expires.AddSeconds(2), $"refused at {refusedAt:O}, expiry {expires:O}");
    }
}
