using System.Text;
using System.Text.Json;
using LicenseBroker.Domain.Provisioning;

namespace LicenseBroker.Server.Scim;

/// <summary>
/// The part of the SCIM filter language (RFC 7644 §3.4.2.2) identity providers send: equalities
/// joined by <c>and</c> — <c>userName eq "…"</c>, <c>externalId eq "…"</c>,
/// <c>emails[type eq "work"].value eq "…"</c>, <c>displayName eq "…"</c>. Attribute names and
/// operators without regard to case. Anything else is refused as invalidFilter (never half-applied).
/// </summary>
public static class ScimFilter
{
    public const int MaxLength = 1000;

    private static readonly string EmployeeNumber = (ScimResources.EnterpriseUserSchema + ":employeeNumber").ToLowerInvariant();

    public static ScimQuery Parse(string? filter, bool groups)
    {
        var query = new ScimQuery();
        if (string.IsNullOrWhiteSpace(filter))
        {
            return query;
        }

        if (filter.Length > MaxLength)
        {
            throw Invalid($"the filter is longer than {MaxLength} characters");
        }

        var reader = new Reader(filter);
        while (true)
        {
            var attribute = reader.AttributePath();
            var op = reader.Word();
            if (!op.Equals("eq", StringComparison.OrdinalIgnoreCase))
            {
                throw Invalid(op.Length == 0 ? "an operator is missing" : $"operator '{op}' is not supported (only eq, joined by and)");
            }

            var value = reader.Value();
            query = Apply(query, attribute, value, groups);
            if (reader.AtEnd)
            {
                return query;
            }

            var join = reader.Word();
            if (!join.Equals("and", StringComparison.OrdinalIgnoreCase))
            {
                throw Invalid($"'{join}' is not supported here (only and)");
            }
        }
    }

    private static ScimQuery Apply(ScimQuery query, string attribute, string value, bool groups)
    {
        var name = attribute.ToLowerInvariant();
        return (groups, name) switch
        {
            (_, "id") => query.Id is null ? query with { Id = value } : throw Twice(attribute),
            (_, "externalid") => query.ExternalId is null ? query with { ExternalId = value } : throw Twice(attribute),
            (false, "username") => query.UserName is null ? query with { UserName = value } : throw Twice(attribute),
            (false, var email) when email is "emails" or "emails.value" || (email.StartsWith("emails[type eq ", StringComparison.Ordinal) && email.EndsWith("].value", StringComparison.Ordinal)) =>
                query.Email is null ? query with { Email = value } : throw Twice(attribute),
            (true, "displayname") => query.DisplayName is null ? query with { DisplayName = value } : throw Twice(attribute),
            (false, var extension) when extension == EmployeeNumber =>
                query.EmployeeNumber is null ? query with { EmployeeNumber = value } : throw Twice(attribute),
            _ => throw Invalid($"attribute '{attribute}' cannot be filtered on {(groups ? "Groups" : "Users")}"),
        };
    }

    private static ScimException Twice(string attribute) => Invalid($"'{attribute}' is named twice");

    private static ScimException Invalid(string detail) => new(400, "invalidFilter", "Invalid filter: " + detail + ".");

    private sealed class Reader(string text)
    {
        private int _position;

        public bool AtEnd
        {
            get
            {
                SkipSpaces();
                return _position >= text.Length;
            }
        }

        /// <summary>name, name.sub, or name[type eq "x"].sub (normalised to lower case outside the quotes).</summary>
        public string AttributePath()
        {
            SkipSpaces();
            var start = _position;
            var builder = new StringBuilder();
            while (_position < text.Length && (char.IsAsciiLetterOrDigit(text[_position]) || text[_position] is '.' or '_' or '-' or ':' or '$'))
            {
                builder.Append(text[_position++]);
            }

            if (_position < text.Length && text[_position] == '[')
            {
                _position++;
                var inner = AttributePath();
                var op = Word();
                if (!inner.Equals("type", StringComparison.OrdinalIgnoreCase) || !op.Equals("eq", StringComparison.OrdinalIgnoreCase))
                {
                    throw Invalid("only [type eq \"…\"] is supported inside brackets");
                }

                var type = Value();
                SkipSpaces();
                if (_position >= text.Length || text[_position] != ']')
                {
                    throw Invalid("']' is missing");
                }

                _position++;
                builder.Append("[type eq \"").Append(type.ToLowerInvariant()).Append("\"]");
                while (_position < text.Length && (char.IsAsciiLetterOrDigit(text[_position]) || text[_position] == '.'))
                {
                    builder.Append(text[_position++]);
                }
            }

            if (builder.Length == 0)
            {
                throw Invalid(start < text.Length ? $"an attribute was expected at position {start + 1}" : "an attribute was expected");
            }

            return builder.ToString();
        }

        public string Word()
        {
            SkipSpaces();
            var start = _position;
            while (_position < text.Length && char.IsAsciiLetter(text[_position]))
            {
                _position++;
            }

            return text[start.._position];
        }

        /// <summary>A JSON string (with its escapes), or true / false.</summary>
        public string Value()
        {
            SkipSpaces();
            if (_position >= text.Length)
            {
                throw Invalid("a value is missing");
            }

            if (text[_position] != '"')
            {
                var word = Word();
                return word.ToLowerInvariant() is "true" or "false" ? word.ToLowerInvariant() : throw Invalid("values must be quoted strings");
            }

            var end = _position + 1;
            while (end < text.Length && text[end] != '"')
            {
                end += text[end] == '\\' ? 2 : 1;
            }

            if (end >= text.Length)
            {
                throw Invalid("a closing quote is missing");
            }

            try
            {
                var value = JsonSerializer.Deserialize<string>(text.AsSpan(_position, end - _position + 1))!;
                _position = end + 1;
                return value;
            }
            catch (JsonException)
            {
                throw Invalid("a quoted value has a bad escape");
            }
        }

        private void SkipSpaces()
        {
            while (_position < text.Length && text[_position] == ' ')
            {
                _position++;
            }
        }
    }
}

/// <summary>A SCIM error (RFC 7644 §3.12): HTTP status, scimType when one applies, and a detail.</summary>
public sealed class ScimException(int status, string? scimType, string detail) : Exception(detail)
{
    public int Status { get; } = status;

    public string? ScimType { get; } = scimType;
}
