using LicenseBroker.Domain.Catalog;
using LicenseBroker.Domain.Seats;

namespace LicenseBroker.Storage;

/// <summary>
/// How seat types and seat models are written in storage (the Lua scripts' records, seat_assignments.seat_type,
/// scim_group_seats.seat_type, products.seat_model): one table both ways, and a code this version does not know is an
/// error, never a guess (a reader that fell back to Concurrent would hand a shared seat to a record it cannot read).
/// </summary>
internal static class SeatTypeCodes
{
    public const string Named = "NAMED";
    public const string Concurrent = "CONCURRENT";
    public const string Unlimited = "UNLIMITED";

    /// <summary>products.seat_model of a product with named and concurrent seats (the other is <see cref="Unlimited"/>).</summary>
    public const string Seats = "SEATS";

    public static string Code(SeatType seatType) => seatType switch
    {
        SeatType.Named => Named,
        SeatType.Concurrent => Concurrent,
        SeatType.Unlimited => Unlimited,
        _ => throw new ArgumentOutOfRangeException(nameof(seatType), seatType, null),
    };

    /// <param name="code">The stored code.</param>
    /// <param name="storedIn">Where it was read ("Redis", "PostgreSQL"), for the error.</param>
    public static SeatType Parse(string code, string storedIn) => code switch
    {
        Named => SeatType.Named,
        Concurrent => SeatType.Concurrent,
        Unlimited => SeatType.Unlimited,
        _ => throw new InvalidOperationException($"Unknown seat type '{code}' stored in {storedIn}."),
    };

    /// <summary>A seat type as a lease record stores it (one letter, encode_lease in Scripts/library/02_records.lua).</summary>
    public static SeatType ParseLetter(string letter, string storedIn) => letter switch
    {
        "N" => SeatType.Named,
        "C" => SeatType.Concurrent,
        "U" => SeatType.Unlimited,
        _ => Parse(letter, storedIn),
    };

    /// <summary>A stored products.seat_model.</summary>
    public static SeatModel ParseModel(string code, string storedIn) => code switch
    {
        Seats => SeatModel.Seats,
        Unlimited => SeatModel.Unlimited,
        _ => throw new InvalidOperationException($"Unknown seat model '{code}' stored in {storedIn}."),
    };

    /// <summary>subscriptions.overage_mode, and the pool scripts' @overage_mode.</summary>
    public static string OverageModeCode(OverageMode mode) => mode switch
    {
        OverageMode.None => "NONE",
        OverageMode.Alert => "ALERT",
        OverageMode.Burst => "BURST",
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, null),
    };

    public static OverageMode ParseOverageMode(string code, string storedIn) => code switch
    {
        "NONE" => OverageMode.None,
        "ALERT" => OverageMode.Alert,
        "BURST" => OverageMode.Burst,
        _ => throw new InvalidOperationException($"Unknown overage mode '{code}' stored in {storedIn}."),
    };
}
