using System.Net;

namespace LicenseBroker.Server.Webhooks;

/// <summary>Webhook delivery (section "Webhooks"), validated at start.</summary>
public sealed class WebhookOptions
{
    public const string SectionName = "Webhooks";

    /// <summary>Plain http endpoints are accepted (development only: secrets and events would travel in clear).</summary>
    public bool AllowHttp { get; set; }

    /// <summary>
    /// Networks (CIDR) an endpoint may point into although they are loopback, private, link-local or
    /// otherwise internal: by default none, so a tenant cannot aim the broker at internal services.
    /// </summary>
    public List<string> AllowedInternalNetworks { get; set; } = [];

    /// <summary>How often each replica looks for messages to deliver.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The first retry's delay; each next one doubles it (full jitter), up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan FirstRetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long a message is retried before its endpoint is marked failing.</summary>
    public TimeSpan RetryFor { get; set; } = TimeSpan.FromDays(1);

    /// <summary>One delivery's time limit.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Endpoints served at once per replica (one message of an endpoint in flight at a time).</summary>
    public int Concurrency { get; set; } = 16;

    /// <summary>
    /// Messages of one endpoint a claim takes, sent one after the other in order over the same connection: a
    /// backlog drains without a claim per message.
    /// </summary>
    public int MessagesPerClaim { get; set; } = 50;

    /// <summary>How long the previous secret keeps signing after a rotation.</summary>
    public TimeSpan RotationOverlap { get; set; } = TimeSpan.FromHours(24);

    public IReadOnlyList<IPNetwork> AllowedNetworks => AllowedInternalNetworks.Select(IPNetwork.Parse).ToList();

    public void Validate()
    {
        foreach (var network in AllowedInternalNetworks)
        {
            if (!IPNetwork.TryParse(network, out _))
            {
                throw new InvalidOperationException($"{SectionName}:AllowedInternalNetworks: '{network}' is not a network in CIDR form (e.g. 10.1.0.0/16).");
            }
        }

        if (PollInterval < TimeSpan.FromMilliseconds(10) || PollInterval > TimeSpan.FromMinutes(1)
            || FirstRetryDelay < TimeSpan.FromMilliseconds(10) || MaxRetryDelay < FirstRetryDelay || RetryFor < FirstRetryDelay
            || RequestTimeout < TimeSpan.FromMilliseconds(100) || RequestTimeout > TimeSpan.FromMinutes(1) || RotationOverlap > TimeSpan.FromDays(7))
        {
            throw new InvalidOperationException($"{SectionName}: PollInterval 10 ms-1 min, FirstRetryDelay ≥ 10 ms, MaxRetryDelay and RetryFor ≥ FirstRetryDelay, RequestTimeout 100 ms-1 min, RotationOverlap ≤ 7 days.");
        }

        if (MessagesPerClaim is < 1 or > 1000)
        {
            throw new InvalidOperationException($"{SectionName}:MessagesPerClaim must be between 1 and 1000 (is {MessagesPerClaim}).");
        }

        if (Concurrency is < 1 or > 256)
        {
            throw new InvalidOperationException($"{SectionName}:Concurrency must be between 1 and 256 (is {Concurrency}).");
        }
    }
}
