using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Rpc;
using LicenseBroker.Server.Grpc;
using Microsoft.AspNetCore.Grpc.JsonTranscoding;

namespace LicenseBroker.Server.Rest;

/// <summary>
/// Checks the enum values of a REST call (JSON body and query string) against the method's proto
/// before JSON transcoding reads them. Transcoding answers an unknown enum name with INVALID_ARGUMENT,
/// but its message is a .NET type name and names no field; this answers the same status with a
/// BadRequest naming the field as the caller wrote it and listing the accepted values. Only enums are
/// checked here: every other rule stays in <see cref="RequestValidation"/>, which sees the parsed request.
/// </summary>
internal static class RestEnumCheck
{
    private static readonly JsonFormatter Json = new(JsonFormatter.Settings.Default.WithTypeRegistry(TypeRegistry.FromMessages(BadRequest.Descriptor)));

    public static IApplicationBuilder UseRestEnumCheck(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        // Only HTTP/JSON routes: a gRPC call's binary body is never read here.
        var metadata = context.GetEndpoint()?.Metadata.GetMetadata<GrpcJsonTranscodingMetadata>();
        if (metadata is null || context.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true)
        {
            await next(context);
            return;
        }

        var input = metadata.MethodDescriptor.InputType;
        var violations = new List<BadRequest.Types.FieldViolation>();
        foreach (var (name, values) in context.Request.Query)
        {
            CheckQuery(input, name, values, violations);
        }

        if (metadata.HttpRule.Body is { Length: > 0 } bodyField && context.Request.ContentLength is not 0)
        {
            var target = bodyField == "*" ? input : input.FindFieldByName(bodyField)?.MessageType;
            context.Request.EnableBuffering();
            try
            {
                using var document = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
                if (target is not null)
                {
                    Walk(document.RootElement, target, string.Empty, violations);
                }
            }
            catch (JsonException)
            {
                // Not JSON: transcoding answers that itself ("Request JSON payload is not correctly formatted").
            }

            context.Request.Body.Position = 0;
        }

        if (violations.Count == 0)
        {
            await next(context);
            return;
        }

        context.Response.StatusCode = StatusCodes.Status400BadRequest;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(Json.Format(RequestValidation.Invalid(violations)), context.RequestAborted);
    });

    private static void CheckQuery(MessageDescriptor input, string name, Microsoft.Extensions.Primitives.StringValues values, List<BadRequest.Types.FieldViolation> violations)
    {
        var type = input;
        FieldDescriptor? field = null;
        foreach (var segment in name.Split('.'))
        {
            if (type is null || (field = Find(type, segment)) is null)
            {
                return; // Unknown parameters are transcoding's to answer.
            }

            type = field.FieldType == FieldType.Message ? field.MessageType : null;
        }

        if (field is { FieldType: FieldType.Enum })
        {
            foreach (var value in values)
            {
                CheckEnum(field, value, name, violations);
            }
        }
    }

    private static void Walk(JsonElement element, MessageDescriptor type, string path, List<BadRequest.Types.FieldViolation> violations)
    {
        if (element.ValueKind != JsonValueKind.Object || type.FullName.StartsWith("google.protobuf.", StringComparison.Ordinal))
        {
            return;
        }

        foreach (var property in element.EnumerateObject())
        {
            if (Find(type, property.Name) is not { IsMap: false } field)
            {
                continue;
            }

            var fieldPath = path.Length == 0 ? property.Name : path + "." + property.Name;
            var items = field.IsRepeated && property.Value.ValueKind == JsonValueKind.Array
                ? property.Value.EnumerateArray().Select((item, index) => (item, $"{fieldPath}[{index}]"))
                : [(property.Value, fieldPath)];
            foreach (var (item, itemPath) in items)
            {
                if (field.FieldType == FieldType.Enum && item.ValueKind == JsonValueKind.String)
                {
                    CheckEnum(field, item.GetString()!, itemPath, violations);
                }
                else if (field.FieldType == FieldType.Message)
                {
                    Walk(item, field.MessageType, itemPath, violations);
                }
            }
        }
    }

    private static void CheckEnum(FieldDescriptor field, string? value, string path, List<BadRequest.Types.FieldViolation> violations)
    {
        // Proto3 JSON accepts an enum by name or by number.
        if (value is null || field.EnumType.FindValueByName(value) is not null || int.TryParse(value, out _))
        {
            return;
        }

        violations.Add(new BadRequest.Types.FieldViolation
        {
            Field = path,
            Description = "must be one of " + string.Join(", ", field.EnumType.Values.Where(v => v.Number != 0).Select(v => v.Name)),
        });
    }

    /// <summary>A field by its JSON name (seatType) or its proto name (seat_type), as proto3 JSON accepts both.</summary>
    private static FieldDescriptor? Find(MessageDescriptor type, string name) =>
        type.FindFieldByName(name) ?? type.Fields.InDeclarationOrder().FirstOrDefault(f => f.JsonName == name);
}
