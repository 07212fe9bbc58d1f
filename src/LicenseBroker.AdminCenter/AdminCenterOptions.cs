using System.ComponentModel.DataAnnotations;

namespace LicenseBroker.AdminCenter;

/// <summary>Section "AdminCenter": where the broker is, how admins sign in, how long a session lives.</summary>
public sealed class AdminCenterOptions : IValidatableObject
{
    public const string SectionName = "AdminCenter";

    /// <summary>The broker's gRPC address, e.g. http://127.0.0.1:5080.</summary>
    [Required]
    public Uri? BrokerUrl { get; set; }

    /// <summary>OpenID Connect sign-in: the same identity provider that issues the broker's tokens.</summary>
    public OidcSignInOptions Oidc { get; set; } = new();

    /// <summary>Development sign-in (./scripts/run only): pick a person of one account, signed with the dev key.</summary>
    public DevSignInOptions DevSignIn { get; set; } = new();

    /// <summary>A session unused this long ends (sliding).</summary>
    [Range(typeof(TimeSpan), "00:01:00", "12:00:00")]
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(20);

    /// <summary>Optional Redis for sessions and data-protection keys, so several replicas share them.
    /// Without it, sessions live in this process (one replica, or sticky sessions).</summary>
    public string? Redis { get; set; }

    /// <summary>Sessions shown per page on "Shared sessions".</summary>
    [Range(10, 1000)]
    public int SessionsPageSize { get; set; } = 100;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Oidc.Authority is null && !DevSignIn.Enabled)
        {
            yield return new ValidationResult("Set AdminCenter:Oidc:Authority (and ClientId), or enable AdminCenter:DevSignIn for local development.");
        }

        if (Oidc.Authority is not null && string.IsNullOrWhiteSpace(Oidc.ClientId))
        {
            yield return new ValidationResult("AdminCenter:Oidc:ClientId is required with an authority.", [nameof(Oidc)]);
        }

        if (DevSignIn.Enabled && (string.IsNullOrWhiteSpace(DevSignIn.SigningKey) || string.IsNullOrWhiteSpace(DevSignIn.AccountId)))
        {
            yield return new ValidationResult("AdminCenter:DevSignIn needs SigningKey (the broker's dev key) and AccountId.", [nameof(DevSignIn)]);
        }
    }
}

public sealed class OidcSignInOptions
{
    /// <summary>The identity provider (issuer) URL; null turns OpenID Connect sign-in off.</summary>
    public Uri? Authority { get; set; }

    public string? ClientId { get; set; }

    /// <summary>Confidential client secret; give it through the environment, never in a file.</summary>
    public string? ClientSecret { get; set; }

    /// <summary>Scopes asked for besides openid and profile; offline_access gives a refresh token.</summary>
    public List<string> Scopes { get; set; } = ["offline_access"];

    /// <summary>Fetch the provider's metadata over HTTPS only (turn off only for a local test provider).</summary>
    public bool RequireHttpsMetadata { get; set; } = true;

    /// <summary>The claim of the access token that names the account (as the broker reads it).</summary>
    public string AccountClaim { get; set; } = "account_id";
}

public sealed class DevSignInOptions
{
    /// <summary>Off unless set; the app refuses to start with it on a non-loopback address.</summary>
    public bool Enabled { get; set; }

    /// <summary>The broker's development signing key (base64), as in Auth:SigningKeys.</summary>
    public string? SigningKey { get; set; }

    /// <summary>The account whose people are offered.</summary>
    public string? AccountId { get; set; }

    public string Issuer { get; set; } = "licensebroker-dev";

    public string Audience { get; set; } = "licensebroker";
}
