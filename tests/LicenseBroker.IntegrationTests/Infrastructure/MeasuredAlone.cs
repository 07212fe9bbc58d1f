namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>
/// Tests that assert latencies run alone, after the parallel ones: what they measure is the broker
/// and Redis, not the load of the other test classes in the same process.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MeasuredAlone
{
    public const string Name = "measured alone";
}
