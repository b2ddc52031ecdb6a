namespace Portal.Compute.Images;

/// <summary>Import progress: a stage name ("read", "verify", "extract", "build-disk", "done") and bytes.</summary>
public sealed record ImageImportProgress(string Stage, long BytesDone, long? BytesTotal);
