using Portal.Compute;
using Portal.Compute.Audit;
using Portal.Contracts;

namespace Portal.Agent.Audit;

/// <summary>GET /api/audit (Admin): the audit trail, filtered, in sequence order, a page at a time.</summary>
public static class AuditEndpoints
{
    public static AuditPage Read(DateTimeOffset? since, DateTimeOffset? until, string? actor, string? action, string? target,
        AuditDecision? decision, AuditEntryPoint? entryPoint, long? after, int? limit, AuditTrail audit)
    {
        if (after is < 0)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"after={after} is not a sequence: use 0 (from the start) or the sequence of the last entry you have.");
        }

        if (limit is < 1 or > AuditQuery.MaxLimit)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"limit={limit} is out of range: ask for 1 to {AuditQuery.MaxLimit} entries per page and follow 'next'.");
        }

        if (since is { } from && until is { } to && to < from)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "until is before since: swap them.");
        }

        return audit.Log.Read(new AuditQuery
        {
            After = after ?? 0,
            Since = since,
            Until = until,
            Actor = actor,
            Action = action,
            Target = target,
            Decision = decision,
            EntryPoint = entryPoint,
            Limit = limit ?? AuditQuery.DefaultLimit,
        });
    }
}
