namespace Portal.Compute.Images;

/// <summary>
/// What one import may cost, shared by every tar it reads (the archive itself and every layer of every image in
/// it): decompressed bytes, entries, and the free space left on the store's filesystem. One budget per import
/// call, so a multi-image archive cannot multiply the limits by its image count.
/// </summary>
internal sealed class ImportBudget
{
    /// <summary>How often (in decompressed bytes) the free space is looked at again while unpacking.</summary>
    private const long FreeSpaceCheckInterval = 16L << 20;

    private readonly ImageStoreOptions _options;
    private readonly string _workPath;
    private long _nextFreeSpaceCheck;

    public ImportBudget(ImageStoreOptions options, string workPath)
    {
        _options = options;
        _workPath = workPath;
        _nextFreeSpaceCheck = FreeSpaceCheckInterval;
    }

    public long MaxBytes => _options.MaxExtractedBytes;

    public long MaxEntries => _options.MaxArchiveEntries;

    /// <summary>Decompressed tar bytes read so far (headers, data, padding; skipped entries too).</summary>
    public long Bytes { get; private set; }

    public long Entries { get; private set; }

    /// <summary>Counts <paramref name="count"/> more tar bytes about to be read for entry <paramref name="entry"/> of <paramref name="what"/>; refuses past the limit.</summary>
    public void TakeBytes(long count, string what, string entry)
    {
        if (count > MaxBytes - Bytes)
        {
            throw new ComputeException(
                ComputeErrorCode.ImageRejected,
                $"{Capitalize(what)}: entry '{entry}' takes the import past {MaxBytes} unpacked bytes (all images and layers of the archive together; a possible tar or gzip bomb). " +
                "If the image is genuine, raise ImageStoreOptions.MaxExtractedBytes (Compute:ImageImportMaxBytes).");
        }

        Bytes += count;
        if (Bytes >= _nextFreeSpaceCheck)
        {
            _nextFreeSpaceCheck = Bytes + FreeSpaceCheckInterval;
            EnsureFreeSpace(0, $"{what}, entry '{entry}'");
        }
    }

    /// <summary>Counts one more entry; refuses past the limit.</summary>
    public void TakeEntry(string what, string entry)
    {
        if (++Entries > MaxEntries)
        {
            throw new ComputeException(
                ComputeErrorCode.ImageRejected,
                $"{Capitalize(what)}: entry '{entry}' exceeds the limit of {MaxEntries} archive entries per import (all images and layers of the archive together; a possible tar bomb). " +
                "If the image is genuine, raise ImageStoreOptions.MaxArchiveEntries (Compute:ImageImportMaxEntries).");
        }
    }

    /// <summary>
    /// Refuses when writing <paramref name="needed"/> more bytes would leave less than the reserve
    /// (<see cref="ImageStoreOptions.MinFreeBytes"/>) free on the filesystem that holds the store.
    /// </summary>
    public void EnsureFreeSpace(long needed, string doing) => EnsureFreeSpace(_options, _workPath, needed, doing);

    public static void EnsureFreeSpace(ImageStoreOptions options, string path, long needed, string doing)
    {
        var free = (options.FreeBytesProbe ?? FreeBytes)(path);
        if (free - needed < options.MinFreeBytes)
        {
            var wants = needed > 0 ? $"needs about {needed} bytes and " : string.Empty;
            throw new ComputeException(
                ComputeErrorCode.ImageRejected,
                $"Not enough disk space for {doing}: it {wants}the filesystem holding '{options.Root}' has {free} bytes free, " +
                $"and {options.MinFreeBytes} bytes are kept in reserve (Compute:ImageMinFreeBytes). Free some space (remove unused images or containers) and import again.");
        }
    }

    /// <summary>The bytes an unprivileged writer may still use on the filesystem holding <paramref name="path"/> (statvfs f_bavail).</summary>
    public static long FreeBytes(string path) => new DriveInfo(path).AvailableFreeSpace;

    private static string Capitalize(string text) =>
        text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];
}
