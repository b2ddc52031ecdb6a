using Microsoft.Extensions.Logging;

namespace Portal.Compute.Images;

/// <summary>
/// The host's images: imports rootfs tars, OCI layouts and docker save archives into one read-only erofs disk
/// per image, names them, resolves references and removes them. Safe for concurrent callers; the index lives in
/// &lt;Root&gt;/&lt;hex id&gt;/image.json and is reloaded at construction. A facade over the
/// <see cref="ImageCatalog"/> (records and names) and the <see cref="ImageImporter"/> (the import pipeline),
/// kept apart like containerd's image store and unpacker.
/// </summary>
public sealed class ImageStore
{
    private readonly ImageCatalog _catalog;
    private readonly ImageImporter _importer;

    public ImageStore(ImageStoreOptions options, ILogger<ImageStore> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.Root);
        Options = options;
        Root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.Root));
        var tmpRoot = Path.Combine(Root, ".tmp");
        Directory.CreateDirectory(Root);
        Directory.CreateDirectory(tmpRoot);
        PosixFile.Chmod(tmpRoot, 0b111_000_000);

        // Before loading: a crash can leave half an import or half a removal in .tmp, never in an image directory.
        ImportWorkspace.RemoveStale(tmpRoot, (path, ex) => logger.LogWarning(ex, "Could not remove the leftover import directory {Path}", path));
        _catalog = new ImageCatalog(Root, tmpRoot, new ImageResolver(options.Aliases), logger);
        _importer = new ImageImporter(options, _catalog, tmpRoot, logger);
    }

    /// <summary>The store directory.</summary>
    public string Root { get; }

    /// <summary>The store's bounds (the largest image, the free-space reserve), which a pull keeps too.</summary>
    internal ImageStoreOptions Options { get; }

    /// <summary>
    /// Imports a file (rootfs tar, OCI layout tar or docker save archive; optionally gzip) or a directory
    /// (OCI layout or unpacked docker save). <paramref name="tag"/>, when given, names the image instead of
    /// the names in the archive (the archive must then hold one image).
    /// </summary>
    public Task<IReadOnlyList<ImageRecord>> ImportAsync(string path, string? tag, IProgress<ImageImportProgress>? progress, CancellationToken ct) =>
        _importer.ImportAsync(path, tag, null, progress, ct);

    /// <summary>Imports for <paramref name="team"/> (null: the administrators); see <see cref="ImageRecord.Teams"/>.</summary>
    public Task<IReadOnlyList<ImageRecord>> ImportAsync(string path, string? tag, string? team, IProgress<ImageImportProgress>? progress, CancellationToken ct) =>
        _importer.ImportAsync(path, tag, team, progress, ct);

    /// <summary>Imports an archive read from a stream (the body of `docker load`); the stream is read to its end.</summary>
    public Task<IReadOnlyList<ImageRecord>> ImportAsync(Stream archive, string? tag, IProgress<ImageImportProgress>? progress, CancellationToken ct) =>
        _importer.ImportAsync(archive, tag, null, progress, ct);

    /// <summary>Imports an archive read from a stream for <paramref name="team"/> (null: the administrators).</summary>
    public Task<IReadOnlyList<ImageRecord>> ImportAsync(Stream archive, string? tag, string? team, IProgress<ImageImportProgress>? progress, CancellationToken ct) =>
        _importer.ImportAsync(archive, tag, team, progress, ct);

    /// <summary>Records that the image was pulled by <paramref name="repositoryDigest"/> ("nginx@sha256:..."): docker's RepoDigests.</summary>
    public Task<ImageRecord> AddRepositoryDigestAsync(string id, string repositoryDigest, CancellationToken ct) =>
        _catalog.AddRepositoryDigestAsync(id, repositoryDigest, ct);

    /// <summary>
    /// The built-in "busybox:latest" base image, built from a static busybox binary the first time (a
    /// deterministic single-layer rootfs, so its id is the same on every machine with the same binary).
    /// </summary>
    public Task<ImageRecord> EnsureBusyboxAsync(string busyboxPath, CancellationToken ct) =>
        _importer.EnsureBusyboxAsync(busyboxPath, ct);

    /// <summary>Every image, newest first.</summary>
    public IReadOnlyList<ImageRecord> List() => _catalog.List();

    /// <summary>
    /// Finds an image by alias, name[:tag] (docker-normalized), full id or id prefix (4+ hex digits, with or
    /// without "sha256:"). Throws ImageNotFound, or InvalidArgument for an ambiguous prefix.
    /// </summary>
    public ImageRecord Resolve(string reference) => _catalog.Resolve(reference, null);

    /// <summary>As <see cref="Resolve(string)"/> among the images <paramref name="team"/> may see (null: all).</summary>
    public ImageRecord Resolve(string reference, string? team) => _catalog.Resolve(reference, team);

    /// <summary>Adds <paramref name="newTag"/> to the image <paramref name="reference"/> names, taking it from any other image.</summary>
    public Task TagAsync(string reference, string newTag, CancellationToken ct) => _catalog.TagAsync(reference, newTag, null, ct);

    /// <summary>Tags for <paramref name="team"/> (null: the administrators): only its own image, with a tag no other owner's image holds.</summary>
    public Task TagAsync(string reference, string newTag, string? team, CancellationToken ct) => _catalog.TagAsync(reference, newTag, team, ct);

    /// <summary>
    /// Removes an image and its disk, or, when <paramref name="reference"/> is one of several tags of the image,
    /// only that tag. The caller checks that no container uses the image.
    /// </summary>
    public Task RemoveAsync(string reference, CancellationToken ct) => _catalog.RemoveAsync(reference, null, ct);

    /// <summary>Removes for <paramref name="team"/>: an image other teams also own only loses this team as an owner.</summary>
    public Task RemoveAsync(string reference, string? team, CancellationToken ct) => _catalog.RemoveAsync(reference, team, ct);
}
