using System.Threading.RateLimiting;

namespace LicenseBroker.Server.Grpc;

/// <summary>Section "Reports" of the settings: how many expensive report calls an account may run at once.</summary>
public sealed class ReportOptions
{
    public const string SectionName = "Reports";

    /// <summary>Usage-history calls of one account in progress at once on one replica; more are refused at once.</summary>
    public int HistoryCallsPerAccount { get; set; } = 2;

    public void Validate()
    {
        if (HistoryCallsPerAccount is < 1 or > 100)
        {
            throw new InvalidOperationException($"{SectionName}:HistoryCallsPerAccount must be between 1 and 100 (is {HistoryCallsPerAccount}).");
        }
    }
}

/// <summary>
/// Bounds the expensive report calls per account (a concurrency limit per account, from
/// System.Threading.RateLimiting), so that one tenant's burst queues nothing behind it and cannot
/// fill PostgreSQL's connections: the calls beyond the limit are refused at once, RESOURCE_EXHAUSTED.
/// </summary>
internal sealed class ReportAdmission : IDisposable
{
    private readonly PartitionedRateLimiter<string> _history;

    public ReportAdmission(ReportOptions options)
    {
        _history = PartitionedRateLimiter.Create<string, string>(account => RateLimitPartition.GetConcurrencyLimiter(
            account, _ => new ConcurrencyLimiterOptions { PermitLimit = options.HistoryCallsPerAccount, QueueLimit = 0 }));
    }

    /// <summary>A permit to run one history call of the account (dispose it when done), or null when the account has too many running.</summary>
    public RateLimitLease? TryEnterHistory(string accountId)
    {
        var lease = _history.AttemptAcquire(accountId);
        if (lease.IsAcquired)
        {
            return lease;
        }

        lease.Dispose();
        return null;
    }

    public void Dispose() => _history.Dispose();
}
