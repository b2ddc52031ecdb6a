using System.Collections.Immutable;
using System.Diagnostics;
using System.Formats.Tar;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace Portal.Compute.Images;

/// <summary>
/// The host's images: imports rootfs tars, OCI layouts and docker save archives into one read-only erofs disk
/// per image, names them, resolves references and removes them. Safe for concurrent callers; the index lives in
/// &lt;Root&gt;/&lt;hex id&gt;/image.json and is reloaded at construction.
/// </summary>
public sealed partial class ImageStore
{
    private const string DiskFileName = "disk.erofs";
    private const string MetadataFileName = "image.json";
    private const string ConfigFileName = "config.json";
    private const int MinimumIdPrefix = 4;

    private readonly ImageStoreOptions _options;
    private readonly ILogger<ImageStore> _logger;
    private readonly string _root;
    private readonly string _tmpRoot;
    private readonly SemaphoreSlim _mutation = new(1, 1);
    private readonly SemaphoreSlim _busyboxBuild = new(1, 1);
    private readonly Dictionary<string, string> _aliases;
    private ImmutableDictionary<string, ImageRecord> _images = ImmutableDictionary<string, ImageRecord>.Empty;

    public ImageStore(ImageStoreOptions options, ILogger<ImageStore> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.Root);
        _options = options;
        _logger = logger;
        _root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.Root));
        _tmpRoot = Path.Combine(_root, ".tmp");
        _aliases = new Dictionary<string, string>(options.Aliases, StringComparer.OrdinalIgnoreCase);
        Directory.CreateDirectory(_root);
        Directory.CreateDirectory(_tmpRoot);
        PosixFile.Chmod(_tmpRoot, 0b111_000_000);
        ImportWorkspace.RemoveStale(_tmpRoot, (path, ex) => _logger.LogWarning(ex, "Could not remove the leftover import directory {Path}", path));
        Load();
    }

    /// <summary>The store directory.</summary>
    public string Root => _root;

    /// <summary>
    /// Imports a file (rootfs tar, OCI layout tar or docker save archive; optionally gzip) or a directory
    /// (OCI layout or unpacked docker save). <paramref name="tag"/>, when given, names the image instead of
    /// the names in the archive (the archive must then hold one image).
    /// </summary>
    public async Task<IReadOnlyList<ImageRecord>> ImportAsync(string path, string? tag, IProgress<ImageImportProgress>? progress, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var normalizedTag = NormalizeNewTag(tag);
        var full = Path.GetFullPath(path);
        await using var work = ImportWorkspace.Create(_tmpRoot);
        if (Directory.Exists(full))
        {
            return await ImportLayoutDirectoryAsync(full, normalizedTag, work, progress, ct).ConfigureAwait(false);
        }

        if (!File.Exists(full))
        {
            throw new ComputeException(
                ComputeErrorCode.InvalidArgument,
                $"'{path}' does not exist. Give the path of an image archive (.tar, .tar.gz) or of an OCI layout directory.");
        }

        return await ImportArchiveFileAsync(full, normalizedTag, work, progress, ct).ConfigureAwait(false);
    }

    /// <summary>Imports an archive read from a stream (the body of `docker load`); the stream is read to its end.</summary>
    public async Task<IReadOnlyList<ImageRecord>> ImportAsync(Stream archive, string? tag, IProgress<ImageImportProgress>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(archive);
        var normalizedTag = NormalizeNewTag(tag);
        await using var work = ImportWorkspace.Create(_tmpRoot);
        var upload = Path.Combine(work.Path, "upload");
        await using (var file = new FileStream(upload, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, useAsync: true))
        {
            var buffer = new byte[81920];
            long done = 0;
            int n;
            while ((n = await archive.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
            {
                await file.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                done += n;
                if (done > _options.MaxExtractedBytes)
                {
                    throw new ComputeException(
                        ComputeErrorCode.ImageRejected,
                        $"The uploaded archive is larger than {_options.MaxExtractedBytes} bytes. Raise ImageStoreOptions.MaxExtractedBytes if it is genuine.");
                }

                progress?.Report(new ImageImportProgress("read", done, null));
            }
        }

        return await ImportArchiveFileAsync(upload, normalizedTag, work, progress, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The built-in "busybox:latest" base image, built from a static busybox binary the first time (a
    /// deterministic single-layer rootfs, so its id is the same on every machine with the same binary).
    /// </summary>
    public async Task<ImageRecord> EnsureBusyboxAsync(string busyboxPath, CancellationToken ct)
    {
        if (FindByTag(_images, BusyboxRootfs.Tag) is { } existing)
        {
            return existing;
        }

        await _busyboxBuild.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (FindByTag(_images, BusyboxRootfs.Tag) is { } built)
            {
                return built;
            }

            await using var work = ImportWorkspace.Create(_tmpRoot);
            var layer = Path.Combine(work.Path, "busybox-layer.tar");
            await BusyboxRootfs.WriteLayerAsync(busyboxPath, layer, ct).ConfigureAwait(false);
            var records = await ImportArchiveFileAsync(layer, BusyboxRootfs.Tag, work, null, ct).ConfigureAwait(false);
            return records[0];
        }
        finally
        {
            _busyboxBuild.Release();
        }
    }

    /// <summary>Every image, newest first.</summary>
    public IReadOnlyList<ImageRecord> List() =>
        [.. _images.Values.OrderByDescending(i => i.CreatedAt).ThenBy(i => i.Id, StringComparer.Ordinal)];

    /// <summary>
    /// Finds an image by alias, name[:tag] (docker-normalized), full id or id prefix (4+ hex digits, with or
    /// without "sha256:"). Throws ImageNotFound, or InvalidArgument for an ambiguous prefix.
    /// </summary>
    public ImageRecord Resolve(string reference) => ResolveCore(_images, reference).Image;

    /// <summary>Adds <paramref name="newTag"/> to the image <paramref name="reference"/> names, taking it from any other image.</summary>
    public async Task TagAsync(string reference, string newTag, CancellationToken ct)
    {
        var tag = NormalizeNewTag(newTag) ?? throw new ComputeException(ComputeErrorCode.InvalidArgument, "A tag is required, e.g. 'myimage:v1'.");
        await _mutation.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var image = ResolveCore(_images, reference).Image;
            await AssignTagsAsync(image.HexId, [tag], ct).ConfigureAwait(false);
        }
        finally
        {
            _mutation.Release();
        }
    }

    /// <summary>
    /// Removes an image and its disk, or, when <paramref name="reference"/> is one of several tags of the image,
    /// only that tag. The caller checks that no container uses the image.
    /// </summary>
    public async Task RemoveAsync(string reference, CancellationToken ct)
    {
        await _mutation.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var (image, tag) = ResolveCore(_images, reference);
            if (tag is not null && image.Tags.Count > 1)
            {
                var untagged = image with { Tags = [.. image.Tags.Where(t => t != tag)] };
                await PersistAsync(untagged, ct).ConfigureAwait(false);
                _images = _images.SetItem(image.HexId, untagged);
                _logger.LogInformation("Untagged {Tag} from image {Id}", tag, image.Id);
                return;
            }

            var directory = Path.Combine(_root, image.HexId);
            var trash = Path.Combine(_tmpRoot, "removed-" + Guid.NewGuid().ToString("N"));
            Directory.Move(directory, trash);
            PosixFile.FsyncDirectory(_root);
            _images = _images.Remove(image.HexId);
            _logger.LogInformation("Removed image {Id} ({Tags})", image.Id, string.Join(", ", image.Tags));
            try
            {
                PosixFile.RemoveTree(trash);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The image is gone from the index; the next start deletes the leftover.
                _logger.LogWarning(ex, "Could not delete {Path} now; it will be removed at the next start", trash);
            }
        }
        finally
        {
            _mutation.Release();
        }
    }

    private async Task<IReadOnlyList<ImageRecord>> ImportArchiveFileAsync(
        string file, string? tag, ImportWorkspace work, IProgress<ImageImportProgress>? progress, CancellationToken ct)
    {
        var kind = await DetectAsync(file, ct).ConfigureAwait(false);
        if (kind == ArchiveKind.RootfsTar)
        {
            return [await ImportRootfsAsync(file, tag, work, progress, ct).ConfigureAwait(false)];
        }

        // A layout in a tar: unpack it (with every extraction rule) and read it as a directory.
        var unpacked = Path.Combine(work.Path, "archive");
        var extractor = new LayerExtractor(unpacked, _options.MaxArchiveEntries, _options.MaxExtractedBytes, applyWhiteouts: false, preserveOwnership: false);
        var total = new FileInfo(file).Length;
        var (tar, source) = await LayerCompression.OpenTarAsync(file, "The archive", ct).ConfigureAwait(false);
        await using (tar.ConfigureAwait(false))
        {
            await extractor.ApplyAsync(tar, "the archive", _ => progress?.Report(new ImageImportProgress("read", source.Position, total)), ct).ConfigureAwait(false);
        }

        return await ImportLayoutDirectoryAsync(unpacked, tag, work, progress, ct).ConfigureAwait(false);
    }

    private async Task<IReadOnlyList<ImageRecord>> ImportLayoutDirectoryAsync(
        string directory, string? tag, ImportWorkspace work, IProgress<ImageImportProgress>? progress, CancellationToken ct)
    {
        IReadOnlyList<ImagePlan> plans;
        if (ImageArchiveReader.IsDockerSave(directory))
        {
            // Newer docker save writes an OCI layout too; manifest.json carries the full repository tags.
            plans = await ImageArchiveReader.ReadDockerSaveAsync(directory, ct).ConfigureAwait(false);
        }
        else if (ImageArchiveReader.IsOciLayout(directory))
        {
            plans = await ImageArchiveReader.ReadOciLayoutAsync(directory, ct).ConfigureAwait(false);
        }
        else
        {
            throw new ComputeException(
                ComputeErrorCode.ImageRejected,
                $"'{directory}' is neither an OCI image layout (oci-layout and index.json) nor a docker save archive (manifest.json).");
        }

        if (plans.Count == 0)
        {
            throw new ComputeException(ComputeErrorCode.ImageRejected, "The archive holds no image manifests; there is nothing to import.");
        }

        // The same config may be listed more than once (one entry per tag): import it once with all its names.
        var merged = plans
            .GroupBy(p => p.Id, StringComparer.Ordinal)
            .Select(g => g.First() with { Tags = [.. g.SelectMany(p => p.Tags).Distinct(StringComparer.Ordinal)] })
            .ToList();
        if (tag is not null && merged.Count > 1)
        {
            throw new ComputeException(
                ComputeErrorCode.InvalidArgument,
                $"The archive holds {merged.Count} images, so the tag '{tag}' cannot name one of them. Import without a tag (the archive's own names are used), then tag the image you want.");
        }

        var total = merged.Where(p => !_images.ContainsKey(Hex(p.Id))).SelectMany(p => p.Layers).Sum(l => new FileInfo(l.Path).Length);
        long done = 0;
        var records = new List<ImageRecord>();
        foreach (var plan in merged)
        {
            var tags = tag is not null ? [tag] : plan.Tags;
            if (_images.ContainsKey(Hex(plan.Id)))
            {
                records.Add(await CommitAsync(plan.Id, plan.ConfigJson, plan.Config, null, tags, ct).ConfigureAwait(false));
                continue;
            }

            var watch = Stopwatch.StartNew();
            var rootfs = Path.Combine(work.Path, "rootfs-" + Hex(plan.Id));
            var extractor = new LayerExtractor(rootfs, _options.MaxArchiveEntries, _options.MaxExtractedBytes, applyWhiteouts: true, preserveOwnership: true);
            foreach (var layer in plan.Layers)
            {
                await VerifyBlobAsync(layer, ct).ConfigureAwait(false);
                var layerStart = done;
                var (tar, source) = await LayerCompression.OpenTarAsync(layer.Path, layer.Description, ct).ConfigureAwait(false);
                string diffId;
                await using (tar.ConfigureAwait(false))
                {
                    diffId = await extractor.ApplyAsync(
                        tar, layer.Description, _ => progress?.Report(new ImageImportProgress("extract", layerStart + source.Position, total)), ct).ConfigureAwait(false);
                }

                done = layerStart + new FileInfo(layer.Path).Length;
                if (layer.DiffId is not null && !string.Equals(layer.DiffId, diffId, StringComparison.Ordinal))
                {
                    throw new ComputeException(
                        ComputeErrorCode.ImageRejected,
                        $"{layer.Description}: its content hashes to {diffId} but the image config says {layer.DiffId}. The archive is corrupt or was tampered with; re-export it.");
                }
            }

            extractor.Finish();
            var diskDirectory = await BuildDiskAsync(rootfs, plan.Id, work, progress, ct).ConfigureAwait(false);
            var record = await CommitAsync(plan.Id, plan.ConfigJson, plan.Config, diskDirectory, tags, ct).ConfigureAwait(false);
            _logger.LogInformation(
                "Imported image {Id} ({Tags}): {Layers} layers in {Elapsed} ms", record.Id, string.Join(", ", record.Tags), plan.Layers.Count, watch.ElapsedMilliseconds);
            records.Add(record);
        }

        progress?.Report(new ImageImportProgress("done", done, total));
        return records;
    }

    private async Task<ImageRecord> ImportRootfsAsync(string file, string? tag, ImportWorkspace work, IProgress<ImageImportProgress>? progress, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        var rootfs = Path.Combine(work.Path, "rootfs");
        var extractor = new LayerExtractor(rootfs, _options.MaxArchiveEntries, _options.MaxExtractedBytes, applyWhiteouts: true, preserveOwnership: true);
        var total = new FileInfo(file).Length;
        var (tar, source) = await LayerCompression.OpenTarAsync(file, "The archive", ct).ConfigureAwait(false);
        string diffId;
        await using (tar.ConfigureAwait(false))
        {
            diffId = await extractor.ApplyAsync(tar, "the archive", _ => progress?.Report(new ImageImportProgress("extract", source.Position, total)), ct).ConfigureAwait(false);
        }

        extractor.Finish();

        // /bin/sh resolved as inside the container (absolute links restart at the image root), never on the host.
        var shell = ContainedPath.Resolve(rootfs, "bin/sh", chroot: true);
        var hasShell = shell is not null && PosixFile.Lstat(shell) == PosixFile.Kind.Other;
        var configJson = ImageConfigDocument.Synthesize(diffId, hasShell);
        var id = ImageArchiveReader.Sha256(configJson);
        var config = ImageConfigDocument.Parse(configJson, "the synthesized image config");
        var tags = tag is null ? Array.Empty<string>() : [tag];
        if (_images.ContainsKey(Hex(id)))
        {
            return await CommitAsync(id, configJson, config, null, tags, ct).ConfigureAwait(false);
        }

        var diskDirectory = await BuildDiskAsync(rootfs, id, work, progress, ct).ConfigureAwait(false);
        var record = await CommitAsync(id, configJson, config, diskDirectory, tags, ct).ConfigureAwait(false);
        _logger.LogInformation("Imported rootfs image {Id} ({Tags}) in {Elapsed} ms", record.Id, string.Join(", ", record.Tags), watch.ElapsedMilliseconds);
        progress?.Report(new ImageImportProgress("done", total, total));
        return record;
    }

    /// <summary>mkfs.erofs from the flattened rootfs into &lt;work&gt;/image-&lt;hex&gt;/disk.erofs, then drops the rootfs.</summary>
    private async Task<string> BuildDiskAsync(string rootfs, string id, ImportWorkspace work, IProgress<ImageImportProgress>? progress, CancellationToken ct)
    {
        progress?.Report(new ImageImportProgress("build-disk", 0, null));
        var directory = Path.Combine(work.Path, "image-" + Hex(id));
        Directory.CreateDirectory(directory);
        await ErofsBuilder.BuildAsync(_options.MkfsErofsPath, rootfs, Path.Combine(directory, DiskFileName), ct).ConfigureAwait(false);
        await Task.Run(() => PosixFile.RemoveTree(rootfs), ct).ConfigureAwait(false);
        return directory;
    }

    /// <summary>
    /// Publishes a built image (moves its directory into the store) or, when the image already exists, only
    /// adds the tags. Runs under the mutation lock.
    /// </summary>
    private async Task<ImageRecord> CommitAsync(
        string id, byte[] configJson, ImageConfigDocument config, string? builtDirectory, IReadOnlyList<string> tags, CancellationToken ct)
    {
        var hex = Hex(id);
        await _mutation.WaitAsync(ct).ConfigureAwait(false);

        // Once the lock is held the commit runs to the end: a cancelled half-commit would leave an untagged image.
        ct = CancellationToken.None;
        try
        {
            if (!_images.ContainsKey(hex))
            {
                if (builtDirectory is null)
                {
                    throw new InvalidOperationException($"image {id} vanished while it was being imported");
                }

                var target = Path.Combine(_root, hex);
                var disk = Path.Combine(builtDirectory, DiskFileName);
                var record = new ImageRecord
                {
                    Id = id,
                    Tags = [],
                    Layers = config.DiffIds,
                    Config = config.Config,
                    CreatedAt = config.Created ?? DateTimeOffset.UtcNow,
                    SizeBytes = new FileInfo(disk).Length,
                    DiskPath = Path.Combine(target, DiskFileName),
                };
                await WriteDurablyAsync(Path.Combine(builtDirectory, ConfigFileName), configJson, ct).ConfigureAwait(false);
                await WriteDurablyAsync(Path.Combine(builtDirectory, MetadataFileName), Serialize(record), ct).ConfigureAwait(false);
                using (var diskHandle = File.OpenHandle(disk, FileMode.Open, FileAccess.ReadWrite))
                {
                    RandomAccess.FlushToDisk(diskHandle);
                }

                Directory.Move(builtDirectory, target);
                PosixFile.FsyncDirectory(_root);
                _images = _images.SetItem(hex, record);
            }

            return await AssignTagsAsync(hex, tags, ct).ConfigureAwait(false);
        }
        finally
        {
            _mutation.Release();
        }
    }

    /// <summary>Gives the image these tags, taking each from whichever image held it. Runs under the mutation lock.</summary>
    private async Task<ImageRecord> AssignTagsAsync(string hex, IReadOnlyList<string> tags, CancellationToken ct)
    {
        foreach (var tag in tags)
        {
            if (FindByTag(_images, tag) is { } holder && holder.HexId != hex)
            {
                var untagged = holder with { Tags = [.. holder.Tags.Where(t => t != tag)] };
                await PersistAsync(untagged, ct).ConfigureAwait(false);
                _images = _images.SetItem(holder.HexId, untagged);
                _logger.LogInformation("Moved tag {Tag} from image {Old} to {New}", tag, holder.Id, "sha256:" + hex);
            }
        }

        var image = _images[hex];
        var merged = image.Tags.Union(tags, StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (!merged.SequenceEqual(image.Tags, StringComparer.Ordinal))
        {
            image = image with { Tags = merged };
            await PersistAsync(image, ct).ConfigureAwait(false);
            _images = _images.SetItem(hex, image);
        }

        return image;
    }

    private async Task PersistAsync(ImageRecord image, CancellationToken ct) =>
        await WriteDurablyAsync(Path.Combine(_root, image.HexId, MetadataFileName), Serialize(image), ct).ConfigureAwait(false);

    /// <summary>Temp file, fsync, rename, fsync the directory: a crash leaves the old or the new file, never half of one.</summary>
    private static async Task WriteDurablyAsync(string path, byte[] content, CancellationToken ct)
    {
        var temp = path + ".tmp";
        await using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 4096, useAsync: true))
        {
            await file.WriteAsync(content, ct).ConfigureAwait(false);
            file.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
        PosixFile.FsyncDirectory(Path.GetDirectoryName(path)!);
    }

    private static byte[] Serialize(ImageRecord image) =>
        JsonSerializer.SerializeToUtf8Bytes(image, ImageStoreJsonContext.Default.ImageRecord);

    private void Load()
    {
        var images = ImmutableDictionary.CreateBuilder<string, ImageRecord>(StringComparer.Ordinal);
        var tagOwners = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var directory in Directory.EnumerateDirectories(_root))
        {
            var hex = Path.GetFileName(directory);
            if (!HexIdPattern().IsMatch(hex))
            {
                continue;
            }

            try
            {
                var json = File.ReadAllBytes(Path.Combine(directory, MetadataFileName));
                var image = JsonSerializer.Deserialize(json, ImageStoreJsonContext.Default.ImageRecord)
                    ?? throw new JsonException("image.json is null");
                if (image.Id != "sha256:" + hex)
                {
                    throw new JsonException($"image.json names {image.Id}, not the directory's id");
                }

                var disk = Path.Combine(directory, DiskFileName);
                if (!File.Exists(disk))
                {
                    throw new FileNotFoundException("the image disk is missing", disk);
                }

                // A crash between moving a tag and saving the old holder can leave a tag on two images: keep one.
                var tags = new List<string>();
                foreach (var tag in image.Tags)
                {
                    if (tagOwners.TryAdd(tag, hex))
                    {
                        tags.Add(tag);
                    }
                    else
                    {
                        _logger.LogWarning("Tag {Tag} is claimed by images {First} and {Second}; keeping it on the first", tag, tagOwners[tag], hex);
                    }
                }

                images[hex] = image with { DiskPath = disk, Tags = tags };
            }
            catch (Exception ex) when (ex is IOException or JsonException or UnauthorizedAccessException)
            {
                _logger.LogWarning(ex, "Skipping the unreadable image directory {Directory}", directory);
            }
        }

        _images = images.ToImmutable();
        _logger.LogInformation("Image store at {Root}: {Count} images", _root, _images.Count);
    }

    private (ImageRecord Image, string? Tag) ResolveCore(ImmutableDictionary<string, ImageRecord> images, string reference)
    {
        if (string.IsNullOrWhiteSpace(reference))
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "An image reference is required: name[:tag], an image id or an id prefix.");
        }

        var text = reference.Trim();
        var aliasTarget = FindAlias(text);
        if (aliasTarget is not null)
        {
            text = aliasTarget;
        }

        if (text.StartsWith("sha256:", StringComparison.OrdinalIgnoreCase))
        {
            var hex = text["sha256:".Length..].ToLowerInvariant();
            if (!HexPrefixPattern().IsMatch(hex))
            {
                throw new ComputeException(
                    ComputeErrorCode.InvalidArgument,
                    $"'{reference}' is not a valid image id: after 'sha256:' give {MinimumIdPrefix} to 64 hex digits.");
            }

            return (ByIdPrefix(images, hex, reference) ?? throw NotFound(images, reference, aliasTarget), null);
        }

        if (ImageReference.TryParse(text) is { } name && FindByTag(images, name.ToString()) is { } tagged)
        {
            return (tagged, name.ToString());
        }

        var lowered = text.ToLowerInvariant();
        if (HexPrefixPattern().IsMatch(lowered) && ByIdPrefix(images, lowered, reference) is { } byId)
        {
            return (byId, null);
        }

        throw NotFound(images, reference, aliasTarget);
    }

    /// <summary>The alias target for the whole reference, its name without tag, or its last path component.</summary>
    private string? FindAlias(string reference)
    {
        if (_aliases.Count == 0)
        {
            return null;
        }

        if (_aliases.TryGetValue(reference, out var target))
        {
            return target;
        }

        var withoutTag = reference;
        var colon = reference.LastIndexOf(':');
        if (colon > reference.LastIndexOf('/'))
        {
            withoutTag = reference[..colon];
        }

        if (_aliases.TryGetValue(withoutTag, out target))
        {
            return target;
        }

        // mcr.microsoft.com/windows/nanoserver:ltsc2022 -> "nanoserver" (for aliases that name no registry).
        var lastComponent = withoutTag[(withoutTag.LastIndexOf('/') + 1)..];
        return lastComponent != withoutTag && _aliases.TryGetValue(lastComponent, out target) && !lastComponent.Contains(':')
            ? target
            : null;
    }

    private static ImageRecord? ByIdPrefix(ImmutableDictionary<string, ImageRecord> images, string hexPrefix, string reference)
    {
        var matches = images.Values.Where(i => i.HexId.StartsWith(hexPrefix, StringComparison.Ordinal)).ToList();
        if (matches.Count > 1)
        {
            var candidates = string.Join(", ", matches
                .OrderBy(m => m.Id, StringComparer.Ordinal)
                .Select(m => m.Tags.Count > 0 ? $"{m.ShortId} ({string.Join(", ", m.Tags)})" : m.ShortId));
            throw new ComputeException(
                ComputeErrorCode.InvalidArgument,
                $"The image id prefix '{reference}' is ambiguous: it matches {candidates}. Give more digits of the id or use a name.");
        }

        return matches.Count == 1 ? matches[0] : null;
    }

    private static ImageRecord? FindByTag(ImmutableDictionary<string, ImageRecord> images, string tag) =>
        images.Values.FirstOrDefault(i => i.Tags.Contains(tag, StringComparer.Ordinal));

    private static ComputeException NotFound(ImmutableDictionary<string, ImageRecord> images, string reference, string? aliasTarget)
    {
        var known = images.Values.SelectMany(i => i.Tags).Order(StringComparer.Ordinal).Take(20).ToList();
        var alias = aliasTarget is null ? string.Empty : $" (an alias of '{aliasTarget}')";
        var hint = known.Count == 0
            ? "The store has no images yet."
            : $"Known images: {string.Join(", ", known)}{(images.Count > 20 ? ", ..." : string.Empty)}.";
        return new ComputeException(
            ComputeErrorCode.ImageNotFound,
            $"No image matches '{reference}'{alias}. {hint} Import the image first (docker load, or the portal's image import), or use a name:tag, an image id or an id prefix of at least {MinimumIdPrefix} hex digits.");
    }

    private static string? NormalizeNewTag(string? tag) =>
        string.IsNullOrWhiteSpace(tag) ? null : ImageReference.Parse(tag).ToString();

    private static string Hex(string id) => id["sha256:".Length..];

    private static async Task<ArchiveKind> DetectAsync(string file, CancellationToken ct)
    {
        var (tar, _) = await LayerCompression.OpenTarAsync(file, "The archive", ct).ConfigureAwait(false);
        await using (tar.ConfigureAwait(false))
        {
            await using var reader = new TarReader(tar, leaveOpen: true);
            var names = new HashSet<string>(StringComparer.Ordinal);
            try
            {
                while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } entry)
                {
                    var name = ArchivePath.Normalize(entry.Name) is { } parts ? ArchivePath.Join(parts) : entry.Name;
                    if (name.Length == 0 || entry.EntryType == TarEntryType.GlobalExtendedAttributes)
                    {
                        continue;
                    }

                    // Anything a layout never holds means a root filesystem: stop reading early.
                    if (!LayoutEntryPattern().IsMatch(name))
                    {
                        return ArchiveKind.RootfsTar;
                    }

                    names.Add(name);
                }
            }
            catch (Exception ex) when (ex is InvalidDataException or FormatException or EndOfStreamException or ArgumentException)
            {
                throw new ComputeException(
                    ComputeErrorCode.ImageRejected,
                    $"The archive is not a valid tar archive ({ex.Message}). Give a .tar or .tar.gz made by docker save, an OCI tool or tar.",
                    ex);
            }

            if (names.Contains("manifest.json"))
            {
                return ArchiveKind.DockerSave;
            }

            return names.Contains("oci-layout") && names.Contains("index.json") ? ArchiveKind.OciLayout : ArchiveKind.RootfsTar;
        }
    }

    private async Task VerifyBlobAsync(LayerBlob layer, CancellationToken ct)
    {
        if (layer.Size is { } size && new FileInfo(layer.Path).Length != size)
        {
            throw new ComputeException(
                ComputeErrorCode.ImageRejected,
                $"{layer.Description} is {new FileInfo(layer.Path).Length} bytes but the manifest says {size}. The archive is corrupt or was tampered with; re-export it.");
        }

        if (layer.Digest is null)
        {
            return;
        }

        await using var file = new FileStream(layer.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true);
        var actual = "sha256:" + Convert.ToHexStringLower(await System.Security.Cryptography.SHA256.HashDataAsync(file, ct).ConfigureAwait(false));
        if (actual != layer.Digest)
        {
            throw new ComputeException(
                ComputeErrorCode.ImageRejected,
                $"{layer.Description} does not match its digest: expected {layer.Digest}, got {actual}. The archive is corrupt or was tampered with; re-export it.");
        }

        _logger.LogDebug("Verified {Layer}", layer.Description);
    }

    private enum ArchiveKind
    {
        RootfsTar,
        OciLayout,
        DockerSave,
    }

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex HexIdPattern();

    [GeneratedRegex("^[0-9a-f]{4,64}$")]
    private static partial Regex HexPrefixPattern();

    // manifest.json, repositories, oci-layout, index.json, <hex>.json, <id>/{layer.tar,json,VERSION}, blobs/sha256/<hex>
    [GeneratedRegex("^(?:manifest\\.json|repositories|oci-layout|index\\.json|[0-9a-f]{64}\\.json|[0-9a-f]{64}(?:/(?:layer\\.tar|json|VERSION))?|blobs(?:/[a-z0-9]+(?:/[0-9a-f]{64})?)?)$")]
    private static partial Regex LayoutEntryPattern();
}
