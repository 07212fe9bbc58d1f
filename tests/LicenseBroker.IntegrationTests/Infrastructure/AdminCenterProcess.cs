using System.Diagnostics;
using System.Text;

namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>The Admin Center run as its own process from its build output, as ./scripts/run serves it.</summary>
internal sealed class AdminCenterProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output;

    private AdminCenterProcess(Process process, Uri address, StringBuilder output)
    {
        _process = process;
        Address = address;
        _output = output;
    }

    public Uri Address { get; }

    /// <summary>What the process wrote so far (for failure messages).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>The process id, to read its memory from /proc.</summary>
    public int ProcessId => _process.Id;

    public int ExitCode => _process.ExitCode;

    /// <summary>Starts it; with <paramref name="waitUntilServing"/> false, returns at once (to watch it refuse to start).</summary>
    public static async Task<AdminCenterProcess> StartAsync(int port, IDictionary<string, string> settings, bool waitUntilServing = true, string host = "127.0.0.1")
    {
        var start = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,

            // The content root holds wwwroot (the stylesheet), as in ./scripts/run.
            WorkingDirectory = Path.Combine(BuildOutputs.RepositoryRoot, "src", "LicenseBroker.AdminCenter"),
        };
        start.ArgumentList.Add(BuildOutputs.AdminCenter);
        start.Environment["ASPNETCORE_URLS"] = $"http://{host}:{port}";
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        foreach (var (key, value) in settings)
        {
            start.Environment[key] = value;
        }

        var output = new StringBuilder();
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var console = new AdminCenterProcess(process, new Uri($"http://127.0.0.1:{port}/"), output);
        if (!waitUntilServing)
        {
            return console;
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        try
        {
            await Eventually.Until(
                async () =>
                {
                    if (process.HasExited)
                    {
                        throw new InvalidOperationException($"the Admin Center exited with {process.ExitCode}: {console.Output}");
                    }

                    try
                    {
                        return (await http.GetAsync(new Uri(console.Address, "healthz"))).IsSuccessStatusCode ? "serving" : null;
                    }
                    catch (HttpRequestException)
                    {
                        return null;
                    }
                    catch (TaskCanceledException)
                    {
                        return null;
                    }
                },
                TimeSpan.FromSeconds(60),
                "the Admin Center to serve");
            return console;
        }
        catch
        {
            await console.DisposeAsync();
            throw;
        }
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.AppendLine(line);
        }
    }

    public Task WaitForExitAsync(CancellationToken cancellationToken) => _process.WaitForExitAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
