using Portal.Compute.Audit;
using Portal.Compute.Images;
using Portal.Compute.Registry;
using Portal.Contracts;

namespace Portal.Compute.Teams;

/// <summary>
/// Images as a team caller may see and use them (see <see cref="TeamScopedComputeHost"/>): its team's imports and the
/// administrators' images; another team's import answers as a missing one. A Member imports for its team, and tags and
/// removes only its team's imports (an administrators' image is refused, recorded); the store keeps the owners
/// (<see cref="ImageRecord.Teams"/>) and never removes an image from under another owner's container.
/// </summary>
internal sealed class TeamScopedImageService(IComputeHost host, AuditTrail trail, TeamStore? teams) : IImageService
{
    private const string Type = "image";

    private IImageService Inner => host.Images;

    public string Root => Inner.Root;

    public IReadOnlyList<ImageRecord> List() => TeamScopedComputeHost.TeamCaller() is { } caller
        ? Inner.List().Where(i => i.VisibleTo(caller.Team)).Select(i => Narrow(i, caller.Team!)).ToList()
        : Inner.List();

    public ImageRecord Resolve(string reference, string? team) => TeamScopedComputeHost.TeamCaller() is { } caller
        ? Narrow(Inner.Resolve(reference, caller.Team), caller.Team!)
        : Inner.Resolve(reference, team);

    /// <summary>A team sees itself among an image's owners, never which other teams imported it too.</summary>
    private static ImageRecord Narrow(ImageRecord image, string team) =>
        image.IsAdministrators ? image : image with { Teams = [team] };

    public Task<IReadOnlyList<ImageRecord>> ImportAsync(Stream archive, string? tag, string? team, IProgress<ImageImportProgress>? progress, CancellationToken ct)
    {
        if (TeamScopedComputeHost.TeamCaller() is not { } caller)
        {
            // An administrator may import for a team, which must then exist here.
            if (team is not null && teams is not null && teams.Find(team) is null)
            {
                throw new ComputeException(ComputeErrorCode.InvalidArgument, $"No team '{team}' on this agent: push the team first, or import for the administrators.");
            }

            return Inner.ImportAsync(archive, tag, team, progress, ct);
        }

        TeamScopedComputeHost.Demand(trail, caller, TeamAction.ManageImages, AuditActions.ImageImport, trail.Target(Type, null, tag));
        return Inner.ImportAsync(archive, tag, caller.Team, progress, ct);
    }

    /// <summary>A pull is an import from a registry: the same role (ManageImages), and the image is the caller's team's.</summary>
    public Task<ImageRecord> PullAsync(string reference, string? team, RegistryCredential? credential, IProgress<PullProgress>? progress, CancellationToken ct)
    {
        if (TeamScopedComputeHost.TeamCaller() is not { } caller)
        {
            if (team is not null && teams is not null && teams.Find(team) is null)
            {
                throw new ComputeException(ComputeErrorCode.InvalidArgument, $"No team '{team}' on this agent: push the team first, or pull for the administrators.");
            }

            return Inner.PullAsync(reference, team, credential, progress, ct);
        }

        TeamScopedComputeHost.Demand(trail, caller, TeamAction.ManageImages, AuditActions.ImagePull, trail.Target(Type, null, reference));
        return Inner.PullAsync(reference, caller.Team, credential, progress, ct);
    }

    /// <summary>Only callers who may pull may have the agent try credentials on a registry for them.</summary>
    public Task LoginAsync(string registry, RegistryCredential credential, CancellationToken ct)
    {
        if (TeamScopedComputeHost.TeamCaller() is { } caller)
        {
            TeamScopedComputeHost.Demand(trail, caller, TeamAction.ManageImages, AuditActions.RegistryLogin, trail.Target("registry", null, registry));
        }

        return Inner.LoginAsync(registry, credential, ct);
    }

    public Task TagAsync(string reference, string newTag, string? team, CancellationToken ct) => TeamScopedComputeHost.TeamCaller() is { } caller
        ? Inner.TagAsync(Owned(caller, reference, AuditActions.ImageTag, "tag").Id, newTag, caller.Team, ct)
        : Inner.TagAsync(reference, newTag, team, ct);

    public Task RemoveAsync(string reference, bool force, string? team, CancellationToken ct)
    {
        if (TeamScopedComputeHost.TeamCaller() is not { } caller)
        {
            return Inner.RemoveAsync(reference, force, team, ct);
        }

        // The reference as given: one of several tags only loses that tag.
        Owned(caller, reference, AuditActions.ImageRemove, "remove");
        return Inner.RemoveAsync(reference, force, caller.Team, ct);
    }

    /// <summary>
    /// An image among those the caller's team may see; another team's answers as a missing one, and the attempt to
    /// change (<paramref name="action"/>) something with it is recorded, denied, with the truth.
    /// </summary>
    internal static ImageRecord Visible(IImageService images, AuditTrail trail, AuditCaller caller, string reference, string action, AuditTarget? target)
    {
        try
        {
            return images.Resolve(reference, caller.Team);
        }
        catch (ComputeException e) when (e.Code == ComputeErrorCode.ImageNotFound)
        {
            ImageRecord? hidden = null;
            try
            {
                hidden = images.Resolve(reference, null);
            }
            catch (ComputeException)
            {
                // Missing for everyone: nothing to record.
            }

            if (hidden is not null)
            {
                trail.Deny(action, target ?? trail.Target(Type, hidden.Id, hidden.Tags.FirstOrDefault() ?? reference), TeamRules.OwnershipRule,
                    $"Image {hidden.ShortId} was imported by team(s) {string.Join(", ", hidden.Teams.Select(t => $"'{t}'"))}; the caller was told that no such image exists.", caller);
            }

            throw;
        }
    }

    /// <summary>
    /// The image once the caller's role may change images and its team imported it: another team's is "not found", an
    /// administrators' image is refused (recorded, Forbidden).
    /// </summary>
    private ImageRecord Owned(AuditCaller caller, string reference, string action, string what)
    {
        var image = Visible(Inner, trail, caller, reference, action, null);
        var target = trail.Target(Type, image.Id, image.Tags.FirstOrDefault() ?? reference);
        TeamScopedComputeHost.Demand(trail, caller, TeamAction.ManageImages, action, target);
        if (!image.OwnedBy(caller.Team!))
        {
            var refusal = ImageCatalog.NotOwned(image, caller.Team!, what);
            trail.Deny(action, target, TeamRules.OwnershipRule, refusal, caller);
            throw new ComputeException(ComputeErrorCode.Forbidden, refusal);
        }

        return image;
    }
}
