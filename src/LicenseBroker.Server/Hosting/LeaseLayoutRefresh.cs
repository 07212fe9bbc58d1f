using LicenseBroker.Storage.Redis;

namespace LicenseBroker.Server.Hosting;

/// <summary>
/// Asks <see cref="LeaseLayoutGate"/> every few seconds whether every replica reads compact leases: a rolling deploy's
/// last old replica going away opens the gate, an old replica joining closes it for new leases.
/// </summary>
internal sealed class LeaseLayoutRefresh(LeaseLayoutGate gate, TimeProvider time, ILogger<LeaseLayoutRefresh> logger)
    : ReplicaTicker(TimeSpan.FromSeconds(2), time, logger)
{
    protected override Task TickAsync() => gate.RefreshAsync();
}
