using Google.Rpc;
using Grpc.Core;
using LicenseBroker.Server.Localization;

namespace LicenseBroker.UnitTests;

/// <summary>Language negotiation and the localized texts of the refusals an agent sees.</summary>
public sealed class AgentMessagesTests
{
    [Theory]
    [InlineData(null, "en")]
    [InlineData("", "en")]
    [InlineData("fr", "fr")]
    [InlineData("fr-FR,fr;q=0.9,en;q=0.8", "fr")]
    [InlineData("de-DE, fr;q=0.5, en;q=0.1", "fr")]
    [InlineData("de-DE, ja;q=0.5", "en")]
    [InlineData("fr;q=0, en", "en")]
    [InlineData("en;q=0.2, fr;q=0.8", "fr")]
    [InlineData(";;;garbage\u0001", "en")]
    public void The_preferred_supported_language_wins(string? acceptLanguage, string expected) =>
        Assert.Equal(expected, AgentMessages.Negotiate(acceptLanguage).Name);

    [Fact]
    public void Every_reason_has_a_french_text_with_the_same_placeholders()
    {
        var english = System.Globalization.CultureInfo.GetCultureInfo("en");
        var french = System.Globalization.CultureInfo.GetCultureInfo("fr");
        string[] reasons = ["ALL_SHARED_SEATS_IN_USE", "NO_SEAT_ASSIGNED", "NO_ACTIVE_SUBSCRIPTION", "LEASE_EXPIRED", "LEASE_REVOKED", "IDLE_RELEASED", "DROPPED_FROM_QUEUE", "DEVICE_NOT_REGISTERED", "RATE_LIMITED", "POOL_RECOVERING", "WAITING"];
        foreach (var reason in reasons)
        {
            var en = AgentMessages.Format(reason, english, new Dictionary<string, string>());
            var fr = AgentMessages.Format(reason, french, new Dictionary<string, string>());
            Assert.NotNull(en);
            Assert.NotNull(fr);
            Assert.NotEqual(en, fr);
            Assert.Equal(Placeholders(en!), Placeholders(fr!));
        }
    }

    [Fact]
    public void A_refusal_gains_a_localized_message_and_keeps_its_english_status_message()
    {
        var info = new ErrorInfo { Reason = "NO_SEAT_ASSIGNED", Domain = "licensebroker.v1" };
        info.Metadata["product"] = "remote-support";
        var refusal = new Google.Rpc.Status { Code = 7, Message = "You have no seat of remote-support.", Details = { Google.Protobuf.WellKnownTypes.Any.Pack(info) } }.ToRpcException();

        var localized = AgentMessages.Localize(refusal, "fr-FR")!.GetRpcStatus()!;
        Assert.Equal("You have no seat of remote-support.", localized.Message);
        var message = localized.GetDetail<LocalizedMessage>()!;
        Assert.Equal("fr", message.Locale);
        Assert.Equal("Vous n’avez aucun poste pour remote-support. Demandez à un administrateur de vous en attribuer un.", message.Message);
    }

    private static string[] Placeholders(string text) =>
        System.Text.RegularExpressions.Regex.Matches(text, @"\{[a-z_]+\}").Select(m => m.Value).Order().ToArray();
}
