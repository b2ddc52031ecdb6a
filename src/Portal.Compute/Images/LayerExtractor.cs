using System.Formats.Tar;

namespace Portal.Compute.Images;

/// <summary>
/// Unpacks tar layers, in order, onto one directory without ever writing outside it.
/// Every path is checked lexically first (no absolute names, no ".." above the root), then every parent
/// component is looked at with lstat and must be a real directory: an existing symlink is never followed.
/// Relative symlinks must point inside the root; hard links must name a regular file inside the root reached
/// without symlinks; device nodes are refused. With whiteouts on, OCI ".wh.name" entries delete the name and
/// ".wh..wh..opq" hides everything earlier layers put in that directory.
/// </summary>
internal sealed class LayerExtractor
{
    private const string WhiteoutPrefix = ".wh.";
    private const string OpaqueWhiteout = ".wh..wh..opq";

    private readonly string _root;
    private readonly ImportBudget _budget;
    private readonly bool _applyWhiteouts;
    private readonly bool _preserveOwnership;
    private readonly HashSet<string> _verifiedDirectories = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _directoryTimes = new(StringComparer.Ordinal);
    private long _bytes;

    /// <param name="budget">The import's limits, shared by every tar of the import (all layers of all images).</param>
    public LayerExtractor(string root, ImportBudget budget, bool applyWhiteouts, bool preserveOwnership)
    {
        _root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        _budget = budget;
        _applyWhiteouts = applyWhiteouts;
        _preserveOwnership = preserveOwnership && Environment.IsPrivilegedProcess;
        if (!Directory.Exists(_root))
        {
            // The image's root directory, as an archive without a "./" entry leaves it: 0755 whatever the agent's umask (077).
            Directory.CreateDirectory(_root);
            PosixFile.Chmod(_root, 0b111_101_101);
        }
    }

    /// <summary>File bytes this extractor wrote (what the image disk built from its root will roughly hold).</summary>
    public long BytesWritten => _bytes;

    /// <summary>
    /// Applies one uncompressed tar stream. Returns its diff id: the sha256 of the whole tar stream.
    /// <paramref name="what"/> names the layer in errors ("layer 2 (blobs/sha256/ab..)").
    /// </summary>
    public async Task<string> ApplyAsync(Stream tar, string what, Action<long>? onBytes, CancellationToken ct)
    {
        // Every header is checked (metadata records bounded, sizes charged to the budget) before the tar reader sees it.
        await using var hashing = new HashingReadStream(new BoundedTarStream(tar, _budget, what), leaveOpen: false);
        await using var reader = new TarReader(hashing, leaveOpen: true);
        var unpacked = new HashSet<string>(StringComparer.Ordinal);
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            TarEntry? entry;
            try
            {
                entry = await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is InvalidDataException or FormatException or EndOfStreamException or ArgumentException)
            {
                throw new ComputeException(
                    ComputeErrorCode.ImageRejected,
                    $"{Capitalize(what)} is not a valid tar archive ({ex.Message}). Check that the file is complete and was produced by docker save, an OCI tool or tar.",
                    ex);
            }

            if (entry is null)
            {
                break;
            }

            try
            {
                await ApplyEntryAsync(entry, what, unpacked, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException)
            {
                // The data of the entry is corrupt (a damaged gzip stream) or cut short.
                throw Reject(what, entry.Name, $"could not be read ({ex.Message}); the archive is damaged or incomplete", ex);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw Reject(what, entry.Name, $"could not be written ({ex.Message})", ex);
            }

            onBytes?.Invoke(hashing.BytesRead);
        }

        try
        {
            await hashing.DrainAsync(ct).ConfigureAwait(false);
        }
        catch (InvalidDataException ex)
        {
            throw new ComputeException(
                ComputeErrorCode.ImageRejected,
                $"{Capitalize(what)} is damaged after its last entry ({ex.Message}). Check that the file is complete and re-export it.",
                ex);
        }

        return hashing.Digest();
    }

    /// <summary>Sets directory mtimes last: creating children would otherwise bump them again.</summary>
    public void Finish()
    {
        foreach (var (relative, time) in _directoryTimes.OrderByDescending(d => d.Key.Length))
        {
            var full = FullPath(relative);
            if (PosixFile.Lstat(full) == PosixFile.Kind.Directory)
            {
                PosixFile.SetMTime(full, time);
            }
        }
    }

