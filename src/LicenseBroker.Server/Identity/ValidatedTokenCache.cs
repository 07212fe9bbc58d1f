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
public sealed class ValidatedTokenCache : TokenHandler, IDisposable
{
    private readonly TokenHandler _inner;
    private readonly TimeProvider _time;
    private readonly TimeSpan _lifetime;
    private readonly MemoryCache _validated;

    public ValidatedTokenCache(TokenHandler inner, TimeProvider time, TimeSpan lifetime, int capacity)
    {
        _inner = inner;
        _time = time;
        _lifetime = lifetime;
        _validated = new MemoryCache(new MemoryCacheOptions { SizeLimit = capacity, CompactionPercentage = 0.25 });
    }

    public override async Task<TokenValidationResult> ValidateTokenAsync(string token, TokenValidationParameters validationParameters)
    {
        var now = _time.GetUtcNow();
        if (_validated.TryGetValue(token, out Entry? entry) && now < entry!.ValidUntil)
        {
            return new TokenValidationResult
            {
                IsValid = true,
                ClaimsIdentity = entry.Result.ClaimsIdentity.Clone(),
                SecurityToken = entry.Result.SecurityToken,
            };
        }

        var result = await _inner.ValidateTokenAsync(token, validationParameters);
        if (result.IsValid && _lifetime > TimeSpan.Zero)
        {
            var expires = result.SecurityToken.ValidTo == DateTime.MinValue ? now + _lifetime : new DateTimeOffset(result.SecurityToken.ValidTo, TimeSpan.Zero);
            var validUntil = Min(expires, now + _lifetime);
            if (validUntil > now)
            {
                _validated.Set(token, new Entry(result, validUntil), new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = validUntil - now });
            }
        }

        return result;
    }

    public override SecurityToken ReadToken(string token) => _inner.ReadToken(token);

    public void Dispose() => _validated.Dispose();

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    private sealed record Entry(TokenValidationResult Result, DateTimeOffset ValidUntil);
}
