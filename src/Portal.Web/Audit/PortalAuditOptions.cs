namespace Portal.Web.Audit;

/// <summary>The audit settings in the "Portal" section: where the portal keeps its own trail and for how long.</summary>
public sealed class PortalAuditOptions
{
    /// <summary>Days the portal keeps its own entries (sign-ins, user changes); whole days are dropped after that. 0 keeps them all.</summary>
    public int AuditRetentionDays { get; set; } = 90;

    /// <summary>The directory of the portal's own trail; empty: "portal-audit" beside the SQLite file (Portal:Database).</summary>
    public string? AuditDirectory { get; set; }

    /// <summary>The most entries an export holds (newest first).</summary>
    public int AuditExportLimit { get; set; } = 10_000;

    public string DirectoryFor(PortalOptions portal) => !string.IsNullOrWhiteSpace(AuditDirectory)
        ? AuditDirectory
        : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(portal.Database)) ?? ".", "portal-audit");

    /// <summary>Refuses settings that cannot work, saying what to set.</summary>
    public void Validate()
    {
        if (AuditRetentionDays < 0)
        {
            throw new InvalidOperationException($"Portal:AuditRetentionDays '{AuditRetentionDays}' is negative: give the days to keep (such as 90), or 0 to keep everything.");
        }

        if (AuditExportLimit is < 1 or > 1_000_000)
        {
            throw new InvalidOperationException($"Portal:AuditExportLimit '{AuditExportLimit}' is out of range: give 1 to 1000000 entries.");
        }
    }
}
