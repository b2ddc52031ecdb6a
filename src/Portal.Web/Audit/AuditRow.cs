using Portal.Contracts;

namespace Portal.Web.Audit;

/// <summary>
/// One entry of the merged trail: where it was recorded (a host by its portal name, or the portal itself) and the entry.
/// <see cref="Key"/> is unique across sources (sequences are per source), so a live entry already listed is not listed twice.
/// </summary>
public sealed record AuditRow(string Host, bool FromPortal, AuditEntry Entry)
{
    /// <summary>The name the portal's own entries are listed under.</summary>
    public const string PortalSource = "portal";

    public string Key => FromPortal ? $"portal#{Entry.Sequence}" : $"host:{Host}#{Entry.Sequence}";

    public static AuditRow Portal(AuditEntry entry) => new(PortalSource, true, entry);
}

/// <summary>A host whose entries are not in a result, and why (offline, a key that is not an Admin key, an error).</summary>
public sealed record MissingHost(string Host, string Reason);

/// <summary>
/// The merged trail for a search: newest first, the hosts that could not be read, and whether more entries matched than
/// the limit (or than a host's scan reached).
/// </summary>
public sealed record AuditListing(IReadOnlyList<AuditRow> Rows, IReadOnlyList<MissingHost> Missing, bool Truncated);
