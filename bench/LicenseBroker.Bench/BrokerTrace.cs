using System.Diagnostics;
using System.Globalization;

namespace LicenseBroker.Bench;

/// <summary>
/// A CPU profile of the broker during one scenario (--trace "scenario name", ./scripts/bench --trace):
/// dotnet-trace's cpu-sampling profile, written to bench/results/trace-&lt;scenario&gt;.nettrace and
/// converted for speedscope; bench/summarize-trace.py prints where the broker's CPU went.
/// </summary>
internal sealed class BrokerTrace : IDisposable
{
    private readonly Process _process;

    private BrokerTrace(Process process) => _process = process;

    public static async Task<BrokerTrace?> StartAsync(Args options, string scenario, Action<string> log)
    {
        if (options.TraceTool is null || options.BrokerPid <= 0)
        {
            log("--trace needs --trace-tool and --broker-pid");
            return null;
        }

        var output = Path.Combine("bench", "results", "trace-" + string.Concat(scenario.Select(c => char.IsLetterOrDigit(c) ? c : '-')) + ".nettrace");
        var start = new ProcessStartInfo(options.TraceTool)
        {
            ArgumentList = { "collect", "-p", options.BrokerPid.ToString(CultureInfo.InvariantCulture), "--profile", "dotnet-sampled-thread-time,dotnet-common", "--format", "Speedscope", "-o", output, "--duration", TimeSpan.FromSeconds(options.Seconds).ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture) },
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
        };
        var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet-trace did not start");

        // The session is open once the tool says so; the scenario starts then.
        while (await process.StandardOutput.ReadLineAsync() is { } line && !line.Contains("Process", StringComparison.Ordinal))
        {
        }

        log($"tracing the broker to {output}");
        return new BrokerTrace(process);
    }

    public void Dispose()
    {
        _process.WaitForExit(TimeSpan.FromSeconds(60));
        _process.Dispose();
    }
}
