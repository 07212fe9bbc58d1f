using LicenseBroker.Domain.Administration;
using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Domain.Provisioning;

/// <summary>
/// A user as an identity provider sees it over SCIM: an agent of the account. <see cref="Id"/> is the
/// SCIM id (server-assigned, never given to another user); <see cref="AgentId"/> is the agent's id in the
/// broker (the sign-in name its tokens carry).
/// </summary>
public sealed record ScimUser(
    string Id,
    string AgentId,
    string UserName,
    string? ExternalId,
    string? GivenName,
    string? FamilyName,
    string DisplayName,
    IReadOnlyList<ScimEmail> Emails,
    EnterpriseAttributes? Enterprise,
    bool Active,
    DateTimeOffset Created,
    DateTimeOffset LastModified,
    IReadOnlyList<ScimMember> Groups);

/// <summary>One e-mail of a user (RFC 7643 §4.1.2): at most one of a user's is primary.</summary>
public sealed record ScimEmail(string Value, string? Type, bool Primary);

/// <summary>
/// The enterprise extension of a user (RFC 7643 §4.3), kept as the identity provider sent it.
/// <see cref="ManagerId"/> is the manager's SCIM id, not checked against the account's users: identity
/// providers send a manager before (or without) provisioning them.
/// </summary>
public sealed record EnterpriseAttributes(
    string? EmployeeNumber = null,
    string? CostCenter = null,
    string? Organization = null,
    string? Division = null,
    string? Department = null,
    string? ManagerId = null)
{
    public bool IsEmpty => EmployeeNumber is null && CostCenter is null && Organization is null && Division is null && Department is null && ManagerId is null;
}

/// <summary>What a SCIM create or replace says about a user.</summary>
public sealed record ScimUserInput(
    string UserName,
    string? ExternalId,
    string? GivenName,
    string? FamilyName,
    string? DisplayName,
    IReadOnlyList<ScimEmail> Emails,
    EnterpriseAttributes? Enterprise,
    bool Active)
{
    /// <summary>The agent's display name: the one given, else the name parts, else the userName.</summary>
    public string EffectiveDisplayName =>
        DisplayName is { Length: > 0 } given ? given
        : $"{GivenName} {FamilyName}".Trim() is { Length: > 0 } parts ? parts
        : UserName;

    /// <summary>The agent's e-mail: the primary one, else the work one, else the first, else the userName (usually the sign-in e-mail).</summary>
    public string EffectiveEmail => AgentEmail(Emails) ?? UserName;

    /// <summary>The e-mail the agent is known by among <paramref name="emails"/>: the primary, else the work one, else the first.</summary>
    public static string? AgentEmail(IReadOnlyList<ScimEmail> emails) =>
        (emails.FirstOrDefault(e => e.Primary)
         ?? emails.FirstOrDefault(e => string.Equals(e.Type, "work", StringComparison.OrdinalIgnoreCase))
         ?? (emails.Count > 0 ? emails[0] : null))?.Value;
}

/// <summary>A group and its members.</summary>
public sealed record ScimGroup(string Id, string DisplayName, string? ExternalId, IReadOnlyList<ScimMember> Members, DateTimeOffset Created, DateTimeOffset LastModified);

/// <summary>A member of a group (or a group of a user): its id and display text.</summary>
public sealed record ScimMember(string Id, string Display);

/// <summary>Which users a SCIM list returns: at most one equality per attribute, all of them ANDed.</summary>
public sealed record ScimQuery(string? UserName = null, string? ExternalId = null, string? Email = null, string? DisplayName = null, string? Id = null, string? EmployeeNumber = null);

/// <summary>One page of a SCIM list.</summary>
public sealed record ScimPage<T>(int TotalResults, int StartIndex, IReadOnlyList<T> Resources);

/// <summary>An admin's mapping: members of the group named <see cref="GroupName"/> get this seat.</summary>
public sealed record GroupSeatMapping(string GroupName, string Product, SeatType SeatType, DateTimeOffset CreatedAt);

/// <summary>A seat the groups give that the broker could not (yet) give.</summary>
public sealed record ProvisioningProblem(
    string AgentId, string Product, string Reason, string Detail, DateTimeOffset FirstSeen, string? DisplayName = null, string? Email = null);

/// <summary>A provisioning token as listed (never its secret).</summary>
public sealed record ProvisioningTokenInfo(string Id, string Name, string CreatedBy, DateTimeOffset CreatedAt, DateTimeOffset? LastUsedAt, DateTimeOffset? RevokedAt);

/// <summary>A stored token found by id, for authentication.</summary>
public sealed record ProvisioningTokenRecord(string Id, string AccountId, string Name, byte[] SecretHash, DateTimeOffset? LastUsedAt, DateTimeOffset? RevokedAt);

