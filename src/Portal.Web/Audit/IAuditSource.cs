namespace Portal.Web.Audit;

/// <summary>
/// The merged audit trail of every host and the portal, for the Audit page and its export: what matches a search now,
/// and each new entry as it is recorded anywhere. The page's seam (a fake in its tests).
/// </summary>
public interface IAuditSource
{
    /// <summary>The hosts whose trails it reads, by their portal names (the portal's own is <see cref="AuditRow.PortalSource"/>).</summary>
    IReadOnlyList<string> Hosts { get; }

    /// <summary>The newest <paramref name="limit"/> entries matching <paramref name="search"/>, newest first; hosts not read are named.</summary>
    Task<AuditListing> ReadAsync(AuditSearch search, int limit, CancellationToken ct);

    /// <summary>
    /// Calls <paramref name="onEntry"/> (on a background thread) for each new entry from any source, until disposed. Returns
    /// once each reachable host's stream has its starting point, so a read made after it misses nothing: an entry is in
    /// the read, or comes to <paramref name="onEntry"/>, or both.
    /// </summary>
    Task<IDisposable> FollowAsync(Action<AuditRow> onEntry, CancellationToken ct);
}
