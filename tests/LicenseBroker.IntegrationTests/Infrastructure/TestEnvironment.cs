namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>Where the servers started by ./scripts/test are. Missing settings fail the test run, never skip it.</summary>
internal static class TestEnvironment
{
    public static string Redis => Require("LB_TEST_REDIS");

    public static string Postgres => Require("LB_TEST_POSTGRES");

    /// <summary>Comma-separated nodes of the three-master Redis Cluster.</summary>
    public static string RedisCluster => Require("LB_TEST_REDIS_CLUSTER");

    private static string Require(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"{name} is not set. Integration tests need the Redis and PostgreSQL servers that ./scripts/test starts; run the suite with ./scripts/test.");
}
