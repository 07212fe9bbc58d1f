using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using LicenseBroker.Domain.Seats;
using StackExchange.Redis;

namespace LicenseBroker.Storage.Redis;

/// <summary>
/// A pool's terms as the admitting scripts store them in its epoch (SETTINGS_FIELDS in Scripts/library/03_epoch.lua,
/// without its last field, the id): limit, claim window, lease ttl, pending and idle timeouts, group rules and the catalog
/// version they were read at, revive window, outage grace, overage mode, seats and caps.
/// </summary>
/// <remarks>
/// An acquire or a wait sends them only when this replica does not know the pool has them (twelve arguments fewer on
/// every other call): it sends their <see cref="Id"/>, and the script uses the stored terms when they carry that id, or
/// answers TERMS (pool_terms in Scripts/library/08_admission.lua). The id is a hash of the values, so replicas with the
/// same catalog and settings agree on it.
/// </remarks>
public sealed class PoolTerms
{
    private PoolTerms(RedisValue[] values, string id)
    {
        Values = values;
        Id = id;
    }

    /// <summary>The values, in the scripts' order.</summary>
    public IReadOnlyList<RedisValue> Values { get; }

    /// <summary>The first 16 hex digits of the values' SHA-256: what the pool stores beside them.</summary>
    public string Id { get; }

    public static PoolTerms Of(
        int limit, TimeSpan claimWindow, TimeSpan leaseTtl, IdleRules? idle, GroupSeats? groups, LeaseRecovery? recovery, OveragePolicy? overage)
    {
        var rules = idle ?? IdleRules.None;
        var lease = recovery ?? LeaseRecovery.Default;
        var extra = overage ?? OveragePolicy.None;
        RedisValue[] values =
        [
            limit,
            LuaScripts.Milliseconds(claimWindow),
            LuaScripts.Milliseconds(leaseTtl),
            LuaScripts.Milliseconds(rules.PendingTimeout),
            LuaScripts.Milliseconds(rules.IdleTimeout),
            LuaScripts.RulesText(groups),
            groups?.RulesVersion ?? 0,
            LuaScripts.Milliseconds(lease.ReviveWindow),
            LuaScripts.Milliseconds(lease.OutageGrace),
            SeatTypeCodes.OverageModeCode(extra.Mode),
            extra.ExtraSeats(limit),
            LuaScripts.OverageCapsText(groups?.Rules),
        ];

        // Each value after its length: no two lists of values make the same text, whatever the group ids hold.
        var text = string.Concat(values.Select(v => ((string?)v ?? string.Empty) is var t ? t.Length.ToString(CultureInfo.InvariantCulture) + ":" + t : null));
        var id = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)), 0, 8);
        return new PoolTerms(values, id);
    }

}
