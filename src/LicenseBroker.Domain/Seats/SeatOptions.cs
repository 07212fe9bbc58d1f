namespace LicenseBroker.Domain.Seats;

/// <summary>Lease timing returned to the apps (section "Seats" of the settings).</summary>
public sealed class SeatOptions
{
    public const string SectionName = "Seats";

    /// <summary>Lifetime a grant or heartbeat gives a lease.</summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(90);

    /// <summary>How often apps are asked to heartbeat: a third of the TTL leaves room for two lost beats.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a seat offered to the head of the queue waits to be claimed before going to the next.</summary>
    public TimeSpan ClaimWindow { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often a replica refreshes the waiters it streams to.</summary>
    public TimeSpan WaiterRefresh { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>A waiter not refreshed for this long (its replica died) is dropped from the queue.</summary>
    public TimeSpan WaiterTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// How long a WaitForSeat may wait: past it the wait ends with QUEUE_TIMEOUT (the app decides whether to wait
    /// again, at the back). Between a second and a day.
    /// </summary>
    public TimeSpan QueueMaxWait { get; set; } = QueueTerms.Default.MaxWait;

    /// <summary>
    /// The queue's aging: a waiter moves one priority class up for every step it waits (see the queue's order in
    /// Scripts/library/07_queue.lua), so no class starves. Between a second and an hour.
    /// </summary>
    public TimeSpan QueueAgeStep { get; set; } = QueueTerms.Default.AgeStep;

    /// <summary>At most this many waiters per pool (QUEUE_FULL beyond); 0: twice the pool's shared seats, and at least 20.</summary>
    public int QueueMaxWaiters { get; set; }

    /// <summary>The queue's terms for every pool.</summary>
    public QueueTerms QueueTerms => new(QueueMaxWaiters == 0 ? null : QueueMaxWaiters, QueueMaxWait, QueueAgeStep);

    /// <summary>Window of the AcquireSeat abuse limits (login storms, scripted seat grabbing).</summary>
    public TimeSpan RateWindow { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>AcquireSeat attempts allowed per pool (account and product) per window; 0: no limit.</summary>
    public int AcquiresPerPoolPerWindow { get; set; } = 2000;

    /// <summary>AcquireSeat attempts allowed per agent per window; 0: no limit.</summary>
    public int AcquiresPerAgentPerWindow { get; set; } = 30;

    /// <summary>Expired leases the janitor drops per Redis call after a mass expiry (each call's script stays short).</summary>
    public int SweepBatch { get; set; } = 100;

    /// <summary>
    /// How often each replica looks for pools whose idle-seat deadline came (see IdleRules): a seat
    /// is handed back at most this long after its deadline, plus the call.
    /// </summary>
    public TimeSpan ReclaimPoll { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// The shortest pending or idle timeout a subscription may set: a seat taken back within seconds
    /// of a login would be a bug in practice. Tests lower it to see a timeout fire.
    /// </summary>
    public TimeSpan MinIdleTimeout { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Throws when the settings cannot work, so a bad deployment fails at start, not at 9 a.m.</summary>
    public void Validate()
    {
        if (LeaseTtl < TimeSpan.FromSeconds(1))
        {
            throw new InvalidOperationException($"{SectionName}:LeaseTtl must be at least one second (is {LeaseTtl}).");
        }

        if (RateWindow < TimeSpan.Zero || AcquiresPerPoolPerWindow < 0 || AcquiresPerAgentPerWindow < 0)
        {
            throw new InvalidOperationException($"{SectionName}: rate limits must not be negative.");
        }

        if (SweepBatch is < 1 or > 10_000)
        {
            throw new InvalidOperationException($"{SectionName}:SweepBatch must be between 1 and 10000 (is {SweepBatch}).");
        }

        if (LeaseTtl > TimeSpan.FromDays(1) || ClaimWindow < TimeSpan.FromMilliseconds(1) || ClaimWindow > TimeSpan.FromDays(1) || WaiterTimeout < TimeSpan.FromMilliseconds(1) || WaiterTimeout > TimeSpan.FromDays(1) || RateWindow > TimeSpan.FromDays(1))
        {
            throw new InvalidOperationException($"{SectionName}: LeaseTtl, ClaimWindow, WaiterTimeout and RateWindow must be between a millisecond and a day.");
        }

        if (QueueMaxWait < TimeSpan.FromSeconds(1) || QueueMaxWait > TimeSpan.FromDays(1) || QueueAgeStep < TimeSpan.FromSeconds(1) || QueueAgeStep > TimeSpan.FromHours(1)
            || QueueMaxWaiters is < 0 or > 1_000_000)
        {
            throw new InvalidOperationException(
                $"{SectionName}: QueueMaxWait must be between a second and a day (is {QueueMaxWait}), QueueAgeStep between a second and an hour (is {QueueAgeStep}), " +
                $"QueueMaxWaiters between 0 (automatic) and 1000000 (is {QueueMaxWaiters}).");
        }

        if (ReclaimPoll < TimeSpan.FromMilliseconds(10) || ReclaimPoll > TimeSpan.FromSeconds(10))
        {
            throw new InvalidOperationException($"{SectionName}:ReclaimPoll must be between 10 ms and 10 s (is {ReclaimPoll}).");
        }

        if (MinIdleTimeout < TimeSpan.FromSeconds(1) || MinIdleTimeout > IdleRules.MaxTimeout)
        {
            throw new InvalidOperationException($"{SectionName}:MinIdleTimeout must be between a second and a day (is {MinIdleTimeout}).");
        }

        if (HeartbeatInterval <= TimeSpan.Zero || HeartbeatInterval >= LeaseTtl)
        {
            throw new InvalidOperationException(
                $"{SectionName}:HeartbeatInterval must be positive and shorter than LeaseTtl (is {HeartbeatInterval}, TTL {LeaseTtl}).");
        }
    }
}
