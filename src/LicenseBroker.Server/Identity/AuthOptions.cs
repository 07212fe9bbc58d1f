namespace LicenseBroker.Server.Identity;

/// <summary>Section "Auth" of the settings: how bearer tokens are validated.</summary>
public sealed class AuthOptions
{
    public const string SectionName = "Auth";

    /// <summary>Expected `iss` of every token.</summary>
    public string Issuer { get; set; } = "licensebroker-dev";

    /// <summary>Expected `aud` of every token.</summary>
    public string Audience { get; set; } = "licensebroker";

    /// <summary>Claim that carries the caller's account id.</summary>
    public string AccountClaim { get; set; } = "account_id";

    /// <summary>
    /// HMAC-SHA256 signing keys, base64, at least 32 bytes each. Several keys allow rotation:
    /// tokens signed by any of them are accepted. Never committed: give them through the
    /// environment (Auth__SigningKeys__0=...), as ./scripts/run does with a generated key.
    /// </summary>
    public List<string> SigningKeys { get; set; } = [];

    /// <summary>
    /// OpenID Connect authority (e.g. https://login.example.com/realms/support). When set, signing
    /// keys come from its JWKS and are rotated as the authority rotates them; SigningKeys may stay empty.
    /// </summary>
    public string? Authority { get; set; }

    /// <summary>Fetch the authority's metadata over HTTPS only (turn off only for a local test authority).</summary>
    public bool RequireHttpsMetadata { get; set; } = true;

    /// <summary>Back-office callers (SubscriptionService, EntitlementService) must also present a client certificate (mTLS).</summary>
    public bool RequireClientCertificateForServices { get; set; }

    /// <summary>Tolerated difference between the token issuer's clock and ours.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a token that passed validation is remembered, so that an agent's heartbeats do not
    /// verify the same signature every time (bounded by the token's own expiry). It is also how long
    /// a token signed by a key the authority has withdrawn may still be accepted. Zero turns it off.
    /// </summary>
    public TimeSpan ValidatedTokenLifetime { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>At most this many validated tokens are remembered (about 2 KB each).</summary>
    public int ValidatedTokenCacheSize { get; set; } = 50_000;
}
