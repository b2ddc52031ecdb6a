using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Portal.Compute.Images;

namespace Portal.Compute.Registry;

/// <summary>
/// One step of a pull as docker shows it: per layer (<paramref name="Id"/> = the first 12 hex digits of its digest)
/// "Waiting", "Downloading" (with bytes), "Download complete", "Already exists"; for the image (no id) "Resolving",
/// "Building the image disk", and the final "Digest: ..." and "Status: ...".
/// </summary>
public sealed record PullProgress(string? Id, string Status, long? Current = null, long? Total = null);

/// <summary>
/// Pulls images from registries into the <see cref="ImageStore"/>: resolves the reference to this host's manifest
/// (through an index), downloads the config and the layers (a few at once) into a content-addressed blob cache under
/// &lt;store&gt;/blobs (a blob already there, from any image or pull, is not fetched again; a cut download continues
/// where it stopped), then imports them as an OCI layout made of hard links to the cache, so the store's import rules,
/// digest checks and erofs build apply to pulled images exactly as to imported ones.
/// </summary>
public sealed class ImagePuller
{
    private readonly ImageStore _store;
    private readonly RegistryClient _client;
    private readonly RegistryOptions _options;
    private readonly ILogger _logger;
    private readonly string _blobs;
    private readonly string _partial;
    private readonly string _owners;
    private const string Administrators = "-";
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _downloads = new(StringComparer.Ordinal);

    public ImagePuller(ImageStore store, RegistryClient client, RegistryOptions options, ILogger<ImagePuller> logger)
    {
        _store = store;
        _client = client;
        _options = options;
        _logger = logger;
        _blobs = Path.Combine(store.Root, "blobs", "sha256");
        _partial = Path.Combine(store.Root, "blobs", "partial");
        _owners = Path.Combine(store.Root, "blobs", "owners");
        Directory.CreateDirectory(_blobs);
        Directory.CreateDirectory(_partial);
        Directory.CreateDirectory(_owners);
    }

    /// <summary>The compressed blobs kept for re-pulls: <see cref="Directory"/> of &lt;hex&gt; files.</summary>
    public string BlobDirectory => _blobs;

    /// <summary>
    /// Pulls <paramref name="reference"/> ("nginx", "ghcr.io/org/app@sha256:...") for <paramref name="team"/> (null: the
    /// administrators) and returns the image, named by the reference's tag (an image pulled by digest alone gets no name
    /// but its repository digest).
    /// </summary>
    /// <param name="credential">The caller's credential for the image's registry, or null (anonymous).</param>
    public async Task<ImageRecord> PullAsync(string reference, string? team, RegistryCredential? credential, IProgress<PullProgress>? progress, CancellationToken ct)
    {
        var image = RegistryReference.Parse(reference);
        var manifest = await _client.GetManifestAsync(image, image.ManifestReference, credential, ct).ConfigureAwait(false);
        var repositoryDigest = manifest.Digest;
        if (manifest.IsIndex)
        {
            var (architecture, variant) = ManifestDocument.HostPlatform();
            var chosen = manifest.PickPlatform("linux", architecture, variant)
                ?? throw new ComputeException(ComputeErrorCode.ImageNotFound,
                    $"{image} has no image for linux/{architecture} (it has: {string.Join(", ", manifest.Manifests.Select(m => m.Platform?.ToString() ?? "no platform").Distinct())}).");
            manifest = await _client.GetManifestAsync(image, chosen.Digest, credential, ct).ConfigureAwait(false);
            if (manifest.IsIndex)
            {
                throw new ComputeException(ComputeErrorCode.ImageRejected, $"The index of {image} points at another index for linux/{architecture}; only one level is followed.");
            }
        }

        var blobs = new List<Descriptor> { manifest.Config! };
        blobs.AddRange(manifest.Layers);
        EnsureRoomFor(image, blobs, team);

        // Reported once the image is known to exist and to fit: a caller's failure before the first report is a plain error.
        progress?.Report(new PullProgress(image.Tag ?? image.Digest, $"Pulling from {image.FamiliarRepository}"));
        var before = _store.List().FirstOrDefault(i => i.Id == manifest.Config!.Digest && i.VisibleTo(team));
        foreach (var layer in manifest.Layers)
        {
            progress?.Report(Usable(layer, team) ? new PullProgress(ShortId(layer), "Already exists") : new PullProgress(ShortId(layer), "Waiting"));
        }

        using var parallel = new SemaphoreSlim(Math.Max(1, _options.ParallelDownloads));
        await Task.WhenAll(blobs.DistinctBy(b => b.Digest).Select(async blob =>
        {
            await parallel.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                await FetchAsync(image, credential, blob, team, blob == manifest.Config ? null : progress, ct).ConfigureAwait(false);
            }
            finally
            {
                parallel.Release();
            }
        })).ConfigureAwait(false);

