namespace LicenseBroker.Server.Hosting;

/// <summary>Section "Warmup": the synthetic seat calls a replica makes before it listens (see <see cref="RequestPathWarmup"/>).</summary>
public sealed class WarmupOptions
{
    public const string SectionName = "Warmup";

    /// <summary>
    /// Rounds of synthetic calls (each: a shared-seat acquire, its heartbeat and release, a named seat, a refusal).
    /// Zero turns the warm-up off.
    /// </summary>
    public int Rounds { get; set; } = 150;

    /// <summary>The longest the start waits for the warm-up; a replica that could not finish it starts anyway.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(20);

    public void Validate()
    {
        if (Rounds is < 0 or > 10_000)
        {
            throw new InvalidOperationException($"{SectionName}:Rounds must be between 0 and 10000 (is {Rounds}).");
        }

        if (Timeout <= TimeSpan.Zero || Timeout > TimeSpan.FromMinutes(5))
        {
            throw new InvalidOperationException($"{SectionName}:Timeout must be positive and at most 5 minutes (is {Timeout}).");
        }
    }
}
