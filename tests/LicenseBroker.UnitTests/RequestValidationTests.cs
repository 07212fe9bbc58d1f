using Google.Rpc;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.Server.Grpc;

namespace LicenseBroker.UnitTests;

public sealed class RequestValidationTests
{
    [Theory]
    [InlineData("remote-support", true)]
    [InlineData("monitoring", true)]
    [InlineData("", false)]
    [InlineData("Remote-Support", false)]
    [InlineData("remote support", false)]
    [InlineData("{x}", false)]
    public void Product_codes(string product, bool valid)
    {
        var validation = new RequestValidation().Product(product);
        if (valid)
        {
            validation.ThrowIfInvalid();
        }
        else
        {
            Assert.Equal("product", Violations(validation).Single().Field);
        }
    }

    [Fact]
    public void Paging_is_read_from_a_previous_token_and_bounded()
    {
        new RequestValidation().Page(null, out var first).ThrowIfInvalid();
        Assert.Equal(new PageQuery(null, RequestValidation.DefaultPageSize), first);

        var token = AdminMapping.EncodePageToken("00000000000042:lease-7");
        new RequestValidation().Page(new PageRequest { PageSize = 5, PageToken = token }, out var next).ThrowIfInvalid();
        Assert.Equal(new PageQuery("00000000000042:lease-7", 5), next);

        foreach (var bad in new[] { "not base64!", new string('A', 513) })
        {
            var validation = new RequestValidation().Page(new PageRequest { PageToken = bad }, out _);
            Assert.Equal("page.page_token", Violations(validation).Single().Field);
        }

        var tooLarge = new RequestValidation().Page(new PageRequest { PageSize = RequestValidation.MaxPageSize + 1 }, out _);
        Assert.Equal("page.page_size", Violations(tooLarge).Single().Field);
    }

    [Theory]
    [InlineData("alice@demo.example", true)]
    [InlineData("a", true)]
    [InlineData("", false)]
    [InlineData("has space", false)]
    [InlineData("brace}", false)]
    [InlineData("new\nline", false)]
    public void Ids(string id, bool valid)
    {
        var validation = new RequestValidation().Id(id, "session_id");
        if (valid)
        {
            validation.ThrowIfInvalid();
        }
        else
        {
            Assert.Equal("session_id", Violations(validation).Single().Field);
        }
    }

    [Fact]
    public void Ids_longer_than_128_characters_are_refused()
    {
        Assert.Single(Violations(new RequestValidation().Id(new string('a', 129), "id")));
        new RequestValidation().Id(new string('a', 128), "id").ThrowIfInvalid();
    }

    [Fact]
    public void Every_violation_is_reported_at_once_as_invalid_argument()
    {
        var validation = new RequestValidation()
            .Product("")
            .Device(new Device { Id = "", Platform = Platform.Unspecified })
            .SessionKind(SessionKind.Unspecified);
        var error = Assert.Throws<RpcException>(validation.ThrowIfInvalid);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal(["product", "device.id", "device.platform", "session_kind"], Violations(validation).Select(v => v.Field));
    }

    [Fact]
    public void Out_of_range_enum_values_are_refused()
    {
        Assert.Single(Violations(new RequestValidation().SessionKind((SessionKind)42)));
    }

    private static Google.Protobuf.Collections.RepeatedField<BadRequest.Types.FieldViolation> Violations(RequestValidation validation)
    {
        var error = Assert.Throws<RpcException>(validation.ThrowIfInvalid);
        return error.GetRpcStatus()!.GetDetail<BadRequest>()!.FieldViolations;
    }
}
