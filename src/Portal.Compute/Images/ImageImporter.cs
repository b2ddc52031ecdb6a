using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Portal.Compute.Images;

/// <summary>
/// The import pipeline: gives each import its own scratch workspace, detects the archive's format, reads its
/// images (<see cref="ImageArchiveReader"/>) or synthesizes the config of a rootfs tar, has the
/// <see cref="ImageUnpacker"/> build each new image's disk, and publishes the result to the
/// <see cref="ImageCatalog"/>. An image the catalog already holds only gets the new tags.
/// </summary>
internal sealed class ImageImporter
{
    private readonly ImageStoreOptions _options;
    private readonly ImageCatalog _catalog;
    private readonly ImageUnpacker _unpacker;
    private readonly string _tmpRoot;
    private readonly ILogger _logger;
    private const long UploadFreeSpaceInterval = 16L << 20;

    private readonly SemaphoreSlim _busyboxBuild = new(1, 1);

    /// <param name="tmpRoot">&lt;Root&gt;/.tmp: each import's workspace is created there.</param>
    public ImageImporter(ImageStoreOptions options, ImageCatalog catalog, string tmpRoot, ILogger logger)
    {
        _options = options;
        _catalog = catalog;
        _unpacker = new ImageUnpacker(options, logger);
        _tmpRoot = tmpRoot;
        _logger = logger;
    }

    /// <summary>See <see cref="ImageStore.ImportAsync(string, string?, string?, IProgress{ImageImportProgress}?, CancellationToken)"/>.</summary>
    public async Task<IReadOnlyList<ImageRecord>> ImportAsync(string path, string? tag, string? team, IProgress<ImageImportProgress>? progress, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var normalizedTag = ImageCatalog.NormalizeTag(tag);
        var full = Path.GetFullPath(path);
        await using var work = ImportWorkspace.Create(_tmpRoot);
        var budget = new ImportBudget(_options, work.Path);
        if (Directory.Exists(full))
        {
            return await ImportLayoutDirectoryAsync(full, normalizedTag, team, work, budget, progress, ct).ConfigureAwait(false);
        }

        if (!File.Exists(full))
        {
            throw new ComputeException(
                ComputeErrorCode.InvalidArgument,
                $"'{path}' does not exist. Give the path of an image archive (.tar, .tar.gz) or of an OCI layout directory.");
        }

        return await ImportArchiveFileAsync(full, normalizedTag, team, work, budget, progress, ct).ConfigureAwait(false);
    }

