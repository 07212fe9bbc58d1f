using Microsoft.Extensions.Caching.Memory;
using Microsoft.IdentityModel.Tokens;

namespace LicenseBroker.Server.Identity;

/// <summary>
/// Remembers tokens that passed validation. An agent app sends the same token with every heartbeat
/// for the token's whole life, and verifying it (parse, HMAC or RSA, claims) costs more than the
/// seat decision itself (BENCHMARKS.md, profile). The key is the whole token string, signature
/// included, so a token that differs in any byte is validated afresh; an entry lives at most
/// <see cref="AuthOptions.ValidatedTokenLifetime"/> and never past the token's expiry, and only
/// successes are kept. Every hit gets its own copy of the claims.
/// </summary>
public sealed class ValidatedTokenCache(TokenHandler inner, TimeProvider time, TimeSpan lifetime, int capacity) : TokenHandler, IDisposable
{
    private readonly MemoryCache _validated = new(new MemoryCacheOptions { SizeLimit = capacity, CompactionPercentage = 0.25 });

    public override async Task<TokenValidationResult> ValidateTokenAsync(string token, TokenValidationParameters validationParameters)
    {
        var now = time.GetUtcNow();
        if (_validated.TryGetValue(token, out Entry? entry) && now < entry!.ValidUntil)
        {
            return new TokenValidationResult
            {
                IsValid = true,
                ClaimsIdentity = entry.Identity.Clone(),
                SecurityToken = entry.Token,
            };
        }

        var result = await inner.ValidateTokenAsync(token, validationParameters);
        if (result.IsValid && lifetime > TimeSpan.Zero)
        {
            var expires = result.SecurityToken.ValidTo == DateTime.MinValue ? now + lifetime : new DateTimeOffset(result.SecurityToken.ValidTo, TimeSpan.Zero);
            var validUntil = Min(expires, now + lifetime);
            if (validUntil > now)
            {
                // A copy of its own: the first caller's principal wraps the original.
                _validated.Set(token, new Entry(result.ClaimsIdentity.Clone(), result.SecurityToken, validUntil), new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = validUntil - now });
            }
        }

        return result;
    }

    public override SecurityToken ReadToken(string token) => inner.ReadToken(token);

    public void Dispose() => _validated.Dispose();

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    private sealed record Entry(System.Security.Claims.ClaimsIdentity Identity, SecurityToken Token, DateTimeOffset ValidUntil);
}
