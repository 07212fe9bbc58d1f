using Grpc.Core;
using LicenseBroker.Contracts.V1;
using Google.Protobuf;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Server.Entitlements;
using LicenseBroker.Server.Identity;
using Microsoft.AspNetCore.Authorization;

namespace LicenseBroker.Server.Grpc;

/// <summary>
/// EntitlementService (other backends, service scope): checks answered from the cached catalog, and signed
/// snapshots with their change stream for services that check locally (docs/entitlements.md). A token with
/// an accounts claim reads only those accounts (<see cref="ServiceAccounts"/>).
/// </summary>
[Authorize(Policy = BrokerPolicies.Service)]
internal sealed class EntitlementGrpcService : EntitlementService.EntitlementServiceBase
{
    private readonly EntitlementChecker _checker;
    private readonly EntitlementSnapshots _snapshots;
    private readonly EntitlementDocuments _documents;
    private readonly EntitlementFeed _feed;
    private readonly EntitlementKeyRing _keys;
    private readonly EntitlementOptions _options;
    private readonly TimeProvider _time;

    public EntitlementGrpcService(
        EntitlementChecker checker,
        EntitlementSnapshots snapshots,
        EntitlementDocuments documents,
        EntitlementFeed feed,
        EntitlementKeyRing keys,
        EntitlementOptions options,
        TimeProvider time)
    {
        _checker = checker;
        _snapshots = snapshots;
        _documents = documents;
        _feed = feed;
        _keys = keys;
        _options = options;
        _time = time;
    }

    public override async Task<SignedEntitlements> GetEntitlementSnapshot(GetEntitlementSnapshotRequest request, ServerCallContext context)
    {
        new RequestValidation().Id(request.AccountId, "account_id").ThrowIfInvalid();
        ServiceAccounts.Demand(context, request.AccountId);
        return await _snapshots.CurrentAsync(request.AccountId, context.CancellationToken)
            ?? throw OutcomeStatus.NotFound("No such account.", "UNKNOWN_ACCOUNT");
    }