/// <summary>
/// Seats a provisioning change gave, switched or withdrew, per (agent, product): their live leases
/// end (a withdrawn seat stops at once; a switched one is acquired again under its new type).
/// </summary>
public sealed record SeatChanges(IReadOnlyList<(string AgentId, string Product)> Changed)
{
    public static readonly SeatChanges None = new([]);
}

/// <summary>The result of a SCIM write.</summary>
public abstract record ScimOutcome<T>
{
    public sealed record Done(T Value, SeatChanges Seats) : ScimOutcome<T>;

    /// <summary>No such resource in the token's account (the same answer as for another account's).</summary>
    public sealed record NotFound : ScimOutcome<T>;

    /// <summary>A unique attribute (userName, externalId, a group's displayName, an e-mail) is taken.</summary>
    public sealed record Conflict(string Attribute) : ScimOutcome<T>;

    /// <summary>A value the broker cannot accept (e.g. a member that is not a user of the account).</summary>
    public sealed record Invalid(string Detail) : ScimOutcome<T>;
}

/// <summary>What changes a group: any of these, applied in one transaction.</summary>
public sealed record GroupChange(
    string? DisplayName = null,
    string? ExternalId = null,
    bool ClearExternalId = false,
    IReadOnlyList<string>? SetMembers = null,
    IReadOnlyList<string>? AddMembers = null,
    IReadOnlyList<string>? RemoveMembers = null);

/// <summary>Outcome of mapping a group to a seat.</summary>
public abstract record MappingOutcome
{
    public sealed record Mapped(GroupSeatMapping Mapping, SeatChanges Seats) : MappingOutcome;

    public sealed record UnknownProduct : MappingOutcome;

    public sealed record ProductHasNoSeats : MappingOutcome;
}

/// <summary>
/// Durable provisioning state. Every write that can change seats reconciles them in the same
/// transaction (groups decide the seats of mapped products; named limits hold under the pool's row
/// lock) and audits each change with the actor.
/// </summary>
public interface IProvisioningStore
{
    Task CreateTokenAsync(Actor actor, string accountId, string tokenId, string name, byte[] secretHash, CancellationToken cancellationToken);

    Task<IReadOnlyList<ProvisioningTokenInfo>> ListTokensAsync(string accountId, CancellationToken cancellationToken);

    Task<bool> RevokeTokenAsync(Actor actor, string accountId, string tokenId, CancellationToken cancellationToken);

    Task<ProvisioningTokenRecord?> FindTokenAsync(string tokenId, CancellationToken cancellationToken);

    Task TouchTokenAsync(string tokenId, CancellationToken cancellationToken);

    Task<MappingOutcome> MapGroupAsync(Actor actor, string accountId, string groupName, string product, SeatType seatType, CancellationToken cancellationToken);

    Task<(bool Removed, SeatChanges Seats)> UnmapGroupAsync(Actor actor, string accountId, string groupName, string product, CancellationToken cancellationToken);

    Task<IReadOnlyList<GroupSeatMapping>> ListMappingsAsync(string accountId, CancellationToken cancellationToken);

    Task<IReadOnlyList<ProvisioningProblem>> ListProblemsAsync(string accountId, CancellationToken cancellationToken);

    /// <summary>Gives freed named seats of <paramref name="product"/> to the oldest problems.</summary>
    Task<SeatChanges> ResolveProblemsAsync(Actor actor, string accountId, string product, CancellationToken cancellationToken);

    Task<ScimPage<ScimUser>> ListUsersAsync(string accountId, ScimQuery query, int startIndex, int count, CancellationToken cancellationToken);

    Task<ScimUser?> GetUserAsync(string accountId, string id, CancellationToken cancellationToken);

    Task<ScimOutcome<ScimUser>> CreateUserAsync(Actor actor, string accountId, ScimUserInput input, CancellationToken cancellationToken);

    Task<ScimOutcome<ScimUser>> ReplaceUserAsync(Actor actor, string accountId, string id, ScimUserInput input, CancellationToken cancellationToken);

    Task<ScimOutcome<bool>> DeleteUserAsync(Actor actor, string accountId, string id, CancellationToken cancellationToken);

    Task<ScimPage<ScimGroup>> ListGroupsAsync(string accountId, ScimQuery query, int startIndex, int count, CancellationToken cancellationToken);

    Task<ScimGroup?> GetGroupAsync(string accountId, string id, CancellationToken cancellationToken);

    Task<ScimOutcome<ScimGroup>> CreateGroupAsync(Actor actor, string accountId, string displayName, string? externalId, IReadOnlyList<string> members, CancellationToken cancellationToken);

    Task<ScimOutcome<ScimGroup>> ChangeGroupAsync(Actor actor, string accountId, string id, GroupChange change, CancellationToken cancellationToken);

    Task<ScimOutcome<bool>> DeleteGroupAsync(Actor actor, string accountId, string id, CancellationToken cancellationToken);
}
