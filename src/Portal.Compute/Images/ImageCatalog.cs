using System.Collections.Immutable;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Portal.Compute.Storage;

namespace Portal.Compute.Images;

/// <summary>
/// The records of the host's images and their names: loads &lt;Root&gt;/&lt;hex id&gt;/image.json at construction,
/// publishes built image directories, moves tags, removes images and persists every change durably. Mutations
/// are serialized by one lock; reads use an immutable snapshot and never block. It unpacks nothing: the
/// <see cref="ImageImporter"/> hands it finished image directories.
/// </summary>
internal sealed partial class ImageCatalog
{
    public const string DiskFileName = "disk.erofs";
    public const string MetadataFileName = "image.json";
    public const string ConfigFileName = "config.json";

    private readonly string _root;
    private readonly string _tmpRoot;
    private readonly ImageResolver _resolver;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _mutation = new(1, 1);
    private ImmutableDictionary<string, ImageRecord> _images = ImmutableDictionary<string, ImageRecord>.Empty;

    /// <param name="root">The store directory: one &lt;hex id&gt; directory per image.</param>
    /// <param name="tmpRoot">Where removed image directories are moved before they are deleted.</param>
    public ImageCatalog(string root, string tmpRoot, ImageResolver resolver, ILogger logger)
    {
        _root = root;
        _tmpRoot = tmpRoot;
        _resolver = resolver;
        _logger = logger;
        Load();
    }

    /// <summary>Every image, newest first.</summary>
    public IReadOnlyList<ImageRecord> List() =>
        [.. _images.Values.OrderByDescending(i => i.CreatedAt).ThenBy(i => i.Id, StringComparer.Ordinal)];

    /// <summary>See <see cref="ImageResolver.Resolve"/>.</summary>
    public ImageRecord Resolve(string reference) => Resolve(reference, null);

    /// <summary>See <see cref="ImageResolver.Resolve"/>, among the images <paramref name="team"/> may see (null: all).</summary>
    public ImageRecord Resolve(string reference, string? team) => _resolver.Resolve(VisibleTo(_images, team), reference).Image;

    /// <summary>The images a team may see: its own and the administrators' (all of them for null).</summary>
    private static IReadOnlyDictionary<string, ImageRecord> VisibleTo(ImmutableDictionary<string, ImageRecord> images, string? team) =>
        team is null ? images : images.Where(i => i.Value.VisibleTo(team)).ToDictionary(StringComparer.Ordinal);

    /// <summary>Refuses (Forbidden) a team's tag, untag or removal of an image it did not import.</summary>
    private static void EnsureOwned(ImageRecord image, string? team, string what)
    {
        if (team is not null && !image.OwnedBy(team))
        {
            throw new ComputeException(ComputeErrorCode.Forbidden, NotOwned(image, team, what));
        }
    }

    /// <summary>The refusal of a team's change to an image it sees but did not import (an administrators' image).</summary>
    public static string NotOwned(ImageRecord image, string team, string what) =>
        $"Image {(image.Tags.Count > 0 ? $"'{image.Tags[0]}'" : image.ShortId)} belongs to the administrators and is shared by every team: team '{team}' may use it but {what} only the images it imported.";

    /// <summary>
    /// Refuses (NameInUse) a team's tag that an image of another owner holds: a team never takes a name from an image it
    /// does not own. Another team's image is not named. Runs under the mutation lock.
    /// </summary>
    private void EnsureTagsFree(string hex, IReadOnlyList<string> tags, string? team)
    {
        if (team is null)
        {
            return;
        }

        foreach (var tag in tags)
        {
            if (ImageResolver.FindByTag(_images, tag) is { } holder && holder.HexId != hex && !holder.OwnedBy(team))
            {
                throw new ComputeException(ComputeErrorCode.NameInUse, holder.VisibleTo(team)
                    ? $"The tag '{tag}' names an administrators' image ({holder.ShortId}): team '{team}' cannot move it. Choose another tag."
                    : $"The tag '{tag}' is in use on this host by an image team '{team}' does not own. Choose another tag.");
            }
        }
    }

    /// <summary>True when the image "sha256:..." is in the store.</summary>
    public bool Contains(string id) => _images.ContainsKey(HexOf(id));

    /// <summary>The image that holds <paramref name="tag"/> (a normalized name:tag), if any.</summary>
    public ImageRecord? FindByTag(string tag) => ImageResolver.FindByTag(_images, tag);

    /// <summary>A tag given by a caller, normalized like docker ("busybox" -> "busybox:latest"); null when none is given.</summary>
    public static string? NormalizeTag(string? tag) =>
        string.IsNullOrWhiteSpace(tag) ? null : ImageReference.Parse(tag).ToString();

    /// <summary>The 64 hex digits of "sha256:&lt;hex&gt;" (the image's directory name).</summary>
    public static string HexOf(string id) => id["sha256:".Length..];

