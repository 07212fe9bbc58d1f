namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>A replica clock that is off by a fixed amount: what the store's clock must make harmless.</summary>
internal sealed class SkewedTimeProvider(TimeSpan skew) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + skew;
}
