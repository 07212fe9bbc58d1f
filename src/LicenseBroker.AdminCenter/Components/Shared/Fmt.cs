using System.Globalization;
using Google.Protobuf.WellKnownTypes;

namespace LicenseBroker.AdminCenter.Components.Shared;

/// <summary>Dates and numbers in the admin's culture (times in UTC, said so).</summary>
public static class Fmt
{
    public static string When(Timestamp? at) =>
        at is null ? string.Empty : at.ToDateTimeOffset().ToString("g", CultureInfo.CurrentCulture) + " UTC";

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
