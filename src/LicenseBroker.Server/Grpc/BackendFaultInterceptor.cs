using Grpc.Core;
using Grpc.Core.Interceptors;
using LicenseBroker.Server.Localization;
using Npgsql;
using Polly.CircuitBreaker;
using Polly.Timeout;
using StackExchange.Redis;

namespace LicenseBroker.Server.Grpc;

/// <summary>
/// The edge where errors leave the broker. The one mapping of faults to status codes: a backend that is down or slow becomes UNAVAILABLE
/// (retry later); a bug becomes INTERNAL with a correlation id (the stack goes to the log, never to
/// the client); nothing reaches the client as UNKNOWN. Refusals an agent sees gain a message in the
/// caller's language (<see cref="AgentMessages"/>), and REST callers see fields named as they wrote them.
/// </summary>
internal sealed partial class BackendFaultInterceptor : Interceptor
{
    private readonly ILogger<BackendFaultInterceptor> _logger;

    public BackendFaultInterceptor(ILogger<BackendFaultInterceptor> logger)
    {
        _logger = logger;
    }

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.InvalidArgument && IsJsonCall(context) && ex.GetRpcStatus() is { } status
            && RequestValidation.ForJsonCaller(status) is { } renamed)
        {
            // A REST caller wrote seatType, not seat_type: name the fields as it did.
            throw renamed.ToRpcException();
        }
        catch (RpcException ex) when (AgentMessages.Localize(ex, context.RequestHeaders.GetValue("accept-language")) is { } localized)
        {
            throw localized;
        }
        catch (Exception ex) when (ex is not RpcException)
        {
            throw Translate(ex, context);
        }
    }

    /// <summary>True for a call that came over REST (JSON transcoding) rather than gRPC.</summary>
    private static bool IsJsonCall(ServerCallContext context) =>
        context.GetHttpContext().Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) != true;

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (RpcException ex) when (AgentMessages.Localize(ex, context.RequestHeaders.GetValue("accept-language")) is { } localized)
        {
            throw localized;
        }
        catch (Exception ex) when (ex is not RpcException)
        {
            throw Translate(ex, context);
        }
    }

    private RpcException Translate(Exception exception, ServerCallContext context)
    {
        // The client's own cancellation or deadline is not an error, whatever the exception it caused: an
        // OperationCanceledException, or a stream's write after the call ended ("the request is complete").
        if (context.CancellationToken.IsCancellationRequested || context.GetHttpContext().RequestAborted.IsCancellationRequested)
        {
            LogCallerLeft(_logger, context.Method, exception);
            return new RpcException(new Status(StatusCode.Cancelled, "The call was cancelled or its deadline passed."));
        }

        if (BackendOf(exception) is { } backend)
        {
            LogBackendFault(_logger, context.Method, backend, exception);
            return new RpcException(new Status(StatusCode.Unavailable, $"The license service cannot reach {backend} right now; retry shortly."));
        }

        // A bug, not an outage: INTERNAL (a client must not retry it as if the service were down),
        // with an id that finds the full exception in the log.
        var correlationId = System.Diagnostics.Activity.Current?.TraceId.ToString() ?? Guid.NewGuid().ToString("N");
        LogUnexpected(_logger, context.Method, correlationId, exception);
        return new RpcException(new Status(
            StatusCode.Internal, $"The license service failed to complete the call (a fault on our side, not your request). Correlation id: {correlationId}."));
    }

    /// <summary>
    /// The backend an exception says is unreachable, overloaded or too slow, or null when the exception is
    /// a bug: a script error, a query rejected for its data or syntax, anything else.
    /// </summary>
    internal static string? BackendOf(Exception exception) => exception switch
    {
        RedisServerException server => IsRedisUnavailable(server.Message) ? "Redis" : null,
        RedisException => "Redis",
        PostgresException postgres => IsPostgresUnavailable(postgres.SqlState) ? "PostgreSQL" : null,
        NpgsqlException => "PostgreSQL",
        BrokenCircuitException => "a backend (circuit open)",
        TimeoutRejectedException or TimeoutException => "a backend (timeout)",
        _ => null,
    };

    // Replies of a Redis that is starting, failing over, resharding or out of memory; any other error
    // reply (a script's own error, a wrong type, CROSSSLOT) is a bug. While a slot moves, a script can
    // meet "Attempted to access a non local key in a cluster node" half way: the move, not a bug.
    private static bool IsRedisUnavailable(string message) =>
        message.Contains("non local key", StringComparison.Ordinal) || message.Contains("cluster is down", StringComparison.Ordinal) ||
        // StackExchange.Redis's own words for a slot that moved while it re-sent a script (EVAL after NOSCRIPT).
        message.StartsWith("Key has MOVED", StringComparison.Ordinal) || message.StartsWith("Key has ASK", StringComparison.Ordinal) ||
        message.StartsWith("LOADING", StringComparison.Ordinal) || message.StartsWith("BUSY", StringComparison.Ordinal) ||
        message.StartsWith("MASTERDOWN", StringComparison.Ordinal) || message.StartsWith("READONLY", StringComparison.Ordinal) ||
        message.StartsWith("CLUSTERDOWN", StringComparison.Ordinal) || message.StartsWith("TRYAGAIN", StringComparison.Ordinal) ||
        message.StartsWith("OOM", StringComparison.Ordinal) || message.StartsWith("MOVED", StringComparison.Ordinal) ||
        message.StartsWith("ASK", StringComparison.Ordinal) || message.StartsWith("NOSCRIPT", StringComparison.Ordinal);

    // SQLSTATE classes of an unreachable, overloaded, shutting-down or slow server: 08 connection,
    // 53 insufficient resources, 57 operator intervention (57014: statement timeout), 58 system error,
    // 40 serialization failure / deadlock (retryable). Others (22 data, 23 integrity, 42 syntax) are bugs.
    private static bool IsPostgresUnavailable(string sqlState) =>
        sqlState.StartsWith("08", StringComparison.Ordinal) || sqlState.StartsWith("53", StringComparison.Ordinal) ||
        sqlState.StartsWith("57", StringComparison.Ordinal) || sqlState.StartsWith("58", StringComparison.Ordinal) ||
        sqlState.StartsWith("40", StringComparison.Ordinal);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Method} ended by its caller (cancelled or past its deadline)")]
    private static partial void LogCallerLeft(ILogger logger, string method, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Method} failed: {Backend} unavailable")]
    private static partial void LogBackendFault(ILogger logger, string method, string backend, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Method} failed unexpectedly (correlation id {CorrelationId})")]
    private static partial void LogUnexpected(ILogger logger, string method, string correlationId, Exception exception);
}
