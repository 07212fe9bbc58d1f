using Google.Protobuf;
using Google.Rpc;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Infrastructure;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.IdentityModel.Tokens;

namespace LicenseBroker.Server.Identity;

/// <summary>
/// Turns a refused token or a missing privilege into an answer a client can act on: a real gRPC
/// status (UNAUTHENTICATED / PERMISSION_DENIED) with a message and an ErrorInfo reason, and over
/// REST the same <c>google.rpc.Status</c> as JSON. The framework's default is a bare HTTP 401/403,
/// which gRPC clients report as "Bad gRPC response" and REST clients as an empty body.
/// </summary>
public sealed class AuthFailureResponses : IAuthorizationMiddlewareResultHandler
{
    private static readonly JsonFormatter Json = new(JsonFormatter.Settings.Default.WithTypeRegistry(Google.Protobuf.Reflection.TypeRegistry.FromMessages(ErrorInfo.Descriptor)));
    private readonly AuthorizationMiddlewareResultHandler _default = new();

    public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (authorizeResult.Challenged)
        {
            // The handler caches its result for the request, so this reads why the token was refused.
            var failure = (await context.AuthenticateAsync()).Failure;
            var hasToken = context.Request.Headers.Authorization.Count > 0;
            var status = Unauthenticated(failure, hasToken);
            context.Response.Headers.WWWAuthenticate = hasToken
                ? $"Bearer error=\"invalid_token\", error_description=\"{status.Message}\""
                : "Bearer";
            await WriteAsync(context, status, StatusCodes.Status401Unauthorized);
            return;
        }

        if (authorizeResult.Forbidden)
        {
            await WriteAsync(context, PermissionDenied(context, authorizeResult.AuthorizationFailure), StatusCodes.Status403Forbidden);
            return;
        }

