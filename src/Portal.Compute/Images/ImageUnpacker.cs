using System.Security.Cryptography;
using Microsoft.Extensions.Logging;

namespace Portal.Compute.Images;

/// <summary>
/// containerd's unpacker for this store: applies an image's layers in order onto one flattened rootfs (checking
/// each blob's size and digest before and its diff id after), unpacks layout tars, and turns a rootfs into the
/// read-only erofs image disk. Every tar goes through <see cref="LayerExtractor"/> with the store's limits.
/// </summary>
internal sealed class ImageUnpacker(ImageStoreOptions options, ILogger logger)
{
    /// <summary>Unpacks a tar that holds an OCI layout or docker save archive into <paramref name="directory"/>, under every extraction rule and the import's <paramref name="budget"/>.</summary>
    public async Task UnpackArchiveAsync(string file, string directory, ImportBudget budget, IProgress<ImageImportProgress>? progress, CancellationToken ct)
    {
        var extractor = new LayerExtractor(directory, budget, applyWhiteouts: false, preserveOwnership: false);
        var total = new FileInfo(file).Length;
        var (tar, source) = await LayerCompression.OpenTarAsync(file, "The archive", ct).ConfigureAwait(false);
        await using (tar.ConfigureAwait(false))
        {
            await extractor.ApplyAsync(tar, "the archive", _ => progress?.Report(new ImageImportProgress("read", source.Position, total)), ct).ConfigureAwait(false);
        }
    }

    /// <summary>Unpacks a root filesystem tar (one layer) into <paramref name="rootfs"/>; returns its diff id.</summary>
    public async Task<string> UnpackRootfsAsync(string file, string rootfs, ImportBudget budget, IProgress<ImageImportProgress>? progress, CancellationToken ct)
    {
        var extractor = new LayerExtractor(rootfs, budget, applyWhiteouts: true, preserveOwnership: true);
        var total = new FileInfo(file).Length;
        var (tar, source) = await LayerCompression.OpenTarAsync(file, "The archive", ct).ConfigureAwait(false);
        string diffId;
        await using (tar.ConfigureAwait(false))
        {
            diffId = await extractor.ApplyAsync(tar, "the archive", _ => progress?.Report(new ImageImportProgress("extract", source.Position, total)), ct).ConfigureAwait(false);
        }

        extractor.Finish();
        budget.EnsureFreeSpace(extractor.BytesWritten, "the image disk");
        return diffId;
    }

    /// <summary>
    /// Applies <paramref name="layers"/> bottom first onto <paramref name="rootfs"/>. Progress counts layer file bytes:
    /// <paramref name="done"/> of <paramref name="total"/> before the first layer; returns the count after the last.
    /// </summary>
    public async Task<long> UnpackLayersAsync(
        IReadOnlyList<LayerBlob> layers, string rootfs, ImportBudget budget, long done, long total, IProgress<ImageImportProgress>? progress, CancellationToken ct)
    {
        var extractor = new LayerExtractor(rootfs, budget, applyWhiteouts: true, preserveOwnership: true);
        foreach (var layer in layers)
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
        budget.EnsureFreeSpace(extractor.BytesWritten, "the image disk");
        return done;
    }

    /// <summary>mkfs.erofs from the flattened rootfs into &lt;work&gt;/image-&lt;hex&gt;/disk.erofs, then drops the rootfs; returns that directory.</summary>
    public async Task<string> BuildDiskAsync(string rootfs, string id, string workPath, IProgress<ImageImportProgress>? progress, CancellationToken ct)
    {
        progress?.Report(new ImageImportProgress("build-disk", 0, null));
        var directory = Path.Combine(workPath, "image-" + ImageCatalog.HexOf(id));
        Directory.CreateDirectory(directory);
        await ErofsBuilder.BuildAsync(options.MkfsErofsPath, rootfs, Path.Combine(directory, ImageCatalog.DiskFileName), ct).ConfigureAwait(false);
        await Task.Run(() => PosixFile.RemoveTree(rootfs), ct).ConfigureAwait(false);
        return directory;
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
        var actual = "sha256:" + Convert.ToHexStringLower(await SHA256.HashDataAsync(file, ct).ConfigureAwait(false));
        if (actual != layer.Digest)
        {
            throw new ComputeException(
                ComputeErrorCode.ImageRejected,
                $"{layer.Description} does not match its digest: expected {layer.Digest}, got {actual}. The archive is corrupt or was tampered with; re-export it.");
        }

        logger.LogDebug("Verified {Layer}", layer.Description);
    }
}
