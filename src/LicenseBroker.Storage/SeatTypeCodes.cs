using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Storage;

/// <summary>
/// How seat types are written in storage (the Lua scripts' records and the seat_assignments rows): one table
/// both ways, and a code this version does not know is an error, never a guess.
/// </summary>
internal static class SeatTypeCodes
{
    public static string Code(SeatType seatType) => seatType switch
    {
        SeatType.Named => "NAMED",
        SeatType.Concurrent => "CONCURRENT",
        SeatType.Unlimited => "UNLIMITED",
        _ => throw new ArgumentOutOfRangeException(nameof(seatType), seatType, null),
    };

    /// <param name="code">The stored code.</param>
    /// <param name="storedIn">Where it was read ("Redis", "PostgreSQL"), for the error.</param>
    public static SeatType Parse(string code, string storedIn) => code switch
    {
        "NAMED" => SeatType.Named,
        "CONCURRENT" => SeatType.Concurrent,
        "UNLIMITED" => SeatType.Unlimited,
        _ => throw new InvalidOperationException($"Unknown seat type '{code}' stored in {storedIn}."),
    };
}
