using System.Globalization;
using System.Resources;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Microsoft.Net.Http.Headers;

namespace LicenseBroker.Server.Localization;

/// <summary>
/// What an agent sees, in the caller's language (AIP-193): a refusal keeps its English
/// <c>Status.message</c> (for logs and support) and gains a <c>google.rpc.LocalizedMessage</c> in the
/// language the app asked for with <c>accept-language</c>. Texts are in AgentMessages.resx (English)
/// and AgentMessages.fr.resx, keyed by ErrorInfo reason.
/// </summary>
public static class AgentMessages
{
    public static readonly IReadOnlyList<CultureInfo> Supported = [CultureInfo.GetCultureInfo("en"), CultureInfo.GetCultureInfo("fr")];

    private static readonly ResourceManager Texts = new("LicenseBroker.Server.Localization.AgentMessages", typeof(AgentMessages).Assembly);

    /// <summary>The supported language the caller prefers (RFC 9110 accept-language, by weight); English otherwise.</summary>
    public static CultureInfo Negotiate(string? acceptLanguage)
    {
        if (string.IsNullOrWhiteSpace(acceptLanguage) || acceptLanguage.Length > 512
            || !StringWithQualityHeaderValue.TryParseList([acceptLanguage], out var ranges))
        {
            return Supported[0];
        }

        foreach (var range in ranges.Where(r => r.Quality is null or > 0).OrderByDescending(r => r.Quality ?? 1))
        {
            var language = range.Value.Value?.Split('-')[0];
            if (Supported.FirstOrDefault(c => string.Equals(c.Name, language, StringComparison.OrdinalIgnoreCase)) is { } culture)
            {
                return culture;
            }
        }

        return Supported[0];
    }

    /// <summary>The text of <paramref name="key"/> in <paramref name="culture"/> with {name} placeholders filled; null for an unknown key.</summary>
    public static string? Format(string key, CultureInfo culture, IReadOnlyDictionary<string, string> values)
    {
        var template = Texts.GetString(key, culture);
        if (template is null)
        {
            return null;
        }

        foreach (var (name, value) in values)
        {
            template = template.Replace("{" + name + "}", Display(value), StringComparison.Ordinal);
        }

        return template;
    }

    /// <summary>
    /// The same refusal with a LocalizedMessage added, when its reason is one an agent sees;
    /// null when there is nothing to add.
    /// </summary>
    public static RpcException? Localize(RpcException refusal, string? acceptLanguage)
    {
        var status = refusal.GetRpcStatus();
        var info = status?.GetDetail<ErrorInfo>();
        if (status is null || info is null || status.GetDetail<LocalizedMessage>() is not null)
        {
            return null;
        }

        // A reason with a 'why' (LEASE_EXPIRED) has a text per why where the app's user needs another one.
        var culture = Negotiate(acceptLanguage);
        var specific = info.Metadata.TryGetValue("why", out var why) ? Format(info.Reason + "_" + why, culture, info.Metadata) : null;
        if ((specific ?? Format(info.Reason, culture, info.Metadata)) is not { } text)
        {
            return null;
        }

        status.Details.Add(Any.Pack(new LocalizedMessage { Locale = culture.Name, Message = text }));
        return status.ToRpcException();
    }

    // Instants in the metadata are full ISO 8601 (for programs); a person reads "2026-11-30 14:05 UTC",
    // which reads the same in every language (the broker runs without ICU, so no per-culture formats).
    private static string Display(string value) =>
        value.Length >= 20 && DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var instant)
            ? instant.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture)
            : value;
}
