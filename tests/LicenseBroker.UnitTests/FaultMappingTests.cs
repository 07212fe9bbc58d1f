using LicenseBroker.Server.Grpc;
using Npgsql;
using StackExchange.Redis;

// The exceptions the Redis client throws, built here through its public (obsolete-marked) constructors.
#pragma warning disable CS0618

namespace LicenseBroker.UnitTests;

/// <summary>The one mapping of exceptions to status codes: outages are UNAVAILABLE (a backend named), bugs are not.</summary>
public sealed class FaultMappingTests
{
    [Theory]
    [InlineData("LOADING Redis is loading the dataset in memory")]
    [InlineData("TRYAGAIN Multiple keys request during rehashing of slot")]
    [InlineData("CLUSTERDOWN The cluster is down")]
    [InlineData("ERR Error running script (call to f_x): @user_script:1: Attempted to access a non local key in a cluster node")]
    [InlineData("READONLY You can't write against a read only replica.")]
    [InlineData("OOM command not allowed when used memory > 'maxmemory'.")]
    [InlineData("Key has MOVED to Endpoint 127.0.0.1:15106 and hashslot 11383 but CommandFlags.NoRedirect was specified - redirect not followed for EVAL. ")]
    public void Redis_replies_of_an_unavailable_server_are_outages(string message) =>
        Assert.Equal("Redis", BackendFaultInterceptor.BackendOf(new RedisServerException(message)));

    [Theory]
    [InlineData("LB_BAD_ARGUMENT proven_token must be an integer in 0..9007199254740991")]
    [InlineData("ERR Error running script (call to f_x): @user_script:12: attempt to index a nil value")]
    [InlineData("CROSSSLOT Keys in request don't hash to the same slot")]
    [InlineData("WRONGTYPE Operation against a key holding the wrong kind of value")]
    public void Redis_error_replies_of_our_own_making_are_bugs(string message) =>
        Assert.Null(BackendFaultInterceptor.BackendOf(new RedisServerException(message)));

    [Fact]
    public void Connection_faults_are_outages_and_other_exceptions_bugs()
    {
        Assert.Equal("Redis", BackendFaultInterceptor.BackendOf(new RedisConnectionException(ConnectionFailureType.SocketFailure, "down")));
        Assert.Equal("PostgreSQL", BackendFaultInterceptor.BackendOf(new NpgsqlException("connection refused")));
        Assert.Null(BackendFaultInterceptor.BackendOf(new InvalidOperationException("bug")));
        Assert.Null(BackendFaultInterceptor.BackendOf(new ArgumentOutOfRangeException("x")));
        Assert.Null(BackendFaultInterceptor.BackendOf(new ObjectDisposedException("NpgsqlTransaction")));
    }
}