    /// <summary>See <see cref="ImageStore.ImportAsync(Stream, string?, string?, IProgress{ImageImportProgress}?, CancellationToken)"/>.</summary>
    public async Task<IReadOnlyList<ImageRecord>> ImportAsync(Stream archive, string? tag, string? team, IProgress<ImageImportProgress>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(archive);
        var normalizedTag = ImageCatalog.NormalizeTag(tag);
        await using var work = ImportWorkspace.Create(_tmpRoot);
        var budget = new ImportBudget(_options, work.Path);
        budget.EnsureFreeSpace(0, "the uploaded archive");
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

                if (done / UploadFreeSpaceInterval != (done - n) / UploadFreeSpaceInterval)
                {
                    budget.EnsureFreeSpace(0, "the uploaded archive");
                }

                progress?.Report(new ImageImportProgress("read", done, null));
            }
        }

        return await ImportArchiveFileAsync(upload, normalizedTag, team, work, budget, progress, ct).ConfigureAwait(false);
    }

    /// <summary>See <see cref="ImageStore.EnsureBusyboxAsync"/>; concurrent callers build the image once.</summary>
    public async Task<ImageRecord> EnsureBusyboxAsync(string busyboxPath, CancellationToken ct)
    {
        if (_catalog.FindByTag(BusyboxRootfs.Tag) is { } existing)
        {
            return existing;
        }

        await _busyboxBuild.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_catalog.FindByTag(BusyboxRootfs.Tag) is { } built)
            {
                return built;
            }

            await using var work = ImportWorkspace.Create(_tmpRoot);
            var layer = Path.Combine(work.Path, "busybox-layer.tar");
            await BusyboxRootfs.WriteLayerAsync(busyboxPath, layer, ct).ConfigureAwait(false);
            var records = await ImportArchiveFileAsync(layer, BusyboxRootfs.Tag, null, work, new ImportBudget(_options, work.Path), null, ct).ConfigureAwait(false);
            return records[0];
        }
        finally
        {
            _busyboxBuild.Release();
        }
    }

    private async Task<IReadOnlyList<ImageRecord>> ImportArchiveFileAsync(
        string file, string? tag, string? team, ImportWorkspace work, ImportBudget budget, IProgress<ImageImportProgress>? progress, CancellationToken ct)
    {
        // What the import writes is at least the archive's size: refuse at once when even that does not fit.
        budget.EnsureFreeSpace(new FileInfo(file).Length, "importing the archive");
        var kind = await ImageArchiveDetector.DetectAsync(file, new ImportBudget(_options, work.Path), ct).ConfigureAwait(false);
        if (kind == ImageArchiveKind.RootfsTar)
        {
            return [await ImportRootfsAsync(file, tag, team, work, budget, progress, ct).ConfigureAwait(false)];
        }

        // A layout in a tar: unpack it (with every extraction rule) and read it as a directory.
        var unpacked = Path.Combine(work.Path, "archive");
        await _unpacker.UnpackArchiveAsync(file, unpacked, budget, progress, ct).ConfigureAwait(false);
        return await ImportLayoutDirectoryAsync(unpacked, tag, team, work, budget, progress, ct).ConfigureAwait(false);
    }

    private async Task<IReadOnlyList<ImageRecord>> ImportLayoutDirectoryAsync(
        string directory, string? tag, string? team, ImportWorkspace work, ImportBudget budget, IProgress<ImageImportProgress>? progress, CancellationToken ct)
    {
        IReadOnlyList<ImagePlan> read;
        if (ImageArchiveReader.IsDockerSave(directory))
        {
            // Newer docker save writes an OCI layout too; manifest.json carries the full repository tags.
            read = await ImageArchiveReader.ReadDockerSaveAsync(directory, ct).ConfigureAwait(false);
        }
        else if (ImageArchiveReader.IsOciLayout(directory))
        {
            read = await ImageArchiveReader.ReadOciLayoutAsync(directory, ct).ConfigureAwait(false);
        }
        else
        {
            throw new ComputeException(
                ComputeErrorCode.ImageRejected,
                $"'{directory}' is neither an OCI image layout (oci-layout and index.json) nor a docker save archive (manifest.json).");
        }

        var plans = ImagePlan.MergeByImage(read, tag);
        var total = plans.Where(p => !_catalog.Contains(p.Id)).SelectMany(p => p.Layers).Sum(l => new FileInfo(l.Path).Length);

        // Every layer of every new image unpacks at least about its blob's size (a gzip of incompressible data is a
        // little larger than its content: hence the margin): refuse before building any image when even that is past the budget.
        var atLeast = total - (total / 64);
        if (atLeast > budget.MaxBytes - budget.Bytes)
        {
            throw new ComputeException(
                ComputeErrorCode.ImageRejected,
                $"The archive's {plans.Count} image(s) hold {total} bytes of layers, more than the {budget.MaxBytes - budget.Bytes} unpacked bytes left of the import's budget " +
                $"of {budget.MaxBytes} (all images and layers of the archive together). If the images are genuine, raise ImageStoreOptions.MaxExtractedBytes " +
                "(Compute:ImageImportMaxBytes) or import the images one at a time.");
        }

        // All or nothing: every new image is unpacked, checked against its digests and built first, and only then are
        // the images published. A multi-image archive whose second image is corrupt left the first one in the store.
        long done = 0;
        var built = new Dictionary<string, (string Disk, long Elapsed)>(StringComparer.Ordinal);
        foreach (var plan in plans.Where(p => !_catalog.Contains(p.Id)))
        {
            var watch = Stopwatch.StartNew();
            var rootfs = Path.Combine(work.Path, "rootfs-" + ImageCatalog.HexOf(plan.Id));
            done = await _unpacker.UnpackLayersAsync(plan.Layers, rootfs, budget, done, total, progress, ct).ConfigureAwait(false);
            built[plan.Id] = (await _unpacker.BuildDiskAsync(rootfs, plan.Id, work.Path, progress, ct).ConfigureAwait(false), watch.ElapsedMilliseconds);
        }

        var records = new List<ImageRecord>();
        foreach (var plan in plans)
        {
            var disk = built.TryGetValue(plan.Id, out var b) ? b.Disk : null;
            var record = await _catalog.PublishAsync(plan.Id, plan.ConfigJson, plan.Config, disk, plan.Tags, team, ct).ConfigureAwait(false);
            if (disk is not null)
            {
                _logger.LogInformation(
                    "Imported image {Id} ({Tags}): {Layers} layers in {Elapsed} ms", record.Id, string.Join(", ", record.Tags), plan.Layers.Count, b.Elapsed);
            }

            records.Add(record);
        }

        progress?.Report(new ImageImportProgress("done", done, total));
        return records;
    }

    private async Task<ImageRecord> ImportRootfsAsync(
        string file, string? tag, string? team, ImportWorkspace work, ImportBudget budget, IProgress<ImageImportProgress>? progress, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        var rootfs = Path.Combine(work.Path, "rootfs");
        var total = new FileInfo(file).Length;
        var diffId = await _unpacker.UnpackRootfsAsync(file, rootfs, budget, progress, ct).ConfigureAwait(false);

        // /bin/sh resolved as inside the container (absolute links restart at the image root), never on the host.
        var shell = ContainedPath.Resolve(rootfs, "bin/sh", chroot: true);
        var hasShell = shell is not null && PosixFile.Lstat(shell) == PosixFile.Kind.Other;
        var configJson = ImageConfigDocument.Synthesize(diffId, hasShell);
        var id = ImageArchiveReader.Sha256(configJson);
        var config = ImageConfigDocument.Parse(configJson, "the synthesized image config");
        var tags = tag is null ? Array.Empty<string>() : [tag];
        if (_catalog.Contains(id))
        {
            return await _catalog.PublishAsync(id, configJson, config, null, tags, team, ct).ConfigureAwait(false);
        }

        var diskDirectory = await _unpacker.BuildDiskAsync(rootfs, id, work.Path, progress, ct).ConfigureAwait(false);
        var record = await _catalog.PublishAsync(id, configJson, config, diskDirectory, tags, team, ct).ConfigureAwait(false);
        _logger.LogInformation("Imported rootfs image {Id} ({Tags}) in {Elapsed} ms", record.Id, string.Join(", ", record.Tags), watch.ElapsedMilliseconds);
        progress?.Report(new ImageImportProgress("done", total, total));
        return record;
    }
}
