using System.Globalization;
using System.Text.Json;
using LicenseBroker.Domain.Seats;
using LicenseBroker.Storage.Resilience;
using StackExchange.Redis;

namespace LicenseBroker.Storage.Redis;

/// <summary>
/// The pools' seat event journals in Redis (KEYS[19] of the pool scripts, see Scripts/library/01_call.lua): a stream per
/// pool that the scripts append to in the same atomic step as the change each event describes. This
/// class reads a pool's oldest entries and deletes them once stored; it never appends.
/// </summary>
public sealed class SeatEventJournal
{
    private readonly IConnectionMultiplexer _redis;
    private readonly RedisKeys _keys;
    private readonly BackendPipelines _pipelines;

    public SeatEventJournal(IConnectionMultiplexer redis, RedisKeys keys, BackendPipelines pipelines)
    {
        _redis = redis;
        _keys = keys;
        _pipelines = pipelines;
    }

    /// <summary>
    /// The pool's oldest entries not yet stored (up to <paramref name="max"/>; one entry holds the events of one
    /// script call), each with its events in sequence order.
    /// </summary>
    public async Task<IReadOnlyList<(RedisValue EntryId, IReadOnlyList<SeatEvent> Events)>> ReadAsync(PoolId pool, int max, CancellationToken cancellationToken)
    {
        var key = _keys.SeatEvents(pool);
        // Retrying is safe: it only reads.
        var entries = await _pipelines.Redis.ExecuteAsync(
            static async (state, ct) => await state.database.StreamRangeAsync(state.key, count: state.max).WaitAsync(ct),
            (database: _redis.GetDatabase(), key, max),
            cancellationToken);
        var read = new List<(RedisValue, IReadOnlyList<SeatEvent>)>(entries.Length);
        foreach (var entry in entries)
        {
            var seq = entry["seq"];
            var fields = entry["e"];
            read.Add((entry.Id, seq.IsNull || fields.IsNull
                ? []
                : SeatEventCodec.FromJson(pool, long.Parse((string)seq!, CultureInfo.InvariantCulture), (string)fields!)));
        }

        return read;
    }

    /// <summary>Deletes stored entries; an entry deleted twice (two replicas draining) is no error.</summary>
    public async Task DeleteAsync(PoolId pool, IReadOnlyList<RedisValue> entryIds, CancellationToken cancellationToken)
    {
        if (entryIds.Count == 0)
        {
            return;
        }

        var key = _keys.SeatEvents(pool);
        var ids = entryIds.ToArray();
        // Retrying is safe: deleting an id twice deletes it once.
        await _pipelines.Redis.ExecuteAsync(
            static async (state, ct) => await state.database.StreamDeleteAsync(state.key, state.ids).WaitAsync(ct),
            (database: _redis.GetDatabase(), key, ids),
            cancellationToken);
    }

    /// <summary>How many events each pool's journal holds (one pipelined round trip per shard), for the drain's recovery scan.</summary>
    public async Task<IReadOnlyList<long>> LengthsAsync(IReadOnlyList<PoolId> pools, CancellationToken cancellationToken)
    {
        var database = _redis.GetDatabase();
        return await _pipelines.Redis.ExecuteAsync(
            static async (state, ct) => await Task.WhenAll(state.pools.Select(p => state.database.StreamLengthAsync(state.keys.SeatEvents(p)))).WaitAsync(ct),
            (database, pools, keys: _keys),
            cancellationToken);
    }
}

/// <summary>
/// Reads a seat event as the pool scripts write it (event() in Scripts/library/01_call.lua): the values of
/// <see cref="Columns"/>, read by name; -1 for a counter the event did not move.
/// </summary>
public static class SeatEventCodec
{
    /// <summary>The names of an event's values, in the order the scripts write them (EVENT_COLUMNS in Scripts/library/01_call.lua).</summary>
    public static IReadOnlyList<string> Columns { get; } = ["kind", "lease_id", "agent", "actor", "peak", "refused", "at_ms", "in_use"];

    private static readonly int Kind = Column("kind");
    private static readonly int LeaseId = Column("lease_id");
    private static readonly int Agent = Column("agent");
    private static readonly int Actor = Column("actor");
    private static readonly int Peak = Column("peak");
    private static readonly int Refused = Column("refused");
    private static readonly int At = Column("at_ms");
    private static readonly int InUse = Column("in_use");

    /// <summary>How many values an event has.</summary>
    public static int Width => Columns.Count;

    /// <summary>From the values of a script's reply.</summary>
    public static SeatEvent FromValues(PoolId pool, long sequence, IReadOnlyList<string> values) => Build(
        pool,
        sequence,
        values[Kind],
        values[LeaseId],
        values[Agent],
        values[Actor],
        long.Parse(values[Peak], CultureInfo.InvariantCulture),
        long.Parse(values[Refused], CultureInfo.InvariantCulture),
        long.Parse(values[At], CultureInfo.InvariantCulture),
        long.Parse(values[InUse], CultureInfo.InvariantCulture));

    /// <summary>From a journal entry's JSON array: <see cref="Width"/> values per event, numbered from <paramref name="firstSequence"/>.</summary>
    public static IReadOnlyList<SeatEvent> FromJson(PoolId pool, long firstSequence, string json)
    {
        using var document = JsonDocument.Parse(json);
        var values = document.RootElement.EnumerateArray().ToArray();
        var events = new List<SeatEvent>(values.Length / Width);
        for (var i = 0; i + Width - 1 < values.Length; i += Width)
        {
            events.Add(Build(
                pool, firstSequence + (i / Width), values[i + Kind].GetString()!, values[i + LeaseId].GetString()!, values[i + Agent].GetString()!,
                values[i + Actor].GetString()!, Number(values[i + Peak]), Number(values[i + Refused]), Number(values[i + At]), Number(values[i + InUse])));
        }

        return events;
    }

    private static int Column(string name) => Columns.ToList().IndexOf(name) is >= 0 and var index
        ? index
        : throw new InvalidOperationException($"No seat event column '{name}'.");

    // cjson writes whole numbers as numbers, possibly in exponent form; strings are read as well.
    private static long Number(JsonElement value) => value.ValueKind == JsonValueKind.String
        ? long.Parse(value.GetString()!, CultureInfo.InvariantCulture)
        : (long)value.GetDouble();

    private static SeatEvent Build(PoolId pool, long sequence, string kind, string leaseId, string agent, string actor, long peak, long refused, long at, long inUse) => new(
        pool,
        SeatEventKinds.FromScript(kind),
        agent,
        leaseId.Length == 0 ? null : leaseId,
        actor,
        DateTimeOffset.FromUnixTimeMilliseconds(at),
        PeakToday: peak < 0 ? null : (int)peak,
        RefusedToday: refused < 0 ? null : (int)refused,
        SeatsInUse: inUse < 0 ? null : (int)inUse,
        Sequence: sequence);
}
