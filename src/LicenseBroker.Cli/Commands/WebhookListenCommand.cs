using System.CommandLine;
using System.Net;
using System.Text.Json;

namespace LicenseBroker.Cli.Commands;

/// <summary>
/// `webhooks listen`: a receiver for development on this machine (http://127.0.0.1:PORT/), printing each message
/// it gets — type, the pool's sequence, agent, lease, webhook-id. It does not check signatures (a receiver in
/// production does, with a Standard Webhooks library and the endpoint's secret). It answers 204, so the broker
/// counts each message delivered. The broker must allow it: ./scripts/run does (Webhooks:AllowHttp, 127.0.0.0/8).
/// </summary>
internal static class WebhookListenCommand
{
    public static Command Create()
    {
        var port = new Option<int>("--port") { Description = "Port on 127.0.0.1 to listen on.", DefaultValueFactory = _ => 5099 };
        var count = new Option<int?>("--count") { Description = "Stop after this many messages (default: until Ctrl-C); exit code 4 if fewer arrived before --for ended." };
        var duration = CommonOptions.Duration("--for", "Stop after this long (default: until Ctrl-C)");
        var command = new Command("listen", "Receive webhooks on http://127.0.0.1:PORT/ and print them (development).") { port, count, duration };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            if (parse.GetValue(duration) is { } limit)
            {
                stop.CancelAfter(limit);
            }

            using var listener = new HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{parse.GetValue(port)}/");
            try
            {
                listener.Start();
            }
            catch (HttpListenerException ex)
            {
                await Console.Error.WriteLineAsync($"cannot listen on 127.0.0.1:{parse.GetValue(port)}: {ex.Message}");
                return ExitCodes.Usage;
            }

            Console.WriteLine($"listening on http://127.0.0.1:{parse.GetValue(port)}/ (Ctrl-C to stop)");
            using var registration = stop.Token.Register(listener.Stop);
            var received = 0;
            var wanted = parse.GetValue(count);
            while (wanted is null || received < wanted)
            {
                HttpListenerContext context;
                try
                {
                    context = await listener.GetContextAsync();
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException && stop.IsCancellationRequested)
                {
                    break;
                }

                using var reader = new StreamReader(context.Request.InputStream);
                var body = await reader.ReadToEndAsync(stop.Token);
                context.Response.StatusCode = 204;
                context.Response.Close();
                received++;
                Console.WriteLine($"{Describe(body)}  ({context.Request.Headers["webhook-id"]})");
            }

            if (wanted is { } expected && received < expected)
            {
                await Console.Error.WriteLineAsync($"only {received} of {expected} messages arrived");
                return ExitCodes.NotFound;
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>"seat.granted #1733...000 carol ls_…": what a person reading the terminal looks for.</summary>
    private static string Describe(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            var data = root.GetProperty("data");
            string Field(string name) => data.TryGetProperty(name, out var value) ? value.ToString() : "-";
            return $"{root.GetProperty("type").GetString()}  sequence {Field("sequence")}  agent {Field("agent_id")}  lease {Field("lease_id")}";
        }
        catch (JsonException)
        {
            return "(not JSON) " + (body.Length > 80 ? body[..80] : body);
        }
    }
}