        progress?.Report(new PullProgress(null, "Building the image disk"));
        var layout = Path.Combine(_store.Root, ".tmp", "pull-" + Guid.NewGuid().ToString("N"));
        try
        {
            WriteLayout(layout, manifest, blobs);
            var tag = image.FamiliarTag;
            var records = await _store.ImportAsync(layout, tag, team, null, ct).ConfigureAwait(false);
            var record = await _store.AddRepositoryDigestAsync(records[0].Id, $"{image.FamiliarRepository}@{repositoryDigest}", ct).ConfigureAwait(false);
            progress?.Report(new PullProgress(null, $"Digest: {repositoryDigest}"));
            var upToDate = before is not null && (tag is null || before.Tags.Contains(tag, StringComparer.Ordinal));
            progress?.Report(new PullProgress(null, $"Status: {(upToDate ? "Image is up to date" : "Downloaded newer image")} for {tag ?? image.ToString()}"));
            _logger.LogInformation("Pulled {Reference} ({Digest}) as {Image}", image, repositoryDigest, record.Id);
            return record;
        }
        finally
        {
            try
            {
                Directory.Delete(layout, recursive: true);
            }
            catch (DirectoryNotFoundException)
            {
            }
        }
    }

    /// <summary>Checks a credential against a registry (docker login); the registry name is checked like a reference's.</summary>
    public Task LoginAsync(string registry, RegistryCredential credential, CancellationToken ct) =>
        _client.LoginAsync(RegistryReference.Parse($"{registry}/x").Registry, credential, ct);

    /// <summary>
    /// The sizes a manifest declares are a registry's word: before anything is downloaded, the blobs not cached yet must
    /// fit the store's largest image (Compute:ImageImportMaxBytes) and leave its free-space reserve, so a hostile
    /// manifest cannot fill the disk (a registry sending more than it declared is cut off as it streams).
    /// </summary>
    private void EnsureRoomFor(RegistryReference image, IEnumerable<Descriptor> blobs, string? team)
    {
        long needed = 0;
        foreach (var blob in blobs.DistinctBy(b => b.Digest).Where(b => !Usable(b, team)))
        {
            needed = needed > long.MaxValue - blob.Size ? long.MaxValue : needed + blob.Size;
        }

        if (needed > _store.Options.MaxExtractedBytes)
        {
            throw new ComputeException(ComputeErrorCode.ImageRejected,
                $"The manifest of {image} names {needed} bytes of blobs to download, more than the {_store.Options.MaxExtractedBytes} an image may have here "
                + "(Compute:ImageImportMaxBytes). Raise it if the image is genuine.");
        }

        ImportBudget.EnsureFreeSpace(_store.Options, _blobs, needed, $"pulling {image}");
    }

    /// <summary>
    /// A blob into the cache once per owner, whoever asks for it at the same time; verified before it is moved in. A
    /// team downloads a blob itself unless it or the administrators fetched it before: the cache never hands one team's
    /// private layer to another team whose registry merely names its digest. Partial downloads are kept per owner too.
    /// </summary>
    private async Task FetchAsync(RegistryReference image, RegistryCredential? credential, Descriptor blob, string? team, IProgress<PullProgress>? progress, CancellationToken ct)
    {
        var gate = _downloads.GetOrAdd(blob.Digest, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (Usable(blob, team))
            {
                // Used by this owner now (an administrators' image is every team's): recorded like a download.
                AddOwner(blob, team);
                return;
            }

            var hex = Hex(blob);
            var partial = Path.Combine(_partial, $"{hex}.{OwnerOf(team)}");
            var id = ShortId(blob);
            // At most ten reports a second per blob (and its last bytes): a progress bar, not a report per 64 KiB.
            var last = DateTimeOffset.MinValue;
            try
            {
                await _client.DownloadBlobAsync(image, blob, credential, partial, progress is null ? null : new SynchronousProgress<long>(done =>
                {
                    var now = DateTimeOffset.UtcNow;
                    if (done == blob.Size || now - last >= TimeSpan.FromMilliseconds(100))
                    {
                        last = now;
                        progress.Report(new PullProgress(id, "Downloading", done, blob.Size));
                    }
                }), ct).ConfigureAwait(false);
            }
            catch (ComputeException e) when (e.Code == ComputeErrorCode.ImageRejected)
            {
                File.Delete(partial); // refused bytes are never continued
                throw;
            }

            File.Move(partial, Path.Combine(_blobs, hex), overwrite: true);
            AddOwner(blob, team);
            progress?.Report(new PullProgress(id, "Download complete"));
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>An OCI layout of hard links into the cache (same file system, no copy); the store checks every digest again as it reads.</summary>
    private void WriteLayout(string layout, ManifestDocument manifest, IEnumerable<Descriptor> blobs)
    {
        var directory = Path.Combine(layout, "blobs", "sha256");
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(layout, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        foreach (var blob in blobs.DistinctBy(b => b.Digest))
        {
            PosixFile.Link(Path.Combine(_blobs, Hex(blob)), Path.Combine(directory, Hex(blob)));
        }

        File.WriteAllBytes(Path.Combine(directory, manifest.Digest["sha256:".Length..]), manifest.Bytes);
        var index = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = ManifestDocument.OciIndex,
            ["manifests"] = new JsonArray(new JsonObject
            {
                ["mediaType"] = manifest.MediaType,
                ["digest"] = manifest.Digest,
                ["size"] = manifest.Bytes.Length,
            }),
        };
        File.WriteAllText(Path.Combine(layout, "index.json"), index.ToJsonString());
    }

    /// <summary>
    /// Whether <paramref name="team"/> (null: the administrators) may use the cached copy of a blob: administrators use
    /// any; a team one it fetched itself or one the administrators fetched (their images are every team's anyway).
    /// </summary>
    private bool Usable(Descriptor blob, string? team)
    {
        var hex = Hex(blob);
        if (!File.Exists(Path.Combine(_blobs, hex)))
        {
            return false;
        }

        if (team is null)
        {
            return true;
        }

        var owners = Path.Combine(_owners, hex);
        return File.Exists(owners) && File.ReadAllLines(owners) is var lines && (lines.Contains(team, StringComparer.Ordinal) || lines.Contains(Administrators, StringComparer.Ordinal));
    }

    /// <summary>Records <paramref name="team"/> as an owner of the cached blob (under the blob's gate).</summary>
    private void AddOwner(Descriptor blob, string? team)
    {
        var owners = Path.Combine(_owners, Hex(blob));
        var owner = OwnerOf(team);
        if (!File.Exists(owners) || !File.ReadAllLines(owners).Contains(owner, StringComparer.Ordinal))
        {
            File.AppendAllText(owners, owner + "\n");
        }
    }

    /// <summary>How an owner is written in a blob's owners file: the team's name, or "-" for the administrators.</summary>
    private static string OwnerOf(string? team) => team ?? Administrators;

    private static string Hex(Descriptor blob) => blob.Digest["sha256:".Length..];

    private static string ShortId(Descriptor blob) => Hex(blob)[..12];
}
