namespace Portal.Compute.Images;

/// <summary>The host's images as callers see them: list, resolve, import, tag, remove (refused while a container uses the image).</summary>
public interface IImageService
{
    /// <summary>Where image disks live (docker info's DockerRootDir).</summary>
    string Root { get; }

    /// <summary>Every image, newest first.</summary>
    IReadOnlyList<ImageRecord> List();

    /// <summary>An image by alias, name[:tag], id or id prefix; ImageNotFound otherwise.</summary>
    ImageRecord Resolve(string reference);

    /// <summary>Imports a rootfs tar, OCI layout tar or docker save archive (optionally gzip); <paramref name="tag"/> names a single image.</summary>
    Task<IReadOnlyList<ImageRecord>> ImportAsync(Stream archive, string? tag, IProgress<ImageImportProgress>? progress, CancellationToken ct);

    /// <summary>Adds <paramref name="newTag"/> to the image <paramref name="reference"/> names, taking it from any other image.</summary>
    Task TagAsync(string reference, string newTag, CancellationToken ct);

    /// <summary>
    /// Removes an image and its disk, or only the tag when <paramref name="reference"/> is one of several tags (docker rmi).
    /// An image that containers use is refused with ImageInUse, naming them; <paramref name="force"/> removes it from
    /// stopped containers' use (docker rmi -f), never from a running one's.
    /// </summary>
    Task RemoveAsync(string reference, bool force, CancellationToken ct);
}