    /// <summary>
    /// Adds <paramref name="newTag"/> to the image <paramref name="reference"/> names, taking it from any other image; for
    /// a team (not null), only to an image it imported and only from another image it imported.
    /// </summary>
    public async Task TagAsync(string reference, string newTag, string? team, CancellationToken ct)
    {
        var tag = NormalizeTag(newTag) ?? throw new ComputeException(ComputeErrorCode.InvalidArgument, "A tag is required, e.g. 'myimage:v1'.");
        await _mutation.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var image = _resolver.Resolve(VisibleTo(_images, team), reference).Image;
            EnsureOwned(image, team, "tag");
            EnsureTagsFree(image.HexId, [tag], team);
            await AssignTagsAsync(image.HexId, [tag], ct).ConfigureAwait(false);
        }
        finally
        {
            _mutation.Release();
        }
    }

    /// <summary>Records that the image <paramref name="id"/> was pulled by <paramref name="repositoryDigest"/> ("nginx@sha256:...").</summary>
    public async Task<ImageRecord> AddRepositoryDigestAsync(string id, string repositoryDigest, CancellationToken ct)
    {
        await _mutation.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var hex = id.StartsWith("sha256:", StringComparison.Ordinal) ? id["sha256:".Length..] : id;
            var image = _images.GetValueOrDefault(hex) ?? throw new ComputeException(ComputeErrorCode.ImageNotFound, $"Image {id} is gone (removed while it was pulled).");
            if (image.RepoDigests.Contains(repositoryDigest, StringComparer.Ordinal))
            {
                return image;
            }

            var updated = image with { RepoDigests = [.. image.RepoDigests.Append(repositoryDigest).Order(StringComparer.Ordinal)] };
            await PersistAsync(updated, ct).ConfigureAwait(false);
            _images = _images.SetItem(hex, updated);
            return updated;
        }
        finally
        {
            _mutation.Release();
        }
    }

    /// <summary>
    /// Removes an image and its disk, or, when <paramref name="reference"/> is one of several tags of the image,
    /// only that tag. For a team (not null): only an image it imported; one that other teams imported too only loses
    /// this team as an owner. The caller checks that no container uses the image.
    /// </summary>
    public async Task RemoveAsync(string reference, string? team, CancellationToken ct)
    {
        await _mutation.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var (image, tag) = _resolver.Resolve(VisibleTo(_images, team), reference);
            EnsureOwned(image, team, "remove");
            if (tag is not null && image.Tags.Count > 1)
            {
                var untagged = image with { Tags = [.. image.Tags.Where(t => t != tag)] };
                await PersistAsync(untagged, ct).ConfigureAwait(false);
                _images = _images.SetItem(image.HexId, untagged);
                _logger.LogInformation("Untagged {Tag} from image {Id}", tag, image.Id);
                return;
            }

            if (team is not null && image.Teams.Count > 1)
            {
                var released = image with { Teams = [.. image.Teams.Where(t => t != team)] };
                await PersistAsync(released, ct).ConfigureAwait(false);
                _images = _images.SetItem(image.HexId, released);
                _logger.LogInformation("Team {Team} no longer owns image {Id}; teams {Teams} still do", team, image.Id, string.Join(", ", released.Teams));
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

    /// <summary>As the overload below, for the administrators.</summary>
    public Task<ImageRecord> PublishAsync(
        string id, byte[] configJson, ImageConfigDocument config, string? builtDirectory, IReadOnlyList<string> tags, CancellationToken ct) =>
        PublishAsync(id, configJson, config, builtDirectory, tags, null, ct);

    /// <summary>
    /// Publishes a built image (moves <paramref name="builtDirectory"/>, which holds disk.erofs, into the store) or,
    /// when the image already exists, only adds the tags (<paramref name="builtDirectory"/> may then be null).
    /// <paramref name="team"/> (null: the administrators) owns a new image; a team that imports an image another team
    /// imported owns it too; an administrators' image stays theirs, and a team may not add names to it.
    /// </summary>
    public async Task<ImageRecord> PublishAsync(
        string id, byte[] configJson, ImageConfigDocument config, string? builtDirectory, IReadOnlyList<string> tags, string? team, CancellationToken ct)
    {
        var hex = HexOf(id);
        await _mutation.WaitAsync(ct).ConfigureAwait(false);

        // Once the lock is held the commit runs to the end: a cancelled half-commit would leave an untagged image.
        ct = CancellationToken.None;
        try
        {
            EnsureTagsFree(hex, tags, team);
            if (team is not null && _images.TryGetValue(hex, out var existing))
            {
                if (existing.IsAdministrators)
                {
                    // The team already sees it; it may not rename what the administrators provide.
                    if (tags.Any(t => !existing.Tags.Contains(t, StringComparer.Ordinal)))
                    {
                        throw new ComputeException(ComputeErrorCode.Forbidden,
                            $"The archive holds image {existing.ShortId}, which the administrators provide{(existing.Tags.Count > 0 ? $" as '{string.Join("', '", existing.Tags)}'" : "")}: use it by that name or id, or ask an administrator to tag it.");
                    }
                }
                else if (!existing.OwnedBy(team))
                {
                    var shared = existing with { Teams = [.. existing.Teams.Append(team).Order(StringComparer.Ordinal)] };
                    await PersistAsync(shared, ct).ConfigureAwait(false);
                    _images = _images.SetItem(hex, shared);
                }
            }

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
                    Teams = team is null ? [] : [team],
                };
                await StateFile.WriteBytesAsync(Path.Combine(builtDirectory, ConfigFileName), configJson, ct).ConfigureAwait(false);
                await StateFile.WriteBytesAsync(Path.Combine(builtDirectory, MetadataFileName), Serialize(record), ct).ConfigureAwait(false);
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
            if (ImageResolver.FindByTag(_images, tag) is { } holder && holder.HexId != hex)
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
        await StateFile.WriteBytesAsync(Path.Combine(_root, image.HexId, MetadataFileName), Serialize(image), ct).ConfigureAwait(false);

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

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex HexIdPattern();
}
