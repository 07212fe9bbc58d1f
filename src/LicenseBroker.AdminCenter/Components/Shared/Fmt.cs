using System.Globalization;
using Google.Protobuf.WellKnownTypes;

namespace LicenseBroker.AdminCenter.Components.Shared;

/// <summary>Dates and numbers in the admin's culture; times in the admin's time zone (<see cref="Zone"/>), named.</summary>
public static class Fmt
{
    private static readonly AsyncLocal<TimeZoneInfo?> CurrentZone = new();

    /// <summary>The time zone of the request being rendered (the admin's choice, <see cref="AdminTimeZone"/>); UTC by default.</summary>
    public static TimeZoneInfo Zone
    {
        get => CurrentZone.Value ?? TimeZoneInfo.Utc;
        set => CurrentZone.Value = value;
    }

    /// <summary>A time in the admin's zone, with the zone's name ("05/12/2026 19:15 Europe/Paris"), or in UTC, said so.</summary>
    public static string When(Timestamp? at) => at is null ? string.Empty : When(at.ToDateTimeOffset());

    public static string When(DateTimeOffset at)
    {
        var zone = Zone;
        return zone == TimeZoneInfo.Utc
            ? at.ToUniversalTime().ToString("g", CultureInfo.CurrentCulture) + " UTC"
            : TimeZoneInfo.ConvertTime(at, zone).ToString("g", CultureInfo.CurrentCulture) + " " + zone.Id;
    }

    /// <summary>The same time in UTC, for the hover title beside a local time.</summary>
    public static string Utc(Timestamp? at) =>
        at is null ? string.Empty : at.ToDateTimeOffset().ToUniversalTime().ToString("u", CultureInfo.InvariantCulture).Replace("Z", " UTC", StringComparison.Ordinal);

    public static string Day(DateOnly day) => day.ToString("d", CultureInfo.CurrentCulture);

    public static string Number(int value) => value.ToString("N0", CultureInfo.CurrentCulture);

    /// <summary>A quantity with up to two decimals, in the UI language ("1.25", "1,25").</summary>
    public static string Quantity(double value) => value.ToString("#,0.##", CultureInfo.CurrentCulture);

    /// <summary>A platform by its maker's own name (iOS, macOS), the same in every language.</summary>
    public static string Platform(LicenseBroker.Contracts.V1.Platform platform) => platform switch
    {
        LicenseBroker.Contracts.V1.Platform.Windows => "Windows",
        LicenseBroker.Contracts.V1.Platform.Mac => "macOS",
        LicenseBroker.Contracts.V1.Platform.Linux => "Linux",
        LicenseBroker.Contracts.V1.Platform.Ios => "iOS",
        LicenseBroker.Contracts.V1.Platform.Android => "Android",
        LicenseBroker.Contracts.V1.Platform.Web => "Web",
        _ => "—",
    };
}
