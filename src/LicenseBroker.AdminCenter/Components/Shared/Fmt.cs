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
}
