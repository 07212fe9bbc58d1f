using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.Extensions.Caching.Distributed;

namespace LicenseBroker.AdminCenter.Auth;

/// <summary>
/// Keeps sign-in tickets (with the access and refresh tokens) on the server: the browser's cookie
/// holds only a random key. In Redis when configured, so any replica serves any admin.
/// </summary>
public sealed class DistributedTicketStore : ITicketStore
{
    private const string Prefix = "lbadmin:ticket:";
    private readonly IDistributedCache _cache;
    private readonly TimeProvider _time;

    public DistributedTicketStore(IDistributedCache cache, TimeProvider time)
    {
        _cache = cache;
        _time = time;
    }

    public async Task<string> StoreAsync(AuthenticationTicket ticket)
    {
        var key = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        await RenewAsync(key, ticket);
        return key;
    }

    public Task RenewAsync(string key, AuthenticationTicket ticket)
    {
        // The cookie's own expiry (sliding) bounds how long the server keeps the ticket.
        var expires = ticket.Properties.ExpiresUtc ?? _time.GetUtcNow().AddHours(1);
        return _cache.SetAsync(Prefix + key, TicketSerializer.Default.Serialize(ticket), new DistributedCacheEntryOptions { AbsoluteExpiration = expires });
    }

    public async Task<AuthenticationTicket?> RetrieveAsync(string key)
    {
        var bytes = await _cache.GetAsync(Prefix + key);
        return bytes is null ? null : TicketSerializer.Default.Deserialize(bytes);
    }

    public Task RemoveAsync(string key) => _cache.RemoveAsync(Prefix + key);
}
