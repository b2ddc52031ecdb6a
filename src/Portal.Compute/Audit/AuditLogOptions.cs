namespace Portal.Compute.Audit;

/// <summary>Where the audit trail lives and how much of it is kept (appsettings.json section "Agent:Audit").</summary>
public sealed record AuditLogOptions
{
    /// <summary>The directory of the trail's segment files; empty for &lt;StateRoot&gt;/agent/audit.</summary>
    public string Directory { get; init; } = "";

    /// <summary>The most bytes all segments together keep; the oldest segments go first.</summary>
    public long MaxBytes { get; init; } = 256L << 20;

    /// <summary>Segments whose newest entry is older than this many days go; 0 keeps entries until MaxBytes needs the room.</summary>
    public int RetentionDays { get; init; } = 365;

    /// <summary>A segment is closed and a new one started at this size (and at each new UTC day).</summary>
    public long SegmentBytes { get; init; } = 16L << 20;

    /// <summary>fdatasync each entry before the action's caller gets its answer (an acknowledged action survives a power cut).</summary>
    public bool SyncEachEntry { get; init; } = true;

    public const long MinMaxBytes = 64 << 10;
    public const long MinSegmentBytes = 4 << 10;

    /// <summary>Throws with what to change when the settings cannot work together.</summary>
    public void Validate()
    {
        if (MaxBytes < MinMaxBytes)
        {
            throw new InvalidOperationException($"Agent:Audit:MaxBytes is {MaxBytes}: keep at least {MinMaxBytes} bytes (64 KiB) of audit trail.");
        }

        if (SegmentBytes < MinSegmentBytes || SegmentBytes > MaxBytes / 2)
        {
            throw new InvalidOperationException($"Agent:Audit:SegmentBytes is {SegmentBytes}: use {MinSegmentBytes} to half of Agent:Audit:MaxBytes ({MaxBytes / 2}), so rotation keeps whole segments within the bound.");
        }

        if (RetentionDays < 0)
        {
            throw new InvalidOperationException($"Agent:Audit:RetentionDays is {RetentionDays}: use a number of days, or 0 to keep entries until Agent:Audit:MaxBytes needs the room.");
        }
    }
}
