using Google.Protobuf;
using LicenseBroker.Domain.Entitlements;
using LicenseBroker.Server.Grpc;
using V1 = LicenseBroker.Contracts.V1;

namespace LicenseBroker.Server.Entitlements;

/// <summary>
/// Writes and signs the documents of docs/entitlements.md: a snapshot of an account, the changes between
/// two versions, a keep-alive. The signature covers the serialized EntitlementDocument bytes as sent.
/// </summary>
public sealed class EntitlementDocuments
{
    private readonly EntitlementKeyRing _keys;
    private readonly EntitlementOptions _options;
    private readonly TimeProvider _time;

    public EntitlementDocuments(EntitlementKeyRing keys, EntitlementOptions options, TimeProvider time)
    {
        _keys = keys;
        _options = options;
        _time = time;
    }

    public Task<V1.SignedEntitlements> SnapshotAsync(AccountEntitlements state, CancellationToken cancellationToken)
    {
        var document = Document(V1.EntitlementDocumentKind.Snapshot, state.AccountId, state.Version, fromVersion: 0);
        document.Products.AddRange(state.Products.Values.OrderBy(p => p.Product, StringComparer.Ordinal).Select(ToProto));
        document.Agents.AddRange(state.Agents.Values.OrderBy(a => a.AgentId, StringComparer.Ordinal).Select(ToProto));
        return SignAsync(document, cancellationToken);
    }

    public Task<V1.SignedEntitlements> ChangesAsync(string accountId, EntitlementChanges changes, CancellationToken cancellationToken)
    {
        var document = Document(V1.EntitlementDocumentKind.Changes, accountId, changes.Version, changes.FromVersion);
        document.Products.AddRange(changes.Products.Select(ToProto));
        document.RemovedProducts.AddRange(changes.RemovedProducts);
        document.Agents.AddRange(changes.Agents.Select(ToProto));
        document.RemovedAgents.AddRange(changes.RemovedAgents);
        return SignAsync(document, cancellationToken);
    }

    /// <summary>No change since <paramref name="version"/>: renews not_after.</summary>
    public Task<V1.SignedEntitlements> KeepAliveAsync(string accountId, long version, CancellationToken cancellationToken) =>
        SignAsync(Document(V1.EntitlementDocumentKind.Changes, accountId, version, version), cancellationToken);

    private V1.EntitlementDocument Document(V1.EntitlementDocumentKind kind, string accountId, long version, long fromVersion)
    {
        var now = _time.GetUtcNow();
        return new V1.EntitlementDocument
        {
            Kind = kind,
            AccountId = accountId,
            Version = version,
            FromVersion = fromVersion,
            IssuedAtUnixMs = now.ToUnixTimeMilliseconds(),
            NotAfterUnixMs = (now + _options.SnapshotLifetime).ToUnixTimeMilliseconds(),
        };
    }

    private async Task<V1.SignedEntitlements> SignAsync(V1.EntitlementDocument document, CancellationToken cancellationToken)
    {
        var bytes = document.ToByteArray();
        var (kid, signature) = await _keys.SignAsync(bytes, cancellationToken);
        // Not copied again: the bytes are ours and never change (a 10,000-agent snapshot is 300 KB).
        return new V1.SignedEntitlements { Document = UnsafeByteOperations.UnsafeWrap(bytes), Kid = kid, Signature = UnsafeByteOperations.UnsafeWrap(signature) };
    }

    private static V1.ProductTerms ToProto(ProductTerms terms) => new()
    {
        Product = terms.Product,
        ValidUntilUnixMs = terms.ValidUntil.ToUnixTimeMilliseconds(),
        Unlimited = terms.Unlimited,
    };

    private static V1.AgentEntitlements ToProto(AgentEntitlements agent)
    {
        var proto = new V1.AgentEntitlements { AgentId = agent.AgentId, Active = agent.Active };
        proto.Seats.AddRange(agent.Seats.Select(s => new V1.AgentSeat { Product = s.Product, SeatType = s.SeatType.ToProto() }));
        return proto;
    }
}
