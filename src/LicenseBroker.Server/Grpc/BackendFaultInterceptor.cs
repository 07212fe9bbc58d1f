using Grpc.Core;
using Grpc.Core.Interceptors;
using Npgsql;
using Polly.CircuitBreaker;
using Polly.Timeout;
using StackExchange.Redis;

namespace LicenseBroker.Server.Grpc;

/// <summary>
/// Turns faults into honest status codes: a backend that is down or slow becomes UNAVAILABLE
/// (retry later), and nothing reaches the client as INTERNAL or UNKNOWN, nor with a stack trace.
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
        catch (Exception ex) when (ex is not RpcException)
        {
            throw Translate(ex, context);
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (Exception ex) when (ex is not RpcException)
        {
            throw Translate(ex, context);
        }
    }

    private RpcException Translate(Exception exception, ServerCallContext context)
    {
        if (exception is OperationCanceledException && context.CancellationToken.IsCancellationRequested)
        {
            return new RpcException(new Status(StatusCode.Cancelled, "The call was cancelled or its deadline passed."));
        }

        var backend = exception switch
        {
            RedisException => "Redis",
            NpgsqlException or PostgresException => "PostgreSQL",
            BrokenCircuitException => "a backend (circuit open)",
            TimeoutRejectedException or TimeoutException => "a backend (timeout)",
            _ => null,
        };

        if (backend is not null)
        {
            LogBackendFault(_logger, context.Method, backend, exception);
            return new RpcException(new Status(StatusCode.Unavailable, $"The license service cannot reach {backend} right now; retry shortly."));
        }

        // A bug, not an outage: logged in full here, reported without details to the caller.
        LogUnexpected(_logger, context.Method, exception);
        return new RpcException(new Status(StatusCode.Unavailable, "The license service could not complete the call; retry shortly."));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Method} failed: {Backend} unavailable")]
    private static partial void LogBackendFault(ILogger logger, string method, string backend, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Method} failed unexpectedly")]
    private static partial void LogUnexpected(ILogger logger, string method, Exception exception);
}
