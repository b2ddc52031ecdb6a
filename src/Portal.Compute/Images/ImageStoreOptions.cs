namespace Portal.Compute.Images;

/// <summary>Where images live and how much an import may unpack.</summary>
public sealed record ImageStoreOptions
{
    /// <summary>The store directory, e.g. /var/lib/portal/images. Created when missing.</summary>
    public required string Root { get; init; }

    /// <summary>Case-insensitive alias name -> image reference, e.g. "NanoServer" -> "busybox:latest".</summary>
    public IReadOnlyDictionary<string, string> Aliases { get; init; } = new Dictionary<string, string>();

    /// <summary>Tar-bomb guard: the most entries one import may unpack (the archive and every layer of every image in it together).</summary>
    public long MaxArchiveEntries { get; init; } = 2_000_000;

    /// <summary>
    /// Tar/gzip-bomb guard: the most tar bytes one import may read after decompression (the archive and every layer of
    /// every image in it together; headers, padding and skipped entries count).
    /// </summary>
    public long MaxExtractedBytes { get; init; } = 64L * 1024 * 1024 * 1024;

    /// <summary>Free space an import always leaves on the store's filesystem; checked before and while it unpacks.</summary>
    public long MinFreeBytes { get; init; } = 1L << 30;

    /// <summary>Test seam: the free bytes of the filesystem holding a path (statvfs when null).</summary>
    internal Func<string, long>? FreeBytesProbe { get; init; }

    /// <summary>The mkfs.erofs executable (erofs-utils).</summary>
    public string MkfsErofsPath { get; init; } = "mkfs.erofs";
}
