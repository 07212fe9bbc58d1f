using LicenseBroker.Domain.Catalog;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Server.Grpc;
using LicenseBroker.Storage;

namespace LicenseBroker.UnitTests;

/// <summary>Seat types have one table of stored codes and one mapping to the contract; an unknown value is refused, never read as a shared seat.</summary>
public sealed class SeatTypeCodeTests
{
    [Fact]
    public void Every_seat_type_round_trips_and_an_unknown_code_is_an_error_not_a_concurrent_seat()
    {
        foreach (var seatType in Enum.GetValues<SeatType>())
        {
            Assert.Equal(seatType, SeatTypeCodes.Parse(SeatTypeCodes.Code(seatType), "test"));
            Assert.Equal(seatType.ToString(), seatType.ToProto().ToString(), ignoreCase: true);
        }

        foreach (var code in new[] { "", "named", "C", "SHARED", "CONCURRENT " })
        {
            Assert.Contains(code, Assert.Throws<InvalidOperationException>(() => SeatTypeCodes.Parse(code, "PostgreSQL")).Message, StringComparison.Ordinal);
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => SeatTypeCodes.Code((SeatType)42));
        Assert.Throws<ArgumentOutOfRangeException>(() => ((SeatType)42).ToProto());
        Assert.Equal(SeatModel.Unlimited, SeatTypeCodes.ParseModel("UNLIMITED", "test"));
        Assert.Equal(SeatModel.Seats, SeatTypeCodes.ParseModel("SEATS", "test"));
        Assert.Throws<InvalidOperationException>(() => SeatTypeCodes.ParseModel("CONCURRENT", "PostgreSQL"));
    }
}
