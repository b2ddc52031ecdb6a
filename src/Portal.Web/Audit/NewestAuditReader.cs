using Portal.Client;
using Portal.Contracts;

namespace Portal.Web.Audit;

/// <summary>
/// Reads the newest matching entries of one agent, whose API pages oldest first: it learns the newest sequence, then
/// reads windows of sequences backwards (the newest window first, each twice the last) until it has enough or reaches
/// the oldest entry kept. A bound on the pages read keeps one search from reading a huge trail; reaching it is reported
/// as truncated.
/// </summary>
public static class NewestAuditReader
{
    public const int FirstWindow = 1_000;
    public const int MaxPages = 50;

    public static async Task<(IReadOnlyList<AuditEntry> Entries, bool Truncated)> ReadAsync(
        IAgentAuditClient client, AgentAuditFilter filter, Func<AuditEntry, bool> matches, int limit, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        // The cheapest page (the oldest entry) carries lastSequence: the newest entry recorded.
        var last = (await client.ReadAsync(AgentAuditFilter.None, 0, 1, ct).ConfigureAwait(false)).LastSequence;
        var found = new List<AuditEntry>();
        var pages = 0;
        long upTo = last;
        long window = FirstWindow;
        while (upTo > 0)
        {
            var from = Math.Max(0, upTo - window);
            var ofWindow = new List<AuditEntry>();
            var after = from;
            while (true)
            {
                if (++pages > MaxPages)
                {
                    found.AddRange(Enumerable.Reverse(ofWindow));
                    return (Newest(found, limit), true);
                }

                var page = await client.ReadAsync(filter, after, Math.Min(1_000, (int)Math.Min(window, int.MaxValue)), ct).ConfigureAwait(false);
                ofWindow.AddRange(page.Entries.Where(e => e.Sequence <= upTo && matches(e)));
                if (page.Next is not { } next || next >= upTo || page.Entries.Count == 0 || page.Entries[^1].Sequence >= upTo)
                {
                    break;
                }

                after = next;
            }

            ofWindow.Reverse();
            found.AddRange(ofWindow);
            if (found.Count > limit)
            {
                return (Newest(found, limit), true);
            }

            upTo = from;
            window = Math.Min(window * 2, 64_000);
        }

        return (found, false);
    }

    private static List<AuditEntry> Newest(List<AuditEntry> found, int limit) => found.Count > limit ? found.GetRange(0, limit) : found;
}
