using Portal.Compute.Containers;
using Portal.Compute.Registry;
using Portal.Compute.Teams;
using Portal.Contracts;

namespace Portal.Compute.Images;

/// <summary>
/// The image store with the one rule that needs the containers: an image in use is not removed, and never from under
/// another owner's container.
/// </summary>
public sealed class ImageService(ImageStore store, IContainerService containers, ImagePuller? puller = null) : IImageService
{
    public string Root => store.Root;

    public IReadOnlyList<ImageRecord> List() => store.List();

    public ImageRecord Resolve(string reference) => store.Resolve(reference);

    public ImageRecord Resolve(string reference, string? team) => store.Resolve(reference, team);

    public Task<IReadOnlyList<ImageRecord>> ImportAsync(Stream archive, string? tag, string? team, IProgress<ImageImportProgress>? progress, CancellationToken ct) =>
        store.ImportAsync(archive, tag, team, progress, ct);

    public Task<ImageRecord> PullAsync(string reference, string? team, RegistryCredential? credential, IProgress<PullProgress>? progress, CancellationToken ct) =>
        puller?.PullAsync(reference, team, credential, progress, ct)
        ?? throw new ComputeException(ComputeErrorCode.NotSupported, "This host was assembled without registry access; import the image as an archive instead.");

    public Task LoginAsync(string registry, RegistryCredential credential, CancellationToken ct) =>
        puller?.LoginAsync(registry, credential, ct)
        ?? throw new ComputeException(ComputeErrorCode.NotSupported, "This host was assembled without registry access.");

    public Task TagAsync(string reference, string newTag, string? team, CancellationToken ct) => store.TagAsync(reference, newTag, team, ct);

    public Task RemoveAsync(string reference, bool force, string? team, CancellationToken ct)
    {
        var image = store.Resolve(reference, team);
        if (team is not null && !image.OwnedBy(team))
        {
            throw new ComputeException(ComputeErrorCode.Forbidden, ImageCatalog.NotOwned(image, team, "remove"));
        }

        // One of several tags only loses that tag; the image stays for its other names. An image other teams imported
        // too only loses this team as an owner: it stays for theirs.
        var tag = ImageReference.TryParse(reference)?.ToString();
        var untagOnly = tag is not null && image.Tags.Count > 1 && image.Tags.Contains(tag, StringComparer.Ordinal);
        var releaseOnly = team is not null && image.Teams.Count > 1;
        var usedBy = containers.ListContainers().Where(c => c.ImageId == image.Id).ToList();
        var own = team is null ? usedBy : usedBy.Where(c => TeamScopedComputeHost.Owns(team, c)).ToList();
        var users = own.Where(c => !force || c.State is ContainerState.Running or ContainerState.Stopping).Select(c => $"'{c.Name}'").ToList();
        if (!untagOnly && users.Count > 0)
        {
            throw new ComputeException(ComputeErrorCode.ImageInUse, force
                ? $"Image '{reference}' is used by running container(s) {string.Join(", ", users)}: stop and remove them first."
                : $"Image '{reference}' is used by container(s) {string.Join(", ", users)}: remove them first.");
        }

        // A team never removes an image from under another owner's container, force or not; their names are not told.
        var others = usedBy.Count - own.Count;
        if (!untagOnly && !releaseOnly && others > 0)
        {
            throw new ComputeException(ComputeErrorCode.ImageInUse,
                $"Image '{reference}' is used by {others} container(s) your team does not own: it stays while they use it.");
        }

        return store.RemoveAsync(reference, team, ct);
    }
}
