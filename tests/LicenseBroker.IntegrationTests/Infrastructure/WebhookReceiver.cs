using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StandardWebhooks;

namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>
/// A webhook receiver as a customer would write one: verifies every request with the StandardWebhooks
/// library (not the broker's code) against the secrets it was given, answers 503 while "down".
/// </summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;

    private WebhookReceiver(WebApplication app, string url)
    {
        _app = app;
        Url = url;
    }

    public string Url { get; }

    /// <summary>While true, every request is answered 503 (and not recorded as received).</summary>
    public bool Down { get; set; }

    /// <summary>The secrets a signature may match (the current one, and during a rotation the previous).</summary>
    public ConcurrentBag<string> Secrets { get; } = [];

    public ConcurrentQueue<Received> Accepted { get; } = new();

    public ConcurrentQueue<string> Rejected { get; } = new();

    public int Refused => Volatile.Read(ref _refused);

    private int _refused;

    public sealed record Received(string MessageId, string Body, string Signature, DateTimeOffset At);

    public static async Task<WebhookReceiver> StartAsync()
    {
        var builder = WebApplication.CreateBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Kestrel:Endpoints:Http:Url"] = "http://127.0.0.1:0" });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var app = builder.Build();
        WebhookReceiver? receiver = null;
        app.MapPost("/hook", async (HttpContext context) =>
        {
            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync();
            if (receiver!.Down)
            {
                Interlocked.Increment(ref receiver._refused);
                return Results.StatusCode(503);
            }

            // Any of the known secrets: the Standard Webhooks way of checking a signature.
            var verified = receiver.Secrets.Any(secret =>
            {
                try
                {
                    new StandardWebhook(secret).Verify(body, context.Request.Headers);
                    return true;
                }
                catch (StandardWebhooks.Diagnostics.WebhookVerificationException)
                {
                    return false;
                }
            });
            if (!verified)
            {
                receiver.Rejected.Enqueue(context.Request.Headers["webhook-id"].ToString());
                return Results.StatusCode(400);
            }

            receiver.Accepted.Enqueue(new Received(
                context.Request.Headers["webhook-id"].ToString(), body, context.Request.Headers["webhook-signature"].ToString(), DateTimeOffset.UtcNow));
            return Results.NoContent();
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        receiver = new WebhookReceiver(app, address.TrimEnd('/') + "/hook");
        return receiver;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
