using Portal.Compute.Images;
using Portal.Compute.Registry;

namespace Portal.Compute.Audit;

/// <summary>The image service with imports, tags and removals recorded (see <see cref="AuditedComputeHost"/>).</summary>
internal sealed class AuditedImageService(IComputeHost host, AuditTrail trail) : IImageService
{
    private const string Type = "image";

    private IImageService Inner => host.Images;

    public string Root => Inner.Root;

    public IReadOnlyList<ImageRecord> List() => Inner.List();

    public ImageRecord Resolve(string reference, string? team) => Inner.Resolve(reference, team);

    public Task<IReadOnlyList<ImageRecord>> ImportAsync(Stream archive, string? tag, string? team, IProgress<ImageImportProgress>? progress, CancellationToken ct) =>
        trail.RecordAsync(AuditActions.ImageImport, trail.Target(Type, null, tag), () => Inner.ImportAsync(archive, tag, team, progress, ct),
            images => trail.Target(Type, string.Join(",", images.Select(i => i.Id)), string.Join(",", images.SelectMany(i => i.Tags))));

    public Task<ImageRecord> PullAsync(string reference, string? team, RegistryCredential? credential, IProgress<PullProgress>? progress, CancellationToken ct) =>
        trail.RecordAsync(AuditActions.ImagePull, trail.Target(Type, null, reference), () => Inner.PullAsync(reference, team, credential, progress, ct),
            image => trail.Target(Type, image.Id, image.Tags.FirstOrDefault() ?? reference));

    public Task LoginAsync(string registry, RegistryCredential credential, CancellationToken ct) =>
        trail.RecordAsync(AuditActions.RegistryLogin, trail.Target("registry", null, registry), () => Inner.LoginAsync(registry, credential, ct),
            new Dictionary<string, string>(StringComparer.Ordinal) { ["user"] = AuditTrail.Clip(credential.Username)! });

    public Task TagAsync(string reference, string newTag, string? team, CancellationToken ct) =>
        trail.RecordAsync(AuditActions.ImageTag, Before(reference, team), () => Inner.TagAsync(reference, newTag, team, ct),
            new Dictionary<string, string>(StringComparer.Ordinal) { ["tag"] = AuditTrail.Clip(newTag)! });

    public Task RemoveAsync(string reference, bool force, string? team, CancellationToken ct) =>
        trail.RecordAsync(AuditActions.ImageRemove, Before(reference, team), () => Inner.RemoveAsync(reference, force, team, ct),
            new Dictionary<string, string>(StringComparer.Ordinal) { ["reference"] = AuditTrail.Clip(reference)!, ["force"] = force ? "true" : "false" });

    private Portal.Contracts.AuditTarget Before(string reference, string? team)
    {
        try
        {
            var image = Inner.Resolve(reference, team);
            return trail.Target(Type, image.Id, image.Tags.FirstOrDefault() ?? reference);
        }
        catch (ComputeException)
        {
            return trail.Target(Type, null, reference);
        }
    }
}
