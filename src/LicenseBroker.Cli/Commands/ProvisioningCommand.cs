using System.CommandLine;
using LicenseBroker.Contracts.V1;

namespace LicenseBroker.Cli.Commands;

/// <summary>
/// `provisioning token create|list|revoke`, `provisioning group map|unmap|list`, `provisioning problems`:
/// what an admin sets up for the identity provider's SCIM provisioning.
/// </summary>
internal static class ProvisioningCommand
{
    public static Command Create() => new("provisioning", "Automated provisioning from an identity provider (SCIM 2.0 at /scim/v2 on the REST port).")
    {
        Tokens(), Groups(), Problems(),
    };

    private static Command Tokens()
    {
        var createConnection = new BrokerConnection();
        var name = new Option<string>("--name") { Description = "What the token is for, e.g. Okta; it is the actor of its changes.", Required = true };
        var create = new Command("create", "Create a token for the identity provider (printed once; the broker keeps only a hash).") { name };
        createConnection.AddTo(create);
        create.SetAction((parse, _) => createConnection.RunAsync(parse, async (channel, headers) =>
        {
            var response = await new SeatAdminService.SeatAdminServiceClient(channel).CreateProvisioningTokenAsync(
                new CreateProvisioningTokenRequest { Name = parse.GetValue(name)! }, headers);
            return BrokerConnection.Print(createConnection.Json(parse), response, () =>
            {
                Console.WriteLine($"token {response.Token.TokenId} ({response.Token.Name}) created. Give this to the identity provider as its bearer token; it is not shown again:");
                Console.WriteLine(response.Secret);
            });
        }));

        var listConnection = new BrokerConnection();
        var list = new Command("list", "List provisioning tokens (never their secrets).");
        listConnection.AddTo(list);
        list.SetAction((parse, _) => listConnection.RunAsync(parse, async (channel, headers) =>
        {
            var response = await new SeatAdminService.SeatAdminServiceClient(channel).ListProvisioningTokensAsync(new ListProvisioningTokensRequest(), headers);
            return BrokerConnection.Print(listConnection.Json(parse), response, () => Table.Print(
                ["TOKEN", "NAME", "CREATED BY", "CREATED", "LAST USED", "REVOKED"],
                response.Tokens.Select(t => (IReadOnlyList<string>)[t.TokenId, t.Name, t.CreatedBy, Table.Time(t.CreatedAt), Table.Time(t.LastUsedAt), Table.Time(t.RevokedAt)])));
        }));

        var revokeConnection = new BrokerConnection();
        var tokenId = new Argument<string>("token-id") { Description = "Token id (pt_...)." };
        var revoke = new Command("revoke", "Revoke a token: refused at once on every replica.") { tokenId };
        revokeConnection.AddTo(revoke);
        revoke.SetAction((parse, _) => revokeConnection.RunAsync(parse, async (channel, headers) =>
        {
            var response = await new SeatAdminService.SeatAdminServiceClient(channel).RevokeProvisioningTokenAsync(
                new RevokeProvisioningTokenRequest { TokenId = parse.GetValue(tokenId)! }, headers);
            return BrokerConnection.Print(revokeConnection.Json(parse), response, () => Console.WriteLine($"token {parse.GetValue(tokenId)} revoked"));
        }));
        return new Command("token", "Provisioning tokens.") { create, list, revoke };
    }

    private static Command Groups()
    {
        var mapConnection = new BrokerConnection();
        var group = new Option<string>("--group") { Description = "Display name of the identity provider's group.", Required = true };
        var product = new Option<string>("--product") { Description = "Product code.", DefaultValueFactory = _ => "remote-support" };
        var type = CommonOptions.Choice("--type", "The seat its members get.", ["NAMED", "CONCURRENT"]);
        type.Required = true;
        var map = new Command("map", "Give the group's members a seat (and take it back when they leave).") { group, product, type };
        mapConnection.AddTo(map);
        map.SetAction((parse, _) => mapConnection.RunAsync(parse, async (channel, headers) =>
        {
            await BrokerConnection.RequireProductAsync(channel, headers, parse.GetValue(product)!);
            var response = await new SeatAdminService.SeatAdminServiceClient(channel).MapProvisioningGroupAsync(
                new MapProvisioningGroupRequest
                {
                    GroupName = parse.GetValue(group)!,
                    Product = parse.GetValue(product)!,
                    SeatType = parse.GetValue(type) == "NAMED" ? SeatType.Named : SeatType.Concurrent,
                },
                headers);
            return BrokerConnection.Print(mapConnection.Json(parse), response, () => Console.WriteLine(
                $"members of '{response.Mapping.GroupName}' get a {response.Mapping.SeatType} seat of {response.Mapping.Product}; {response.SeatsChanged} seat(s) changed now"));
        }));

        var unmapConnection = new BrokerConnection();
        var unmapGroup = new Option<string>("--group") { Description = "Display name of the group.", Required = true };
        var unmapProduct = new Option<string>("--product") { Description = "Product code.", DefaultValueFactory = _ => "remote-support" };
        var unmap = new Command("unmap", "Remove a mapping; members lose the seats only it gave.") { unmapGroup, unmapProduct };
        unmapConnection.AddTo(unmap);
        unmap.SetAction((parse, _) => unmapConnection.RunAsync(parse, async (channel, headers) =>
        {
            var response = await new SeatAdminService.SeatAdminServiceClient(channel).UnmapProvisioningGroupAsync(
                new UnmapProvisioningGroupRequest { GroupName = parse.GetValue(unmapGroup)!, Product = parse.GetValue(unmapProduct)! }, headers);
            return BrokerConnection.Print(unmapConnection.Json(parse), response, () => Console.WriteLine($"'{parse.GetValue(unmapGroup)}' no longer gives seats of {parse.GetValue(unmapProduct)}"));
        }));

        var listConnection = new BrokerConnection();
        var list = new Command("list", "List group mappings.");
        listConnection.AddTo(list);
        list.SetAction((parse, _) => listConnection.RunAsync(parse, async (channel, headers) =>
        {
            var response = await new SeatAdminService.SeatAdminServiceClient(channel).ListProvisioningGroupMappingsAsync(new ListProvisioningGroupMappingsRequest(), headers);
            return BrokerConnection.Print(listConnection.Json(parse), response, () => Table.Print(
                ["GROUP", "PRODUCT", "SEAT", "SINCE"],
                response.Mappings.Select(m => (IReadOnlyList<string>)[m.GroupName, m.Product, m.SeatType.ToString(), Table.Time(m.CreatedAt)])));
        }));
        return new Command("group", "Which identity-provider groups give which seats.") { map, unmap, list };
    }

    private static Command Problems()
    {
        var connection = new BrokerConnection();
        var command = new Command("problems", "Seats the groups give that could not be given yet (given automatically when possible).");
        connection.AddTo(command);
        command.SetAction((parse, _) => connection.RunAsync(parse, async (channel, headers) =>
        {
            var response = await new SeatAdminService.SeatAdminServiceClient(channel).ListProvisioningProblemsAsync(new ListProvisioningProblemsRequest(), headers);
            return BrokerConnection.Print(connection.Json(parse), response, () =>
            {
                Table.Print(
                    ["AGENT", "PRODUCT", "REASON", "SINCE", "DETAIL"],
                    response.Problems.Select(p => (IReadOnlyList<string>)[p.AgentId, p.Product, p.Reason, Table.Time(p.FirstSeen), p.Detail]));
                Console.WriteLine($"{response.Problems.Count} problem(s)");
            });
        }));
        return command;
    }
}
