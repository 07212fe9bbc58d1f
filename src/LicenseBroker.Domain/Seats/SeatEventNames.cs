using LicenseBroker.Domain.Webhooks;

namespace LicenseBroker.Domain.Seats;

/// <summary>
/// Every name of one seat-event kind, in one row: what the pool scripts write (event() in
/// Scripts/library/01_call.lua), the audit action it is stored as, the webhook type it is delivered as (null: none), the
/// metric label it is counted under. The Admin Center's sentence for it is the resource "Event_" + the audit action,
/// in English and French (a test checks every row has both). A new kind is one row here and its sentences.
/// </summary>
public sealed record SeatEventNames(SeatEventKind Kind, string ScriptName, string AuditAction, string? WebhookType, string MetricLabel)
{
    /// <summary>The Admin Center's resource key of the sentence that tells the event.</summary>
    public string SentenceKey => "Event_" + AuditAction;
}

/// <summary>The table of seat-event kinds (see <see cref="SeatEventNames"/>); an unknown name is an error, never a guess.</summary>
public static class SeatEventKinds
{
    public static IReadOnlyList<SeatEventNames> All { get; } =
    [
        new(SeatEventKind.Granted, "granted", "seat.granted", WebhookEventTypes.SeatGranted, "granted"),
        new(SeatEventKind.Released, "released", "seat.released", WebhookEventTypes.SeatReleased, "released"),
        new(SeatEventKind.Expired, "expired", "seat.expired", WebhookEventTypes.SeatExpired, "expired"),
        new(SeatEventKind.ForceReleased, "force_released", "seat.force_released", WebhookEventTypes.SeatForceReleased, "force_released"),
        new(SeatEventKind.Refused, "refused", "seat.refused", WebhookEventTypes.SeatRefused, "refused"),
        new(SeatEventKind.Reestablished, "reestablished", "seat.reestablished", null, "reestablished"),
        new(SeatEventKind.IdleReleased, "idle_released", "seat.idle_released", WebhookEventTypes.SeatIdleReleased, "idle_released"),
        new(SeatEventKind.Queued, "queued", "queue.joined", WebhookEventTypes.QueueJoined, "queued"),
        new(SeatEventKind.WaitCancelled, "wait_cancelled", "queue.cancelled", WebhookEventTypes.QueueCancelled, "wait_cancelled"),
        new(SeatEventKind.WaitTimedOut, "wait_timed_out", "queue.timed_out", WebhookEventTypes.QueueTimedOut, "wait_timed_out"),
        new(SeatEventKind.WaitAbandoned, "wait_abandoned", "queue.abandoned", WebhookEventTypes.QueueAbandoned, "wait_abandoned"),
        new(SeatEventKind.Revived, "revived", "seat.revived", WebhookEventTypes.SeatRevived, "revived"),
        new(SeatEventKind.OverageStarted, "overage_started", "pool.overage_started", WebhookEventTypes.PoolOverageStarted, "overage_started"),
        new(SeatEventKind.OverageChanged, "overage_changed", "pool.overage_changed", WebhookEventTypes.PoolOverageChanged, "overage_changed"),
        new(SeatEventKind.OverageEnded, "overage_ended", "pool.overage_ended", WebhookEventTypes.PoolOverageEnded, "overage_ended"),
    ];

    private static readonly Dictionary<SeatEventKind, SeatEventNames> ByKind = All.ToDictionary(n => n.Kind);
    private static readonly Dictionary<string, SeatEventNames> ByScriptName = All.ToDictionary(n => n.ScriptName, StringComparer.Ordinal);

    /// <summary>The waits that ended without a seat (cancelled, timed out, abandoned): what the history and the planner count as given up.</summary>
    public static IReadOnlySet<SeatEventKind> WaitsEndedWithoutSeat { get; } =
        new HashSet<SeatEventKind> { SeatEventKind.WaitCancelled, SeatEventKind.WaitTimedOut, SeatEventKind.WaitAbandoned };

    /// <summary>The audit actions of all seat events, as stored in audit_events.action.</summary>
    public static IReadOnlyList<string> AuditActions { get; } = All.Select(n => n.AuditAction).ToList();

    public static SeatEventNames Of(SeatEventKind kind) =>
        ByKind.TryGetValue(kind, out var names) ? names : throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown seat event kind");

    /// <summary>The kind a pool script named; an unknown name is a bug of the scripts (or of a newer broker's), reported.</summary>
    public static SeatEventKind FromScript(string name) =>
        ByScriptName.TryGetValue(name, out var names) ? names.Kind : throw new InvalidOperationException($"Unknown seat event kind '{name}' in a pool script's reply.");
}