    private async Task ApplyEntryAsync(TarEntry entry, string what, HashSet<string> unpacked, CancellationToken ct)
    {
        var name = entry.Name;
        if (entry.EntryType is TarEntryType.GlobalExtendedAttributes)
        {
            return;
        }

        _budget.TakeEntry(what, name);

        if (name.Contains('\0') || entry.LinkName.Contains('\0'))
        {
            throw Reject(what, name, "contains a NUL character in its name or link target");
        }

        var parts = ArchivePath.Normalize(name)
            ?? throw Reject(what, name, name.StartsWith('/')
                ? "has an absolute path; image archives must use paths relative to the image root"
                : "climbs out of the image root with '..'");

        var fileName = parts.Length > 0 ? parts[^1] : string.Empty;
        if (_applyWhiteouts && fileName.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
        {
            ApplyWhiteout(what, name, parts, unpacked);
            return;
        }

        switch (entry.EntryType)
        {
            case TarEntryType.Directory:
            case TarEntryType.RegularFile:
            case TarEntryType.V7RegularFile:
            case TarEntryType.ContiguousFile:
            case TarEntryType.SymbolicLink:
            case TarEntryType.HardLink:
            case TarEntryType.Fifo:
                break;
            case TarEntryType.CharacterDevice:
            case TarEntryType.BlockDevice:
                throw Reject(what, name, $"is a {(entry.EntryType == TarEntryType.CharacterDevice ? "character" : "block")} device node; " +
                    "device nodes are not allowed in images (the runtime provides /dev). Remove it from the image");
            default:
                throw Reject(what, name, $"has the unsupported tar entry type {entry.EntryType}");
        }

        if (parts.Length == 0)
        {
            if (entry.EntryType != TarEntryType.Directory)
            {
                throw Reject(what, name, "names the image root but is not a directory");
            }

            ApplyMetadata(_root, entry, isSymlink: false);
            _directoryTimes[string.Empty] = entry.ModificationTime;
            return;
        }

        EnsureParents(what, name, parts, create: true);
        var relative = ArchivePath.Join(parts);
        var full = FullPath(relative);
        var existing = PosixFile.Lstat(full);

        switch (entry.EntryType)
        {
            case TarEntryType.Directory:
                if (existing != PosixFile.Kind.Directory)
                {
                    RemoveExisting(full, existing);
                    Directory.CreateDirectory(full);
                }

                ApplyMetadata(full, entry, isSymlink: false);
                _directoryTimes[relative] = entry.ModificationTime;
                _verifiedDirectories.Add(relative);
                break;

            case TarEntryType.SymbolicLink:
                if (entry.LinkName.Length == 0)
                {
                    throw Reject(what, name, "is a symlink with an empty target");
                }

                if (!ArchivePath.SymlinkStaysInside(parts, entry.LinkName))
                {
                    throw Reject(what, name, $"is a symlink to '{entry.LinkName}', which leaves the image root");
                }

                RemoveExisting(full, existing);
                PosixFile.Symlink(entry.LinkName, full);
                ApplyMetadata(full, entry, isSymlink: true);
                PosixFile.SetMTime(full, entry.ModificationTime);
                break;

            case TarEntryType.HardLink:
                var target = LinkTarget(what, name, entry.LinkName);
                if (target == full)
                {
                    break;
                }

                RemoveExisting(full, existing);
                PosixFile.Link(target, full);
                break;

            case TarEntryType.Fifo:
                RemoveExisting(full, existing);
                PosixFile.MkFifo(full, (int)entry.Mode);
                ApplyMetadata(full, entry, isSymlink: false);
                PosixFile.SetMTime(full, entry.ModificationTime);
                break;

            default:
                RemoveExisting(full, existing);
                await WriteFileAsync(entry, full, ct).ConfigureAwait(false);
                ApplyMetadata(full, entry, isSymlink: false);
                PosixFile.SetMTime(full, entry.ModificationTime);
                break;
        }

        // The entry and its ancestors belong to this layer: a later opaque marker in it must keep them.
        for (var i = 1; i <= parts.Length; i++)
        {
            unpacked.Add(ArchivePath.Join(parts[..i]));
        }
    }

    private async Task WriteFileAsync(TarEntry entry, string full, CancellationToken ct)
    {
        // The entry's size was charged to the import's budget when its header was read (BoundedTarStream).
        // CreateNew is O_CREAT|O_EXCL: even a symlink appearing at the name would not be followed.
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.None,
            Options = FileOptions.Asynchronous,
        };
        await using var output = new FileStream(full, options);
        if (entry.DataStream is { } data)
        {
            var buffer = new byte[81920];
            int n;
            while ((n = await data.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
            {
                _bytes += n;
                await output.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
            }
        }
    }

    private void ApplyWhiteout(string what, string name, string[] parts, HashSet<string> unpacked)
    {
        var fileName = parts[^1];
        var parentParts = parts[..^1];
        if (!ParentsExist(what, name, parentParts))
        {
            return;
        }

        if (fileName == OpaqueWhiteout)
        {
            var directory = ArchivePath.Join(parentParts);
            if (PosixFile.Lstat(FullPath(directory)) == PosixFile.Kind.Directory)
            {
                ClearOpaque(directory, unpacked);
            }

            for (var i = 1; i <= parentParts.Length; i++)
            {
                unpacked.Add(ArchivePath.Join(parentParts[..i]));
            }

            return;
        }

        if (fileName.StartsWith(WhiteoutPrefix + WhiteoutPrefix, StringComparison.Ordinal))
        {
            return; // other aufs metadata (.wh..wh.plnk, ...) carries nothing for us
        }

        var hidden = fileName[WhiteoutPrefix.Length..];
        if (hidden.Length == 0 || hidden is "." or "..")
        {
            throw Reject(what, name, "is a whiteout that names no file");
        }

        var full = FullPath(ArchivePath.Join([.. parentParts, hidden]));
        RemoveExisting(full, PosixFile.Lstat(full));
    }

    private void ClearOpaque(string directory, HashSet<string> unpacked)
    {
        foreach (var child in Directory.EnumerateFileSystemEntries(FullPath(directory)))
        {
            var relative = directory.Length == 0 ? Path.GetFileName(child) : directory + "/" + Path.GetFileName(child);
            var kind = PosixFile.Lstat(child);
            if (!unpacked.Contains(relative))
            {
                RemoveExisting(child, kind);
            }
            else if (kind == PosixFile.Kind.Directory)
            {
                ClearOpaque(relative, unpacked);
            }
        }
    }

    /// <summary>Checks (and with <paramref name="create"/> makes) every parent directory, refusing symlinks and files.</summary>
    private void EnsureParents(string what, string name, string[] parts, bool create)
    {
        for (var i = 1; i < parts.Length; i++)
        {
            var relative = ArchivePath.Join(parts[..i]);
            if (_verifiedDirectories.Contains(relative))
            {
                continue;
            }

            var full = FullPath(relative);
            switch (PosixFile.Lstat(full))
            {
                case PosixFile.Kind.Directory:
                    break;
                case PosixFile.Kind.Symlink:
                    throw Reject(what, name, $"goes through the symlink '{relative}'; entries may not be written through symlinks");
                case PosixFile.Kind.Other:
                    throw Reject(what, name, $"needs '{relative}' to be a directory, but it is a file");
                default:
                    if (!create)
                    {
                        return;
                    }

                    Directory.CreateDirectory(full);
                    PosixFile.Chmod(full, 0b111_101_101);
                    break;
            }

            _verifiedDirectories.Add(relative);
        }
    }

    /// <summary>True when all of <paramref name="parentParts"/> exist as real directories; symlinks on the way are refused.</summary>
    private bool ParentsExist(string what, string name, string[] parentParts)
    {
        for (var i = 1; i <= parentParts.Length; i++)
        {
            var relative = ArchivePath.Join(parentParts[..i]);
            switch (PosixFile.Lstat(FullPath(relative)))
            {
                case PosixFile.Kind.Directory:
                    continue;
                case PosixFile.Kind.Symlink:
                    throw Reject(what, name, $"goes through the symlink '{relative}'; entries may not be written through symlinks");
                default:
                    return false;
            }
        }

        return true;
    }

    private string LinkTarget(string what, string name, string linkName)
    {
        var parts = linkName.StartsWith('/') ? null : ArchivePath.Normalize(linkName);
        if (parts is null || parts.Length == 0)
        {
            throw Reject(what, name, $"is a hard link to '{linkName}', which is outside the image root");
        }

        for (var i = 1; i <= parts.Length; i++)
        {
            var relative = ArchivePath.Join(parts[..i]);
            var kind = PosixFile.Lstat(FullPath(relative));
            var last = i == parts.Length;
            switch (kind)
            {
                case PosixFile.Kind.Symlink:
                    throw Reject(what, name, last
                        ? $"is a hard link to the symlink '{linkName}'; hard links to symlinks are not allowed"
                        : $"is a hard link to '{linkName}', which goes through the symlink '{relative}'");
                case PosixFile.Kind.Missing:
                    throw Reject(what, name, $"is a hard link to '{linkName}', which does not exist earlier in the archive");
                case PosixFile.Kind.Directory when last:
                    throw Reject(what, name, $"is a hard link to the directory '{linkName}'");
                case PosixFile.Kind.Other when !last:
                    throw Reject(what, name, $"is a hard link to '{linkName}', but '{relative}' is not a directory");
            }
        }

        return FullPath(ArchivePath.Join(parts));
    }

    private void ApplyMetadata(string full, TarEntry entry, bool isSymlink)
    {
        if (_preserveOwnership)
        {
            PosixFile.LChown(full, entry.Uid, entry.Gid);
        }

        if (!isSymlink)
        {
            // After chown: chown clears set-id bits.
            PosixFile.Chmod(full, (int)entry.Mode);
        }
    }

    private void RemoveExisting(string full, PosixFile.Kind kind)
    {
        switch (kind)
        {
            case PosixFile.Kind.Missing:
                return;
            case PosixFile.Kind.Directory:
                PosixFile.RemoveTree(full);
                break;
            default:
                File.Delete(full);
                break;
        }

        // Something that was a directory may now be gone or be something else.
        _verifiedDirectories.Clear();
    }

    private string FullPath(string relative) => relative.Length == 0 ? _root : _root + "/" + relative;

    private static ComputeException Reject(string what, string name, string reason, Exception? inner = null) =>
        new(
            ComputeErrorCode.ImageRejected,
            $"{Capitalize(what)}: entry '{name}' {reason}. The image was not imported; fix or rebuild the archive.",
            inner);

    private static string Capitalize(string text) =>
        text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];
}
