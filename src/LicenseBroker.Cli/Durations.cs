using System.Globalization;
using System.Text.RegularExpressions;

namespace LicenseBroker.Cli;

/// <summary>
/// Durations as people write them: 90s, 2m, 1h30m, 500ms, 2d (or hh:mm:ss). A bare number is refused:
/// "--for 2" would otherwise silently mean two days (TimeSpan's own parsing).
/// </summary>
internal static partial class Durations
{
    public const string Help = "e.g. 90s, 2m, 1h30m, 8h (or hh:mm:ss)";

    public static bool TryParse(string text, out TimeSpan duration, out string? error)
    {
        duration = TimeSpan.Zero;
        error = null;
        text = text.Trim();
        if (text.Contains(':', StringComparison.Ordinal) && TimeSpan.TryParseExact(text, "c", CultureInfo.InvariantCulture, out duration))
        {
            return Positive(text, duration, out error);
        }

        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var bare))
        {
            error = $"'{text}' has no unit: write {bare}s, {bare}m or {bare}h";
            return false;
        }

        if (!Pattern().IsMatch(text))
        {
            error = $"'{text}' is not a duration ({Help})";
            return false;
        }

        try
        {
            foreach (Match part in Part().Matches(text))
            {
                var value = long.Parse(part.Groups[1].Value, CultureInfo.InvariantCulture);
                duration += part.Groups[2].Value switch
                {
                    "ms" => TimeSpan.FromMilliseconds(value),
                    "s" => TimeSpan.FromSeconds(value),
                    "m" => TimeSpan.FromMinutes(value),
                    "h" => TimeSpan.FromHours(value),
                    _ => TimeSpan.FromDays(value),
                };
            }
        }
        catch (Exception ex) when (ex is OverflowException or ArgumentOutOfRangeException)
        {
            error = $"'{text}' is too long a duration";
            return false;
        }

        return Positive(text, duration, out error);
    }

    /// <summary>A duration as the API's whole seconds, capped at int.MaxValue (the broker refuses what is out of its range).</summary>
    public static int Seconds(TimeSpan duration) => (int)Math.Min(duration.TotalSeconds, int.MaxValue);

    /// <summary>A timeout in seconds as the tables show it: "off" for 0, else hh:mm:ss.</summary>
    public static string SecondsOrOff(int seconds) => seconds == 0 ? "off" : TimeSpan.FromSeconds(seconds).ToString("c", CultureInfo.InvariantCulture);

    private static bool Positive(string text, TimeSpan duration, out string? error)
    {
        error = duration > TimeSpan.Zero ? null : $"'{text}' must be longer than zero";
        return error is null;
    }

    [GeneratedRegex(@"^(\d{1,9}(ms|s|m|h|d))+$")]
    private static partial Regex Pattern();

    [GeneratedRegex(@"(\d{1,9})(ms|s|m|h|d)")]
    private static partial Regex Part();
}
