using Portal.Compute.Registry;

namespace Portal.Compute.Images;

/// <summary>
/// The host's images as callers see them: list, resolve, import, tag, remove (refused while a container uses the image).
/// <c>team</c> is the acting team (null: the administrators): a team sees its own imports and the administrators'
/// images, imports for itself, and tags and removes only its own (see <see cref="ImageRecord.Teams"/>).
/// </summary>
public interface IImageService
{
    /// <summary>Where image disks live (docker info's DockerRootDir).</summary>
    string Root { get; }

    /// <summary>Every image, newest first.</summary>
    IReadOnlyList<ImageRecord> List();

    /// <summary>An image by alias, name[:tag], id or id prefix; ImageNotFound otherwise.</summary>
    ImageRecord Resolve(string reference) => Resolve(reference, null);

    /// <summary>An image among those <paramref name="team"/> may see; another team's answers ImageNotFound like a missing one.</summary>
    ImageRecord Resolve(string reference, string? team);

    /// <summary>Imports a rootfs tar, OCI layout tar or docker save archive (optionally gzip); <paramref name="tag"/> names a single image.</summary>
    Task<IReadOnlyList<ImageRecord>> ImportAsync(Stream archive, string? tag, IProgress<ImageImportProgress>? progress, CancellationToken ct) =>
        ImportAsync(archive, tag, null, progress, ct);

    /// <summary>Imports for <paramref name="team"/> (null: the administrators), which then owns what it imported.</summary>
    Task<IReadOnlyList<ImageRecord>> ImportAsync(Stream archive, string? tag, string? team, IProgress<ImageImportProgress>? progress, CancellationToken ct);

    /// <summary>
    /// Pulls <paramref name="reference"/> from its registry for <paramref name="team"/> (null: the administrators), with
    /// the caller's <paramref name="credential"/> for that registry (null: anonymous); the image is named by the
    /// reference's tag and keeps the manifest digest it was pulled by (<see cref="ImageRecord.RepoDigests"/>).
    /// </summary>
    Task<ImageRecord> PullAsync(string reference, string? team, RegistryCredential? credential, IProgress<PullProgress>? progress, CancellationToken ct);

    /// <summary>Checks <paramref name="credential"/> against <paramref name="registry"/> as `docker login` does; RegistryAuthenticationFailed when refused.</summary>
    Task LoginAsync(string registry, RegistryCredential credential, CancellationToken ct);

    /// <summary>Adds <paramref name="newTag"/> to the image <paramref name="reference"/> names, taking it from any other image.</summary>
    Task TagAsync(string reference, string newTag, CancellationToken ct) => TagAsync(reference, newTag, null, ct);

    /// <summary>Tags for <paramref name="team"/>: only its own image, and only with a tag no image of another owner holds.</summary>
    Task TagAsync(string reference, string newTag, string? team, CancellationToken ct);

    /// <summary>
    /// Removes an image and its disk, or only the tag when <paramref name="reference"/> is one of several tags (docker rmi).
    /// An image that containers use is refused with ImageInUse, naming them; <paramref name="force"/> removes it from
    /// stopped containers' use (docker rmi -f), never from a running one's.
    /// </summary>
    Task RemoveAsync(string reference, bool force, CancellationToken ct) => RemoveAsync(reference, force, null, ct);

    /// <summary>
    /// Removes for <paramref name="team"/>: only its own image; an image another team also imported only loses this
    /// team as an owner; an image another owner's container uses is never removed.
    /// </summary>
    Task RemoveAsync(string reference, bool force, string? team, CancellationToken ct);
}