        await _default.HandleAsync(next, context, policy, authorizeResult);
    }

    /// <summary>Why a token was not accepted, from the exception the token handler gave.</summary>
    public static Google.Rpc.Status Unauthenticated(Exception? failure, bool hasToken) => failure switch
    {
        _ when !hasToken => Status(Code.Unauthenticated, "No bearer token: send 'Authorization: Bearer <token>'.", "TOKEN_MISSING"),
        SecurityTokenExpiredException expired => Status(Code.Unauthenticated, $"The token expired at {expired.Expires:O}; get a new one.", "TOKEN_EXPIRED"),
        SecurityTokenNotYetValidException => Status(Code.Unauthenticated, "The token is not valid yet (nbf in the future); check the issuer's clock.", "TOKEN_NOT_YET_VALID"),
        SecurityTokenNoExpirationException => Status(Code.Unauthenticated, "The token has no expiry (exp); the broker accepts only tokens that expire.", "TOKEN_WITHOUT_EXPIRY"),
        SecurityTokenInvalidSignatureException or SecurityTokenSignatureKeyNotFoundException =>
            Status(Code.Unauthenticated, "The token's signature is invalid: it was not signed by a key the broker trusts.", "SIGNATURE_INVALID"),
        SecurityTokenInvalidAudienceException => Status(Code.Unauthenticated, "The token is for another audience (aud) than this broker.", "WRONG_AUDIENCE"),
        SecurityTokenInvalidIssuerException => Status(Code.Unauthenticated, "The token was issued by an issuer (iss) this broker does not trust.", "WRONG_ISSUER"),
        SecurityTokenMalformedException or ArgumentException => Status(Code.Unauthenticated, "The bearer token is not a well-formed JWT.", "TOKEN_MALFORMED"),
        _ => Status(Code.Unauthenticated, "The bearer token was not accepted.", "TOKEN_INVALID"),
    };

    /// <summary>Which privilege the endpoint's policy wanted and the token lacks.</summary>
    private static Google.Rpc.Status PermissionDenied(HttpContext context, AuthorizationFailure? failure)
    {
        var policies = context.GetEndpoint()?.Metadata.GetOrderedMetadata<IAuthorizeData>().Select(data => data.Policy).OfType<string>().ToList() ?? [];
        // Claims required with any value (sub, the account) make a token an agent's; a claim required with
        // given values (role ADMIN) is a privilege the caller lacks, answered below as MISSING_PRIVILEGE.
        var missingClaims = failure?.FailedRequirements.OfType<ClaimsAuthorizationRequirement>()
            .Where(requirement => requirement.AllowedValues is null || !requirement.AllowedValues.Any())
            .Select(requirement => requirement.ClaimType).ToList() ?? [];
        if (missingClaims.Count > 0)
        {
            return Status(
                Code.PermissionDenied,
                $"The token does not name an agent of an account (claims missing: {string.Join(", ", missingClaims)}).",
                "NOT_AN_AGENT_TOKEN",
                new() { ["missing_claims"] = string.Join(",", missingClaims) });
        }

        if (policies.Contains(BrokerPolicies.ManageSeats))
        {
            return MissingPrivilege("MANAGE_SEATS");
        }

        if (policies.Contains(BrokerPolicies.ManageUsers))
        {
            return MissingPrivilege("MANAGE_USERS");
        }

        if (policies.Contains(BrokerPolicies.ViewAgents))
        {
            return MissingPrivilege("MANAGE_SEATS or MANAGE_USERS");
        }

        if (policies.Contains(BrokerPolicies.Admin))
        {
            return Status(
                Code.PermissionDenied,
                "This call needs the role ADMIN; the token does not have it (privileges do not replace it).",
                "MISSING_PRIVILEGE",
                new() { ["required_role"] = "ADMIN" });
        }

        if (policies.Contains(BrokerPolicies.Service))
        {
            var hasScope = context.User.FindAll(BrokerPolicies.ScopeClaim)
                .SelectMany(claim => claim.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Contains(BrokerPolicies.ServiceScope, StringComparer.Ordinal);
            return hasScope
                ? Status(Code.PermissionDenied, "This call needs a client certificate from the broker's trusted CA (mutual TLS).", "CLIENT_CERTIFICATE_REQUIRED")
                : Status(
                    Code.PermissionDenied,
                    $"This call is for back-office services: the token needs the scope {BrokerPolicies.ServiceScope}.",
                    "MISSING_SCOPE",
                    new() { ["required_scope"] = BrokerPolicies.ServiceScope });
        }

        return Status(Code.PermissionDenied, "The token does not allow this call.", "PERMISSION_DENIED");
    }

    private static Google.Rpc.Status MissingPrivilege(string privilege) => Status(
        Code.PermissionDenied,
        $"This call needs the role ADMIN or the privilege {privilege}; the token has neither.",
        "MISSING_PRIVILEGE",
        new() { ["required_privilege"] = privilege, ["or_role"] = "ADMIN" });

    private static Google.Rpc.Status Status(Code code, string message, string reason, Dictionary<string, string>? metadata = null) =>
        Grpc.OutcomeStatus.Status(code, message, reason, metadata ?? []);

    /// <summary>
    /// gRPC: a trailers-only response (HTTP 200, grpc-status in the headers), which is how a gRPC
    /// server answers a call it refuses before reading it. REST: the HTTP status with the JSON Status.
    /// </summary>
    private static async Task WriteAsync(HttpContext context, Google.Rpc.Status status, int httpStatus)
    {
        var response = context.Response;
        if (context.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true)
        {
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = "application/grpc";
            response.Headers["grpc-status"] = status.Code.ToString(System.Globalization.CultureInfo.InvariantCulture);
            response.Headers["grpc-message"] = Uri.EscapeDataString(status.Message);
            response.Headers["grpc-status-details-bin"] = Convert.ToBase64String(status.ToByteArray());
            return;
        }

        response.StatusCode = httpStatus;
        response.ContentType = "application/json";
        await response.WriteAsync(Json.Format(status));
    }
}
