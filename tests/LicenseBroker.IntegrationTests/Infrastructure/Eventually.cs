using System.Diagnostics;

namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>Waits on a condition (polling it), never on a fixed sleep; fails with a message at the deadline.</summary>
internal static class Eventually
{
    public static Task<T> Until<T>(Func<Task<T?>> probe, TimeSpan timeout, string what)
        where T : class => Until(probe, timeout, () => what);

    /// <param name="what">What was awaited, read at the deadline (so it can say what was still missing).</param>
    public static async Task<T> Until<T>(Func<Task<T?>> probe, TimeSpan timeout, Func<string> what)
        where T : class
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (await probe() is { } value)
            {
                return value;
            }

            if (clock.Elapsed > timeout)
            {
                throw new Xunit.Sdk.XunitException($"Timed out after {timeout} waiting for {what()}.");
            }

            await Task.Delay(50);
        }
    }
}
