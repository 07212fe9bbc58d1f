namespace LicenseBroker.Domain.Planning;

/// <summary>
/// The classic models of a seat pool (Murtojärvi et al., IEEE TSE 33(5), 2007, for floating licences):
/// Erlang B when a login finding no seat is refused, Erlang C when it waits, Engset when the agents who may
/// ask are few. Offered load <c>a</c> = arrival rate × mean hold (Erlangs). Written here because they are a
/// few lines each and no maintained .NET package offers them; computed by the stable recurrences, never by
/// factorials.
/// </summary>
public static class QueueingModels
{
    /// <summary>Probability that a login finds all <paramref name="seats"/> taken and is refused (no queue).</summary>
    public static double ErlangB(int seats, double offeredLoad)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(seats);
        ArgumentOutOfRangeException.ThrowIfNegative(offeredLoad);

        // B(0) = 1; B(n) = a·B(n−1) / (n + a·B(n−1)).
        var b = 1.0;
        for (var n = 1; n <= seats; n++)
        {
            b = offeredLoad * b / (n + offeredLoad * b);
        }

        return b;
    }

    /// <summary>Probability that a login waits (a queue without limit; 1 when the load is at or over the seats).</summary>
    public static double ErlangC(int seats, double offeredLoad)
    {
        if (offeredLoad >= seats)
        {
            return 1.0;
        }

        var b = ErlangB(seats, offeredLoad);
        return seats * b / (seats - offeredLoad * (1 - b));
    }

    /// <summary>Mean wait of all logins (those that do not wait count 0) with a queue, in the unit of <paramref name="meanHold"/>.</summary>
    public static double ErlangCMeanWait(int seats, double offeredLoad, double meanHold) =>
        offeredLoad >= seats ? double.PositiveInfinity : ErlangC(seats, offeredLoad) * meanHold / (seats - offeredLoad);

    /// <summary>
    /// Probability that a login is refused when only <paramref name="sources"/> agents may ask, each asking at
    /// <paramref name="loadPerIdleSource"/> Erlangs while not holding a seat (the call congestion of the Engset model).
    /// </summary>
    public static double EngsetCallCongestion(int seats, int sources, double loadPerIdleSource)
    {
        if (sources <= seats)
        {
            return 0.0;
        }

        // What a caller meets is the time congestion of the other S−1 sources: E(0) = 1;
        // E(n) = (S−n)·β·E(n−1) / (n + (S−n)·β·E(n−1)).
        var e = 1.0;
        for (var n = 1; n <= seats; n++)
        {
            var term = (sources - n) * loadPerIdleSource * e;
            e = term / (n + term);
        }

        return e;
    }
}
