using System.Security.Cryptography;
using System.Text;
using LicenseBroker.Domain.Administration;
using LicenseBroker.Domain.Catalog;
using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Domain.Provisioning;

/// <summary>
/// Provisioning from an identity provider: tokens, group mappings, problems, and the SCIM writes.
/// As for admin changes, the durable change comes first (with its seat reconciliation), then every
/// replica's cache is told, then the live leases of withdrawn or switched seats end (the app hears
/// LEASE_REVOKED, WatchLease says REVOKED).
/// </summary>
public sealed class ProvisioningService
{
    public const string TokenPrefix = "lbp_";

    private readonly IProvisioningStore _store;
    private readonly ICatalogInvalidator _invalidator;
    private readonly IOccupancyStore _occupancy;
    private readonly SeatOptions _seats;
    private readonly TimeProvider _time;

    public ProvisioningService(IProvisioningStore store, ICatalogInvalidator invalidator, IOccupancyStore occupancy, SeatOptions seats, TimeProvider time)
    {
        _store = store;
        _invalidator = invalidator;
        _occupancy = occupancy;
        _seats = seats;
        _time = time;
    }

    public IProvisioningStore Store => _store;

    /// <summary>Creates a token; the returned secret is shown once and kept only as a hash.</summary>
    public async Task<(ProvisioningTokenInfo Info, string Secret)> CreateTokenAsync(Actor actor, string accountId, string name, CancellationToken cancellationToken)
    {
        var id = "pt_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var secret = Base64Url(RandomNumberGenerator.GetBytes(32));
        var token = $"{TokenPrefix}{id}_{secret}";
        await _store.CreateTokenAsync(actor, accountId, id, name, Hash(token), cancellationToken);
        return (new ProvisioningTokenInfo(id, name, actor.Id, _time.GetUtcNow(), null, null), token);
    }

    /// <summary>
    /// The token's account and name, or null when it is unknown, malformed or revoked. Read from
    /// PostgreSQL on every call, so a revocation holds at once on every replica.
    /// </summary>
    public async Task<ProvisioningTokenRecord?> AuthenticateAsync(string token, CancellationToken cancellationToken)
    {
        // lbp_<id>_<secret>: the id finds the row, the hash of the whole token must match.
        if (token.Length is < 20 or > 128 || !token.StartsWith(TokenPrefix, StringComparison.Ordinal))
        {
            return null;
        }

        var separator = token.IndexOf('_', TokenPrefix.Length + 3);
        if (separator < 0)
        {
            return null;
        }

        var id = token[TokenPrefix.Length..separator];
        if (!id.StartsWith("pt_", StringComparison.Ordinal) || id.Length != 19 || !id.Skip(3).All(Uri.IsHexDigit))
        {
            return null;
        }

        var record = await _store.FindTokenAsync(id, cancellationToken);
        if (record is null || record.RevokedAt is not null || !CryptographicOperations.FixedTimeEquals(record.SecretHash, Hash(token)))
        {
            return null;
        }

        // Last use is kept to the minute: no write per request.
        if (record.LastUsedAt is not { } used || _time.GetUtcNow() - used > TimeSpan.FromMinutes(1))
        {
            await _store.TouchTokenAsync(id, cancellationToken);
        }

        return record;
    }

    public async Task<MappingOutcome> MapGroupAsync(Actor actor, string accountId, string groupName, string product, SeatType seatType, CancellationToken cancellationToken)
    {
        var outcome = await _store.MapGroupAsync(actor, accountId, groupName, product, seatType, cancellationToken);
        if (outcome is MappingOutcome.Mapped mapped)
        {
            await ApplyAsync(actor, accountId, mapped.Seats, cancellationToken);
        }

        return outcome;
    }

    public async Task<bool> UnmapGroupAsync(Actor actor, string accountId, string groupName, string product, CancellationToken cancellationToken)
    {
        var (removed, seats) = await _store.UnmapGroupAsync(actor, accountId, groupName, product, cancellationToken);
        await ApplyAsync(actor, accountId, seats, cancellationToken);
        return removed;
    }

    /// <summary>After an admin freed named seats of a product: the oldest problems get them.</summary>
    public async Task ResolveProblemsAsync(Actor actor, string accountId, string product, CancellationToken cancellationToken)
    {
        var seats = await _store.ResolveProblemsAsync(actor, accountId, product, cancellationToken);
        if (seats.Changed.Count > 0)
        {
            await ApplyAsync(actor, accountId, seats, cancellationToken);
        }
    }

    public Task<ScimOutcome<ScimUser>> CreateUserAsync(Actor actor, string accountId, ScimUserInput input, CancellationToken cancellationToken) =>
        ThenApplyAsync(actor, accountId, _store.CreateUserAsync(actor, accountId, input, cancellationToken), cancellationToken);

    public Task<ScimOutcome<ScimUser>> ReplaceUserAsync(Actor actor, string accountId, string id, ScimUserInput input, CancellationToken cancellationToken) =>
        ThenApplyAsync(actor, accountId, _store.ReplaceUserAsync(actor, accountId, id, input, cancellationToken), cancellationToken);

    public Task<ScimOutcome<bool>> DeleteUserAsync(Actor actor, string accountId, string id, CancellationToken cancellationToken) =>
        ThenApplyAsync(actor, accountId, _store.DeleteUserAsync(actor, accountId, id, cancellationToken), cancellationToken);

    public Task<ScimOutcome<ScimGroup>> CreateGroupAsync(Actor actor, string accountId, string displayName, string? externalId, IReadOnlyList<string> members, CancellationToken cancellationToken) =>
        ThenApplyAsync(actor, accountId, _store.CreateGroupAsync(actor, accountId, displayName, externalId, members, cancellationToken), cancellationToken);

    public Task<ScimOutcome<ScimGroup>> ChangeGroupAsync(Actor actor, string accountId, string id, GroupChange change, CancellationToken cancellationToken) =>
        ThenApplyAsync(actor, accountId, _store.ChangeGroupAsync(actor, accountId, id, change, cancellationToken), cancellationToken);

    public Task<ScimOutcome<bool>> DeleteGroupAsync(Actor actor, string accountId, string id, CancellationToken cancellationToken) =>
        ThenApplyAsync(actor, accountId, _store.DeleteGroupAsync(actor, accountId, id, cancellationToken), cancellationToken);

    private async Task<ScimOutcome<T>> ThenApplyAsync<T>(Actor actor, string accountId, Task<ScimOutcome<T>> write, CancellationToken cancellationToken)
    {
        var outcome = await write;
        if (outcome is ScimOutcome<T>.Done done)
        {
            await ApplyAsync(actor, accountId, done.Seats, cancellationToken);
        }

        return outcome;
    }

    /// <summary>Caches first (every replica), then the leases of the changed seats end.</summary>
    private async Task ApplyAsync(Actor actor, string accountId, SeatChanges seats, CancellationToken cancellationToken)
    {
        // Every product of the account: agents may have been added, changed or removed even when no
        // seat moved (Monitoring admits every agent of the account).
        await _invalidator.InvalidateAsync(accountId, null);

        foreach (var group in seats.Changed.GroupBy(c => c.Product, StringComparer.Ordinal))
        {
            await _occupancy.RevokeAsync(
                new RevokeCommand(new PoolId(accountId, group.Key), actor.Id, ByAgent: true, group.Select(c => c.AgentId).Distinct(StringComparer.Ordinal).ToList(), _seats.LeaseTtl,
                    RevokeCause.SeatChanged),
                cancellationToken);
        }
    }

    private static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