    public override async Task WatchEntitlements(WatchEntitlementsRequest request, IServerStreamWriter<SignedEntitlements> responseStream, ServerCallContext context)
    {
        new RequestValidation()
            .Id(request.AccountId, "account_id")
            .Check(request.SinceVersion >= 0, "since_version", "must be 0 (snapshot first) or a version the account has had")
            .ThrowIfInvalid();
        ServiceAccounts.Demand(context, request.AccountId);
        var cancellation = context.CancellationToken;
        using var watch = await _feed.JoinAsync(request.AccountId, cancellation)
            ?? throw OutcomeStatus.NotFound("No such account.", "UNKNOWN_ACCOUNT");
        var version = watch.State.Version;
        if (request.SinceVersion > version)
        {
            new RequestValidation().Check(false, "since_version", $"is ahead of the account's version {version}: resync from a snapshot").ThrowIfInvalid();
        }

        try
        {
            // Where the caller stands: up to date, a chain of kept changes away, or too far behind (a snapshot).
            if (request.SinceVersion < version)
            {
                var chain = request.SinceVersion == 0 ? null : watch.CatchUp(request.SinceVersion);
                foreach (var signed in chain ?? [await _snapshots.OfAsync(watch.State, cancellation)])
                {
                    await responseStream.WriteAsync(signed, cancellation);
                }
            }
            else
            {
                await responseStream.WriteAsync(await _documents.KeepAliveAsync(request.AccountId, version, cancellation), cancellation);
            }

            while (true)
            {
                using var quiet = new CancellationTokenSource(_options.KeepAliveInterval, _time);
                using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellation, quiet.Token);
                bool more;
                try
                {
                    more = await watch.Pending.WaitToReadAsync(either.Token);
                }
                catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
                {
                    await responseStream.WriteAsync(await _documents.KeepAliveAsync(request.AccountId, version, cancellation), cancellation);
                    continue;
                }

                if (!more)
                {
                    // Fell too far behind (or the replica stops): the client reconnects from its version.
                    return;
                }

                while (watch.Pending.TryRead(out var change))
                {
                    if (change.FromVersion == version)
                    {
                        await responseStream.WriteAsync(change.Signed, cancellation);
                        version = change.Version;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            // The caller left: not an error.
        }
    }

    [AllowAnonymous]
    public override async Task<ListEntitlementKeysResponse> ListEntitlementKeys(ListEntitlementKeysRequest request, ServerCallContext context)
    {
        var response = new ListEntitlementKeysResponse();
        response.Keys.AddRange((await _keys.PublishedAsync(context.CancellationToken)).Select(ToProto));
        return response;
    }

    public override async Task<EntitlementKey> RotateEntitlementKey(RotateEntitlementKeyRequest request, ServerCallContext context)
    {
        ServiceAccounts.DemandPlatform(context);
        return ToProto(await _keys.RotateAsync(context.CancellationToken));
    }

    private static EntitlementKey ToProto(PublishedKey key) => new()
    {
        Kid = key.Kid,
        PublicKey = ByteString.CopyFrom(key.PublicKey),
        ExpiresUnixMs = key.ExpiresAt?.ToUnixTimeMilliseconds() ?? 0,
    };

    public override async Task<CheckEntitlementResponse> CheckEntitlement(CheckEntitlementRequest request, ServerCallContext context)
    {
        var validation = new RequestValidation();
        Validate(validation, request, string.Empty);
        validation.ThrowIfInvalid();
        ServiceAccounts.Demand(context, request.AccountId);
        var result = await _checker.CheckAsync([ToQuery(request)], context.CancellationToken);
        return ToProto(result[0]);
    }

    public override async Task<BatchCheckEntitlementsResponse> BatchCheckEntitlements(BatchCheckEntitlementsRequest request, ServerCallContext context)
    {
        var validation = new RequestValidation()
            .Check(request.Checks.Count > 0, "checks", "must hold at least one check")
            .Count(request.Checks.Count, RequestValidation.MaxBatch, "checks");
        for (var i = 0; i < request.Checks.Count && i < RequestValidation.MaxBatch; i++)
        {
            Validate(validation, request.Checks[i], $"checks[{i}].");
        }

        validation.ThrowIfInvalid();
        for (var i = 0; i < request.Checks.Count; i++)
        {
            ServiceAccounts.Demand(context, request.Checks[i].AccountId, $"checks[{i}].account_id");
        }

        var results = await _checker.CheckAsync(request.Checks.Select(ToQuery).ToList(), context.CancellationToken);
        var response = new BatchCheckEntitlementsResponse();
        response.Results.AddRange(results.Select(ToProto));
        return response;
    }

    private static void Validate(RequestValidation validation, CheckEntitlementRequest check, string prefix) =>
        validation.Id(check.AccountId, prefix + "account_id").Id(check.AgentId, prefix + "agent_id").Product(check.Product, prefix + "product");

    private static EntitlementQuery ToQuery(CheckEntitlementRequest check) => new(check.AccountId, check.AgentId, check.Product);

    private static CheckEntitlementResponse ToProto(Entitlement entitlement) => new()
    {
        AccountId = entitlement.Query.AccountId,
        AgentId = entitlement.Query.AgentId,
        Product = entitlement.Query.Product,
        Status = entitlement.Status switch
        {
            Domain.Seats.EntitlementStatus.Entitled => Contracts.V1.EntitlementStatus.Entitled,
            Domain.Seats.EntitlementStatus.NoActiveSubscription => Contracts.V1.EntitlementStatus.NoActiveSubscription,
            Domain.Seats.EntitlementStatus.NoSeatAssigned => Contracts.V1.EntitlementStatus.NoSeatAssigned,
            _ => Contracts.V1.EntitlementStatus.UnknownAgent,
        },
        SeatType = entitlement.SeatType?.ToProto() ?? Contracts.V1.SeatType.Unspecified,
        HasLiveLease = entitlement.HasLiveLease,
    };
}
