using Portal.Compute.Images;

namespace Portal.Compute.Audit;

/// <summary>The image service with imports, tags and removals recorded (see <see cref="AuditedComputeHost"/>).</summary>
internal sealed class AuditedImageService(IComputeHost host, AuditTrail trail) : IImageService
{
    private const string Type = "image";

    private IImageService Inner => host.Images;

    public string Root => Inner.Root;

    public IReadOnlyList<ImageRecord> List() => Inner.List();

    public ImageRecord Resolve(string reference) => Inner.Resolve(reference);

    public Task<IReadOnlyList<ImageRecord>> ImportAsync(Stream archive, string? tag, IProgress<ImageImportProgress>? progress, CancellationToken ct) =>
        trail.RecordAsync(AuditActions.ImageImport, trail.Target(Type, null, tag), () => Inner.ImportAsync(archive, tag, progress, ct),
            images => trail.Target(Type, string.Join(",", images.Select(i => i.Id)), string.Join(",", images.SelectMany(i => i.Tags))));

    public Task TagAsync(string reference, string newTag, CancellationToken ct) =>
        trail.RecordAsync(AuditActions.ImageTag, Before(reference), () => Inner.TagAsync(reference, newTag, ct),
            new Dictionary<string, string>(StringComparer.Ordinal) { ["tag"] = AuditTrail.Clip(newTag)! });

    public Task RemoveAsync(string reference, bool force, CancellationToken ct) =>
        trail.RecordAsync(AuditActions.ImageRemove, Before(reference), () => Inner.RemoveAsync(reference, force, ct),
            new Dictionary<string, string>(StringComparer.Ordinal) { ["reference"] = AuditTrail.Clip(reference)!, ["force"] = force ? "true" : "false" });

    private Portal.Contracts.AuditTarget Before(string reference)
    {
        try
        {
            var image = Inner.Resolve(reference);
            return trail.Target(Type, image.Id, image.Tags.FirstOrDefault() ?? reference);
        }
        catch (ComputeException)
        {
            return trail.Target(Type, null, reference);
        }
    }
}
