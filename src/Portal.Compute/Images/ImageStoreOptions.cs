namespace Portal.Compute.Images;

/// <summary>Where images live and how much an import may unpack.</summary>
public sealed record ImageStoreOptions
{
    /// <summary>The store directory, e.g. /var/lib/portal/images. Created when missing.</summary>
    public required string Root { get; init; }

    /// <summary>Case-insensitive alias name -> image reference, e.g. "NanoServer" -> "busybox:latest".</summary>
    public IReadOnlyDictionary<string, string> Aliases { get; init; } = new Dictionary<string, string>();

    /// <summary>Tar-bomb guard: the most entries one import may unpack (all layers together).</summary>
    public long MaxArchiveEntries { get; init; } = 2_000_000;

    /// <summary>Tar-bomb guard: the most bytes one import may unpack (all layers together, after decompression).</summary>
    public long MaxExtractedBytes { get; init; } = 64L * 1024 * 1024 * 1024;

    /// <summary>The mkfs.erofs executable (erofs-utils).</summary>
    public string MkfsErofsPath { get; init; } = "mkfs.erofs";
}
