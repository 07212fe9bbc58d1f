using System.CommandLine;
using System.Globalization;
using LicenseBroker.Client.Entitlements;
using LicenseBroker.Contracts.V1;

namespace LicenseBroker.Cli.Commands;

/// <summary>
/// `entitlements`: what services that check locally rely on (docs/entitlements.md): the signed snapshot
/// (fetched, verified with the published keys, summarised), the keys, and the key rotation. Acts as a
/// back-office service (scope licensebroker.service).
/// </summary>
internal static class EntitlementsCommand
{
    public static Command Create()
    {
        var command = new Command("entitlements", "Signed entitlement snapshots for services: check one, list and rotate the signing keys.");
        command.Subcommands.Add(Snapshot());
        command.Subcommands.Add(Keys());
        command.Subcommands.Add(RotateKey());
        return command;
    }

    private static Command Snapshot()
    {
        var connection = new BrokerConnection();
        var agent = new Option<string?>("--agent") { Description = "Also check this agent locally, on every product of the snapshot." };
        var command = new Command("snapshot", "Fetch the account's signed snapshot, verify it with the published keys, and summarise it.") { agent };
        connection.AddTo(command);
        command.SetAction((parse, _) => connection.RunAsync(
            parse,
            async (channel, headers) =>
            {
                var account = connection.Account(parse);
                var signed = await new EntitlementService.EntitlementServiceClient(channel).GetEntitlementSnapshotAsync(new GetEntitlementSnapshotRequest { AccountId = account }, headers);
                await using var cache = new EntitlementCache(new EntitlementCacheOptions
                {
                    Address = new Uri(connection.Server(parse)),
                    AccountId = account,
                    AccessTokenProvider = _ => ValueTask.FromResult(headers.GetValue("authorization")!["Bearer ".Length..]),
                });
                var outcome = await cache.ApplyAsync(signed);
                if (outcome != DocumentOutcome.Applied)
                {
                    throw new CliException(ExitCodes.Refused, $"the snapshot does not verify ({outcome})");
                }

                var document = EntitlementDocument.Parser.ParseFrom(signed.Document);
                var products = document.Products.Select(p => p.Product).ToList();
                var rows = new List<IReadOnlyList<string>>
                {
                    new[] { "account", document.AccountId },
                    new[] { "version", document.Version.ToString(CultureInfo.InvariantCulture) },
                    new[] { "key", signed.Kid + " (signature verified)" },
                    new[] { "size", signed.CalculateSize().ToString("N0", CultureInfo.InvariantCulture) + " bytes" },
                    new[] { "valid until", DateTimeOffset.FromUnixTimeMilliseconds(document.NotAfterUnixMs).ToString("u", CultureInfo.InvariantCulture) },
                    new[] { "agents", document.Agents.Count.ToString(CultureInfo.InvariantCulture) },
                    new[] { "products", string.Join(", ", document.Products.Select(p => $"{p.Product} (until {DateTimeOffset.FromUnixTimeMilliseconds(p.ValidUntilUnixMs):yyyy-MM-dd}{(p.Unlimited ? ", unlimited" : string.Empty)})")) },
                };
                if (parse.GetValue(agent) is { } who)
                {
                    rows.AddRange(products.Select(p => (IReadOnlyList<string>)[$"{who} on {p}", cache.Check(who, p).Status.ToString()]));
                }

                return BrokerConnection.Print(connection.Json(parse), document, () => Table.Print(["", ""], rows));
            },
            service: true));
        return command;
    }

    private static Command Keys()
    {
        var connection = new BrokerConnection();
        var command = new Command("keys", "The published verification keys (retired ones until what they signed has expired).");
        connection.AddTo(command);
        command.SetAction((parse, _) => connection.RunAsync(
            parse,
            async (channel, headers) =>
            {
                var response = await new EntitlementService.EntitlementServiceClient(channel).ListEntitlementKeysAsync(new ListEntitlementKeysRequest(), headers);
                return BrokerConnection.Print(connection.Json(parse), response, () => Table.Print(
                    ["KID", "STATE", "PUBLIC KEY (base64)"],
                    response.Keys.Select(k => (IReadOnlyList<string>)[
                        k.Kid,
                        k.ExpiresUnixMs == 0 ? "signing" : "retired, verifies until " + DateTimeOffset.FromUnixTimeMilliseconds(k.ExpiresUnixMs).ToString("u", CultureInfo.InvariantCulture),
                        Convert.ToBase64String(k.PublicKey.Span)])));
            },
            service: true));
        return command;
    }

    private static Command RotateKey()
    {
        var connection = new BrokerConnection();
        var command = new Command("rotate-key", "Sign with a new key from now on; the previous one verifies until what it signed has expired (platform service token).");
        connection.AddTo(command);
        command.SetAction((parse, _) => connection.RunAsync(
            parse,
            async (channel, headers) =>
            {
                var key = await new EntitlementService.EntitlementServiceClient(channel).RotateEntitlementKeyAsync(new RotateEntitlementKeyRequest(), headers);
                return BrokerConnection.Print(connection.Json(parse), key, () => Console.WriteLine($"now signing with {key.Kid}"));
            },
            service: true));
        return command;
    }
}
