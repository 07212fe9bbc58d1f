using System.Net;
using System.Net.Sockets;

namespace LicenseBroker.Server.Webhooks;

/// <summary>
/// Where the broker may send a webhook: https (http only when allowed for development), no user info,
/// and never into loopback, private, link-local, carrier-grade NAT, multicast or unspecified addresses
/// unless the operator allowed that network, so a tenant cannot aim the broker at internal services
/// (cloud metadata, databases, the broker itself). Checked when an admin sets the URL, and again on
/// every connection with the address actually dialled, so a DNS answer that changes later (DNS
/// rebinding) reaches nothing internal either.
/// </summary>
public sealed class WebhookTargets
{
    // Hand-written (a handful of well-known ranges) rather than a package: System.Net.IPNetwork does the matching.
    private static readonly IPNetwork[] Internal =
    [
        IPNetwork.Parse("0.0.0.0/8"), IPNetwork.Parse("10.0.0.0/8"), IPNetwork.Parse("100.64.0.0/10"), IPNetwork.Parse("127.0.0.0/8"),
        IPNetwork.Parse("169.254.0.0/16"), IPNetwork.Parse("172.16.0.0/12"), IPNetwork.Parse("192.0.0.0/24"), IPNetwork.Parse("192.168.0.0/16"),
        IPNetwork.Parse("198.18.0.0/15"), IPNetwork.Parse("224.0.0.0/4"), IPNetwork.Parse("240.0.0.0/4"),
        IPNetwork.Parse("::/128"), IPNetwork.Parse("::1/128"), IPNetwork.Parse("fc00::/7"), IPNetwork.Parse("fe80::/10"), IPNetwork.Parse("ff00::/8"),
        IPNetwork.Parse("64:ff9b::/96"),
    ];

    private readonly WebhookOptions _options;
    private readonly IReadOnlyList<IPNetwork> _allowed;

    public WebhookTargets(WebhookOptions options)
    {
        _options = options;
        _allowed = options.AllowedNetworks;
    }

    /// <summary>Why the URL may not be used (in words, for the admin), or null when it may.</summary>
    public async Task<string?> RefusalAsync(string url, CancellationToken cancellationToken)
    {
        if (url.Length > 2000 || !Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            return "must be an absolute URL of at most 2000 characters";
        }

        if (uri.Scheme != Uri.UriSchemeHttps && !(uri.Scheme == Uri.UriSchemeHttp && _options.AllowHttp))
        {
            return _options.AllowHttp ? "must be an http or https URL" : "must be an https URL";
        }

        if (uri.UserInfo.Length > 0 || uri.Fragment.Length > 0)
        {
            return "must not carry user information or a fragment";
        }

        IPAddress[] addresses;
        try
        {
            // A name that takes long to resolve is answered as not resolving: the call must not hang on DNS.
            using var lookup = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            lookup.CancelAfter(TimeSpan.FromSeconds(3));
            addresses = IPAddress.TryParse(uri.IdnHost, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(uri.IdnHost, lookup.Token);
        }
        catch (Exception ex) when (ex is SocketException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return $"names a host that does not resolve ({uri.IdnHost})";
        }

        return addresses.Length == 0 ? $"names a host that does not resolve ({uri.IdnHost})"
            : addresses.FirstOrDefault(a => !IsAllowed(a)) is { } blocked ? $"points into an internal network ({blocked}), which webhooks may not reach"
            : null;
    }

    /// <summary>True when the broker may connect to the address.</summary>
    public bool IsAllowed(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        return _allowed.Any(n => n.Contains(address)) || !Internal.Any(n => n.Contains(address));
    }

    /// <summary>
    /// The HTTP handler deliveries go through: it dials only allowed addresses (resolving itself, so
    /// the address checked is the address used), follows no redirect and sends no cookies.
    /// </summary>
    public SocketsHttpHandler CreateHandler() => new()
    {
        AllowAutoRedirect = false,
        UseCookies = false,
        UseProxy = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        ConnectTimeout = _options.RequestTimeout,
        ConnectCallback = async (context, cancellationToken) =>
        {
            var host = context.DnsEndPoint.Host;
            var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken);
            var target = addresses.FirstOrDefault(IsAllowed)
                ?? throw new HttpRequestException($"{host} resolves only to internal addresses, which webhooks may not reach.");
            var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(target, context.DnsEndPoint.Port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };
}
