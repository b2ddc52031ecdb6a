using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Compute.Images;

/// <summary>The image store with the one rule that needs the containers: an image in use is not removed.</summary>
public sealed class ImageService(ImageStore store, IContainerService containers) : IImageService
{
    public string Root => store.Root;

    public IReadOnlyList<ImageRecord> List() => store.List();

    public ImageRecord Resolve(string reference) => store.Resolve(reference);

    public Task<IReadOnlyList<ImageRecord>> ImportAsync(Stream archive, string? tag, IProgress<ImageImportProgress>? progress, CancellationToken ct) =>
        store.ImportAsync(archive, tag, progress, ct);

    public Task TagAsync(string reference, string newTag, CancellationToken ct) => store.TagAsync(reference, newTag, ct);

    public Task RemoveAsync(string reference, bool force, CancellationToken ct)
    {
        var image = store.Resolve(reference);
        // One of several tags only loses that tag; the image stays for its other names.
        var tag = ImageReference.TryParse(reference)?.ToString();
        var untagOnly = tag is not null && image.Tags.Count > 1 && image.Tags.Contains(tag, StringComparer.Ordinal);
        var users = containers.ListContainers().Where(c => c.ImageId == image.Id && (!force || c.State is ContainerState.Running or ContainerState.Stopping)).Select(c => $"'{c.Name}'").ToList();
        if (!untagOnly && users.Count > 0)
        {
            throw new ComputeException(ComputeErrorCode.ImageInUse, force
                ? $"Image '{reference}' is used by running container(s) {string.Join(", ", users)}: stop and remove them first."
                : $"Image '{reference}' is used by container(s) {string.Join(", ", users)}: remove them first.");
        }

        return store.RemoveAsync(reference, ct);
    }
}
