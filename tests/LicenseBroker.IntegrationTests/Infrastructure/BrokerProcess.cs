using System.Diagnostics;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>
/// A broker in a process of its own (the built server), for tests that must not share the test
/// process with other hosts: process-wide state such as metrics listeners sees every host in it.
/// </summary>
internal sealed class BrokerProcess : IAsyncDisposable
{
    private readonly Process _process;

    private BrokerProcess(Process process, Uri address, string signingKey, GrpcChannel channel)
    {
        _process = process;
        Address = address;
        SigningKey = signingKey;
        Channel = channel;
    }

    public Uri Address { get; }

    public string SigningKey { get; }

    public GrpcChannel Channel { get; }

    /// <param name="settings">Settings as environment variables (Section__Key).</param>
    public static async Task<BrokerProcess> StartAsync(TestDatabase database, IDictionary<string, string> settings)
    {
        var signingKey = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var port = Processes.FreePort();
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(BuildOutputs.Server);
        start.Environment["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{port}";
        start.Environment["Redis__Configuration"] = TestEnvironment.Redis + ",abortConnect=false";
        start.Environment["Redis__KeyPrefix"] = "t" + Guid.NewGuid().ToString("N")[..10] + ":";
        start.Environment["Redis__LayoutSettleTime"] = "00:00:00";
        start.Environment["Postgres__ConnectionString"] = database.ConnectionString;
        start.Environment["Auth__SigningKeys__0"] = signingKey;
        start.Environment["Seats__AcquiresPerPoolPerWindow"] = "0";
        start.Environment["Seats__AcquiresPerAgentPerWindow"] = "0";
        start.Environment["Metrics__Port"] = "0";
        start.Environment["Rest__Port"] = "0";
        foreach (var (key, value) in settings)
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var address = new Uri($"http://127.0.0.1:{port}");
        var channel = GrpcChannel.ForAddress(address);
        var broker = new BrokerProcess(process, address, signingKey, channel);
        try
        {
            await Eventually.Until(
                async () =>
                {
                    try
                    {
                        var health = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(2));
                        return health.Status == HealthCheckResponse.Types.ServingStatus.Serving ? "serving" : null;
                    }
                    catch (RpcException)
                    {
                        return process.HasExited ? throw new InvalidOperationException($"the broker process exited with {process.ExitCode}") : null;
                    }
                },
                TimeSpan.FromSeconds(60),
                "the broker process to serve");
            return broker;
        }
        catch
        {
            await broker.DisposeAsync();
            throw;
        }
    }

    /// <summary>A client acting as one agent of one account.</summary>
    public AgentClient Agent(string accountId, string agentId) =>
        new(Channel, Cli.DevTokens.Mint(SigningKey, accountId, agentId, TimeSpan.FromHours(1)));

    /// <summary>SIGKILL (kill -9): the process ends at once, with whatever it held in memory.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    /// <summary>SIGTERM, as an orchestrator stops a pod.</summary>
    public Task TerminateAsync() => Processes.RunAsync("kill", "-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public Task WaitForExitAsync(CancellationToken cancellationToken) => _process.WaitForExitAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
