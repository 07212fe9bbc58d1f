using System.Diagnostics;
using HdrHistogram;

namespace LicenseBroker.Bench;

/// <summary>Result of one scenario.</summary>
internal sealed record ScenarioResult(string Name, long Calls, TimeSpan Elapsed, LongHistogram Latency, string Note = "")
{
    public double PerSecond => Calls / Elapsed.TotalSeconds;

    public double Percentile(double p) => Latency.GetValueAtPercentile(p) / (double)TimeSpan.TicksPerMillisecond;

    public string Row(double baseline, double redisPerCall, double postgresPerCall, double brokerCpuMicros, double redisMicros) =>
        $"| {Name} | {PerSecond:N0} | {(baseline > 0 ? PerSecond / baseline : 0):P0} | {Percentile(50):F2} | {Percentile(99):F2} | {Percentile(99.9):F2} | {Figure(redisPerCall, "F2")} | {Figure(postgresPerCall, "F3")} | {Figure(brokerCpuMicros, "F1")} | {Figure(redisMicros, "F1")} | {Note} |";

    private static string Figure(double value, string format) => double.IsNaN(value) ? "—" : value.ToString(format, System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>Closed-loop and open-loop drivers.</summary>
internal static class Measure
{
    public static LongHistogram NewHistogram() => new(TimeSpan.TicksPerSecond * 30, 3);

    /// <summary>Closed loop: <paramref name="workers"/> callers, each calling as fast as answers come, for a duration.</summary>
    public static async Task<ScenarioResult> ClosedLoopAsync(string name, int workers, TimeSpan duration, Func<int, long, Task> call, string note = "")
    {
        var histogram = NewHistogram();
        long calls = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            var local = NewHistogram();
            long i = 0;
            while (clock.Elapsed < duration)
            {
                var start = Stopwatch.GetTimestamp();
                await call(w, i++);
                local.RecordValue(Stopwatch.GetElapsedTime(start).Ticks);
            }

            lock (histogram)
            {
                histogram.Add(local);
                calls += i;
            }
        })));
        return new ScenarioResult(name, calls, clock.Elapsed, histogram, note);
    }

    /// <summary>
    /// Open loop at a fixed total rate: call k is due at start + k/rate, and its latency counts from
    /// that due time, so queueing shows in the percentiles (no coordinated omission).
    /// </summary>
    public static Task<ScenarioResult> OpenLoopAsync(string name, double ratePerSecond, TimeSpan duration, Func<long, Task> call, string note = "") =>
        OpenLoopAsync(name, ratePerSecond, duration, (k, _) => call(k), note);

    /// <summary>
    /// The same open loop, for a call that does more than the operation it measures (an untimed
    /// clean-up after it): the call invokes the given action when the measured part is done.
    /// </summary>
    public static async Task<ScenarioResult> OpenLoopAsync(string name, double ratePerSecond, TimeSpan duration, Func<long, Action, Task> call, string note = "")
    {
        var histogram = NewHistogram();
        var lag = NewHistogram();
        // Latency by the second the call was due in: where in the run a tail comes from (printed to the log).
        var bySecond = Enumerable.Range(0, (int)Math.Ceiling(duration.TotalSeconds) + 1).Select(_ => NewHistogram()).ToArray();
        var total = (long)(ratePerSecond * duration.TotalSeconds);
        var clock = Stopwatch.StartNew();
        var pending = new List<Task>((int)Math.Min(total, 1_000_000));

        async Task Timed(long index, TimeSpan due)
        {
            var started = clock.Elapsed;
            TimeSpan? measuredEnd = null;
            await call(index, () => measuredEnd = clock.Elapsed);
            var latency = (measuredEnd ?? clock.Elapsed) - due;
            lock (histogram)
            {
                histogram.RecordValue(Math.Max(0, latency.Ticks));
                lag.RecordValue(Math.Max(0, (started - due).Ticks));
                bySecond[Math.Min((int)due.TotalSeconds, bySecond.Length - 1)].RecordValue(Math.Max(0, latency.Ticks));
            }
        }

        // The schedule is kept by a thread of its own that sleeps in 1 ms steps and starts every call
        // that is due in place (a call runs synchronously only until it is sent): no timer or
        // thread-pool queue stands between a call's due time and its sending.
        var pacer = new Thread(() =>
        {
            for (long k = 0; k < total; k++)
            {
                var due = TimeSpan.FromSeconds(k / ratePerSecond);
                while (due - clock.Elapsed > TimeSpan.FromMilliseconds(0.5))
                {
                    Thread.Sleep(1);
                }

                pending.Add(Timed(k, due));
            }
        })
        { IsBackground = true, Name = "open-loop pacer", Priority = ThreadPriority.AboveNormal };
        pacer.Start();
        await Task.Run(pacer.Join);
        await Task.WhenAll(pending);

        static double Ms(long ticks) => ticks / (double)TimeSpan.TicksPerMillisecond;
        for (var second = 0; second < bySecond.Length; second++)
        {
            if (bySecond[second].TotalCount > 0)
            {
                var h = bySecond[second];
                Console.Error.WriteLine($"  {name}, second {second}: {h.TotalCount} calls, p50 {Ms(h.GetValueAtPercentile(50)):F2} ms, p99 {Ms(h.GetValueAtPercentile(99)):F2} ms, max {Ms(h.GetMaxValue()):F2} ms");
            }
        }

        // How late the generator itself started calls (its share of the latency on a shared machine).
        var lagNote = $"generator start lag p50 {lag.GetValueAtPercentile(50) / (double)TimeSpan.TicksPerMillisecond:F2} ms, p99 {lag.GetValueAtPercentile(99) / (double)TimeSpan.TicksPerMillisecond:F2} ms";
        return new ScenarioResult(name, total, clock.Elapsed, histogram, note.Length > 0 ? $"{note}; {lagNote}" : lagNote);
    }
}
