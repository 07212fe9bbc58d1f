using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using LicenseBroker.Contracts.V1;
using LicenseBroker.Domain.Planning;
using LicenseBroker.Server.Identity;
using Microsoft.AspNetCore.Authorization;
using PoolId = LicenseBroker.Domain.Seats.PoolId;
using PlanModel = LicenseBroker.Contracts.V1.PlanModel;

namespace LicenseBroker.Server.Grpc;

/// <summary>The seat planner (docs/seat-planner.md): validate, plan once, map.</summary>
internal sealed partial class SeatAdminGrpcService
{
    private static readonly TimeSpan MaxP95WaitAsked = TimeSpan.FromHours(24);

    [Authorize(Policy = BrokerPolicies.ManageSeats)]
    public override async Task<PlanSeatsResponse> PlanSeats(PlanSeatsRequest request, ServerCallContext context)
    {
        var (accountId, _) = CallerIdentity.Admin(context);
        new RequestValidation()
            .Product(request.Product)
            .Timestamp(request.From, "from", out var from)
            .Timestamp(request.To, "to", out var to)
            .Check(request.From is null || request.To is null || (to > from && to - from <= PlanQuestion.MaxRange), "to", "must be after from, at most 400 days later")
            .Count(request.Candidates.Count, PlanQuestion.MaxCandidates, "candidates")
            .Check(request.Candidates.All(n => n is >= 0 and <= SeatReplay.MaxSeats), "candidates", $"must each be between 0 and {SeatReplay.MaxSeats}")
            .Check(!request.HasMaxUnservedPercent || request.MaxUnservedPercent is >= 0 and <= 100, "max_unserved_percent", "must be between 0 and 100")
            .Duration(request.MaxP95Wait, "max_p95_wait", MaxP95WaitAsked, "must be between 0 and 24 hours", PlanQuestion.DefaultMaxP95Wait, out var maxP95Wait)
            .ThrowIfInvalid();

        var question = new PlanQuestion(
            from,
            to,
            request.Candidates.ToList(),
            request.HasMaxUnservedPercent ? request.MaxUnservedPercent / 100 : PlanQuestion.DefaultMaxUnserved,
            maxP95Wait);

        using var permit = _admission.TryEnterHistory(accountId) ?? throw OutcomeStatus.ReportsBusy();
        var outcome = await Planning.PlanAsync(new PoolId(accountId, request.Product), question, context.CancellationToken);
        if (outcome is not PlanOutcome.Planned { Plan: var plan })
        {
            throw OutcomeStatus.Refused(outcome, request.Product);
        }

        var response = new PlanSeatsResponse
        {
            SeatLimit = plan.SeatLimit,
            RecordedPeak = plan.RecordedPeak,
            Logins = plan.Logins,
            BusiestHourOfWeek = plan.BusiestHourOfWeek,
            BusiestHour = DescribeHourOfWeek(plan.BusiestHourOfWeek),
            ArrivalsPerHour = plan.ArrivalsPerHour,
            OfferedLoad = plan.OfferedLoad,
            MeanHold = Duration.FromTimeSpan(plan.MeanHold),
            QueueAssumed = plan.AssumedQueue,
            Model = plan.Model switch
            {
                Domain.Planning.PlanModel.ErlangC => PlanModel.ErlangC,
                Domain.Planning.PlanModel.Engset => PlanModel.Engset,
                _ => PlanModel.ErlangB,
            },
            RecordedGrants = plan.Recorded.SharedGrants,
            RecordedRefusals = plan.Recorded.Refusals,
            RecordedQueueJoins = plan.Recorded.QueueJoins,
            RecordedQueueAbandonments = plan.Recorded.QueueAbandonments,
        };
        if (plan.Recommended is { } recommended)
        {
            response.RecommendedSeats = recommended;
        }

        response.Candidates.AddRange(plan.Candidates.Select(c => new SeatPlanCandidate
        {
            Seats = c.Seats,
            WholeRange = Figures(c.Whole),
            BusiestHour = Figures(c.BusiestHour),
            ModelPercent = c.ModelValue * 100,
            ReplayPercent = c.ReplayValue * 100,
            ModelDisagrees = c.Disagrees,
            Recommended = c.Seats == plan.Recommended,
        }));
        return response;
    }

    /// <summary>"Monday 09:00-10:00 UTC" for hour-of-week 9.</summary>
    internal static string DescribeHourOfWeek(int hourOfWeek)
    {
        var day = (DayOfWeek)((hourOfWeek / 24 + 1) % 7); // hour-of-week 0 is a Monday
        var hour = hourOfWeek % 24;
        return string.Create(CultureInfo.InvariantCulture, $"{day} {hour:00}:00-{hour + 1:00}:00 UTC");
    }

    private static ReplayFigures Figures(ReplayOutcome outcome) => new()
    {
        Logins = outcome.Logins,
        Refused = outcome.Refused,
        Waited = outcome.Waited,
        Abandoned = outcome.Abandoned,
        WaitP50 = Duration.FromTimeSpan(outcome.WaitP50),
        WaitP95 = Duration.FromTimeSpan(outcome.WaitP95),
        WaitP99 = Duration.FromTimeSpan(outcome.WaitP99),
        WaitMax = Duration.FromTimeSpan(outcome.WaitMax),
        WaitMean = Duration.FromTimeSpan(outcome.MeanWait),
        IdleSeatHours = outcome.IdleSeatHours,
        UnservedPercent = outcome.UnservedFraction * 100,
    };
}
