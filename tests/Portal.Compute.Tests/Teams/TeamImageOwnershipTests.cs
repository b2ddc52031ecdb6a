using Microsoft.Extensions.Logging.Abstractions;
using Portal.Compute.Audit;
using Portal.Compute.Teams;
using Portal.Contracts;
using Portal.Tests.Shared.Compute;

namespace Portal.Compute.Tests.Teams;

/// <summary>
/// Images owned by teams through the enforcement path, over a fake host: a team lists and uses its imports and the
/// administrators' images, another team's import is "not found" (also as a container's image), and a team may not tag
/// or remove an administrators' image (refused and recorded). Unit tier; the store's own rules are in ImageCatalogTests.
/// </summary>
public sealed class TeamImageOwnershipTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("portal-teams-images-").FullName;
    private readonly AuditLog _log;
    private readonly FakeComputeHost _fake = new();
    private readonly TeamScopedComputeHost _host;

    public TeamImageOwnershipTests()
    {
        _log = new AuditLog(new AuditLogOptions(), _directory);
        var trail = new AuditTrail(_log, "h", NullLogger<AuditTrail>.Instance);
        _host = new TeamScopedComputeHost(new AuditedComputeHost(_fake, trail), trail);
        _fake.Images.Add("blue-app:1", null, "blue");
        _fake.Images.Add("red-app:1", null, "red");
    }

    public void Dispose()
    {
        AuditCaller.Current = null;
        _log.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private static void ActAs(string? team, TeamRole? role = null) => AuditCaller.Current = new AuditCaller
    {
        Actor = new AuditActor { Kind = AuditActorKind.ApiKey, Name = $"key {team}" },
        EntryPoint = AuditEntryPoint.Rest,
        Team = team,
        Role = role,
    };

    [Fact]
    public void A_team_lists_its_imports_and_the_administrators_images_and_another_team_s_is_not_found()
    {
        ActAs("blue", TeamRole.Viewer);
        Assert.Equal(["blue-app:1", "busybox:latest"], _host.Images.List().SelectMany(i => i.Tags).Order(StringComparer.Ordinal));
        Assert.Equal(ComputeErrorCode.ImageNotFound, Assert.Throws<ComputeException>(() => _host.Images.Resolve("red-app:1")).Code);
        // A team named by the caller does not widen what it sees.
        Assert.Equal(ComputeErrorCode.ImageNotFound, Assert.Throws<ComputeException>(() => _host.Images.Resolve("red-app:1", "red")).Code);

        ActAs(null);
        Assert.Equal(3, _host.Images.List().Count);
    }

    [Fact]
    public async Task A_team_creates_containers_from_its_own_and_the_administrators_images_never_from_another_team_s()
    {
        ActAs("blue", TeamRole.Member);
        var refused = await Assert.ThrowsAsync<ComputeException>(() => _host.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "spy", Image = "red-app:1" }));
        Assert.Equal(ComputeErrorCode.ImageNotFound, refused.Code);
        var redId = _fake.Images.Resolve("red-app:1").Id;
        Assert.Equal(ComputeErrorCode.ImageNotFound, (await Assert.ThrowsAsync<ComputeException>(() => _host.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "spy", Image = redId }))).Code);

        Assert.Equal("blue-app:1", (await _host.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "own", Image = "blue-app:1" })).Image);
        Assert.Equal("busybox:latest", (await _host.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "base", Image = "busybox:latest" })).Image);
        ActAs(null);
        Assert.Equal(["base", "own"], _host.Containers.ListContainers().Select(c => c.Name).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Only_members_change_images_only_their_own_and_each_refusal_is_recorded()
    {
        ActAs("blue", TeamRole.Operator);
        var operatorTag = await Assert.ThrowsAsync<ComputeException>(() => _host.Images.TagAsync("blue-app:1", "blue-app:2", CancellationToken.None));
        Assert.Contains("image.tag needs the Member role", operatorTag.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ComputeException>(() => _host.Images.ImportAsync(Stream.Null, "x:1", null, CancellationToken.None));

        ActAs("blue", TeamRole.Member);
        var shared = await Assert.ThrowsAsync<ComputeException>(() => _host.Images.RemoveAsync("busybox:latest", force: false, CancellationToken.None));
        Assert.Equal(ComputeErrorCode.Forbidden, shared.Code);
        Assert.Contains("belongs to the administrators", shared.Message, StringComparison.Ordinal);
        Assert.Equal(ComputeErrorCode.ImageNotFound, (await Assert.ThrowsAsync<ComputeException>(() => _host.Images.RemoveAsync("red-app:1", force: false, CancellationToken.None))).Code);
        await _host.Images.TagAsync("blue-app:1", "blue-app:2", CancellationToken.None);
        await _host.Images.RemoveAsync("blue-app:1", force: false, CancellationToken.None);

        ActAs(null);
        Assert.Equal(["blue-app:2"], _fake.Images.Resolve("blue-app:2").Tags);
        var denials = _log.Read(new AuditQuery { Decision = AuditDecision.Denied }).Entries;
        Assert.Equal([AuditActions.ImageTag, AuditActions.ImageImport, AuditActions.ImageRemove, AuditActions.ImageRemove], denials.Select(d => d.Action));
        Assert.Equal([TeamRules.RoleRule, TeamRules.RoleRule, TeamRules.OwnershipRule, TeamRules.OwnershipRule], denials.Select(d => d.Rule));
        Assert.Equal("red-app:1", denials[3].Target!.Name);
        Assert.All(denials, d => Assert.Equal("blue", d.Team));
        Assert.Equal("busybox:latest", denials[2].Target!.Name);
        var allowed = _log.Read(new AuditQuery { Decision = AuditDecision.Allowed }).Entries.Where(e => e.Action.StartsWith("image.", StringComparison.Ordinal)).ToList();
        Assert.Equal([AuditActions.ImageTag, AuditActions.ImageRemove], allowed.Select(e => e.Action));
        Assert.All(allowed, e => Assert.Equal("blue", e.Team));
    }
}
