using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>Helpers to run the real server binaries that ./scripts/test installs, for fault injection.</summary>
internal static class Processes
{
    /// <summary>
    /// A free loopback port below the kernel's ephemeral range: a test server that is killed and
    /// restarted on the same port must not find it taken by some outgoing connection meanwhile.
    /// </summary>
    public static int FreePort()
    {
        var ephemeralLow = EphemeralRangeLow();
        for (var attempt = 0; attempt < 500; attempt++)
        {
            var port = Random.Shared.Next(12_000, ephemeralLow);
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
            }
        }

        throw new InvalidOperationException("No free loopback port below the ephemeral range.");
    }

    private static int EphemeralRangeLow()
    {
        const string RangeFile = "/proc/sys/net/ipv4/ip_local_port_range";
        var text = File.Exists(RangeFile) ? File.ReadAllText(RangeFile) : "";
        return int.TryParse(text.Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries).FirstOrDefault(), out var low) && low > 20_000
            ? low
            : 32_768;
    }

    public static async Task<string> RunAsync(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({process.ExitCode}): {await error}{await output}");
        }

        return await output;
    }

    public static bool IsRoot => Environment.UserName == "root";
}

/// <summary>A redis-server of one test's own, which the test may kill and restart.</summary>
internal sealed class RedisServerProcess : IAsyncDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "lbt-redis-" + Guid.NewGuid().ToString("N")[..8]);
    private Process? _process;

    public int Port { get; } = Processes.FreePort();

    public string Configuration => $"127.0.0.1:{Port},abortConnect=false,connectTimeout=1000,asyncTimeout=1000,connectRetry=1";

    /// <param name="persistence">AOF on (appendfsync everysec) when true; nothing kept across restarts when false.</param>
    public async Task StartAsync(bool persistence)
    {
        Directory.CreateDirectory(_directory);
        var start = new ProcessStartInfo("redis-server") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "--bind", "127.0.0.1", "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--dir", _directory, "--save", "", "--appendonly", persistence ? "yes" : "no" })
        {
            start.ArgumentList.Add(arg);
        }

        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }
    }

    /// <summary>kill -9: no shutdown, no final save.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A PostgreSQL cluster of one test's own (initdb), which the test may stop and start.</summary>
internal sealed class PostgresServerProcess : IAsyncDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "lbt-pg-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly string _bin = Environment.GetEnvironmentVariable("LB_TEST_PG_BIN") is { Length: > 0 } bin
        ? bin
        : throw new InvalidOperationException("LB_TEST_PG_BIN is not set; run the suite with ./scripts/test.");

    public int Port { get; } = Processes.FreePort();

    public string ConnectionString => $"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres;Timeout=2;Command Timeout=5";

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_directory);
        if (Processes.IsRoot)
        {
            await Processes.RunAsync("chown", "postgres", _directory);
        }

        await AsOwner(Path.Combine(_bin, "initdb"), "-D", Path.Combine(_directory, "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8");
        await StartAsync();
    }

    public Task StartAsync() => AsOwner(
        Path.Combine(_bin, "pg_ctl"), "-D", Path.Combine(_directory, "data"), "-l", Path.Combine(_directory, "server.log"), "-w", "-t", "30",
        "-o", $"-c listen_addresses=127.0.0.1 -p {Port} -k {_directory} -c fsync=off", "start");

    public Task StopAsync() => AsOwner(Path.Combine(_bin, "pg_ctl"), "-D", Path.Combine(_directory, "data"), "-m", "fast", "-w", "stop");

    public async ValueTask DisposeAsync()
    {
        try
        {
            await AsOwner(Path.Combine(_bin, "pg_ctl"), "-D", Path.Combine(_directory, "data"), "-m", "immediate", "-w", "stop");
        }
        catch (InvalidOperationException)
        {
            // Already stopped.
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static Task<string> AsOwner(string file, params string[] args) =>
        Processes.IsRoot ? Processes.RunAsync("runuser", ["-u", "postgres", "--", file, .. args]) : Processes.RunAsync(file, args);
}
