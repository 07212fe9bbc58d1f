using Google.Rpc;
using Grpc.Core;

namespace LicenseBroker.IntegrationTests.Infrastructure;

/// <summary>Reads the rich error details of a failed call.</summary>
internal static class Errors
{
    public static ErrorInfo Info(RpcException exception) =>
        exception.GetRpcStatus()?.GetDetail<ErrorInfo>() ?? throw new Xunit.Sdk.XunitException($"No ErrorInfo in {exception.Status}");

    public static BadRequest BadRequest(RpcException exception) =>
        exception.GetRpcStatus()?.GetDetail<BadRequest>() ?? throw new Xunit.Sdk.XunitException($"No BadRequest in {exception.Status}");
}
