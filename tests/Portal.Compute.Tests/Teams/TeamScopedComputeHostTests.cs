using Microsoft.Extensions.Logging.Abstractions;
using Portal.Compute.Audit;
using Portal.Compute.Teams;
using Portal.Contracts;
using Portal.Tests.Shared.Compute;

namespace Portal.Compute.Tests.Teams;

/// <summary>
/// The one enforcement path over a fake host: a team caller sees only its team's containers (another team's is "not
/// found"), may do what its role allows, owns what it creates, and each refusal is in the audit trail. Unit tier.
/// </summary>
public sealed class TeamScopedComputeHostTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("portal-teams-audit-").FullName;
    private readonly AuditLog _log;
    private readonly FakeComputeHost _fake = new();
    private readonly TeamScopedComputeHost _host;

    public TeamScopedComputeHostTests()
    {
        _log = new AuditLog(new AuditLogOptions(), _directory);
        var trail = new AuditTrail(_log, "h", NullLogger<AuditTrail>.Instance);
        _host = new TeamScopedComputeHost(new AuditedComputeHost(_fake, trail), trail);
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

    private static ContainerCreateSpec Spec(string name, Dictionary<string, string>? labels = null) => new() { Name = name, Image = "busybox:latest", Labels = labels ?? [] };

    private IReadOnlyList<AuditEntry> Denials() => _log.Read(new AuditQuery { Decision = AuditDecision.Denied }).Entries;

    [Fact]
    public async Task A_team_caller_s_host_facts_count_its_team_s_containers_and_images_only()
    {
        ActAs(null);
        await _host.Containers.CreateContainerAsync(Spec("admins"));
        await _host.Containers.CreateContainerAsync(Spec("reds", new() { [TeamRules.OwnerLabel] = "red" }));
        await _host.Containers.StartContainerAsync("reds");
        ActAs("blue", TeamRole.Member);
        await _host.Containers.CreateContainerAsync(Spec("blues"));

        // REST's /api/host, the hub's SubscribeHost and docker info would tell a team how many containers others run.
        var info = _host.GetHostInfo();
        Assert.Equal((1, 0, _host.Images.List().Count), (info.Containers, info.RunningContainers, info.Images));
        ActAs(null);
        Assert.Equal((3, 1), (_host.GetHostInfo().Containers, _host.GetHostInfo().RunningContainers));
    }

    [Fact]
    public async Task A_team_member_owns_what_it_creates_and_sees_only_its_team_s_containers()
    {
        ActAs(null);
        await _host.Containers.CreateContainerAsync(Spec("admins"));
        ActAs("blue", TeamRole.Member);
        // A label naming another team does not make it that team's.
        var blue = await _host.Containers.CreateContainerAsync(Spec("blue-web", new() { [TeamRules.OwnerLabel] = "red" }));
        Assert.Equal("blue", blue.Labels[TeamRules.OwnerLabel]);
        ActAs("red", TeamRole.Member);
        await _host.Containers.CreateContainerAsync(Spec("red-web"));

        ActAs("blue", TeamRole.Viewer);
        Assert.Equal(["blue-web"], _host.Containers.ListContainers().Select(c => c.Name));
        var hidden = Assert.Throws<ComputeException>(() => _host.Containers.GetContainer("red-web"));
        Assert.Equal(ComputeErrorCode.ContainerNotFound, hidden.Code);
        // The words of the real store's "no such container", nothing about the owner.
        Assert.Equal("No such container: 'red-web'. List containers to see their names and ids.", hidden.Message);

        // An id prefix resolves among the team's own containers only: another team's never makes it ambiguous.
        var redWeb = _fake.Containers.GetContainer("red-web");
        var prefix = await Assert.ThrowsAsync<ComputeException>(() => _host.Containers.GetStatisticsAsync(redWeb.Id[..12]));
        Assert.Equal(ComputeErrorCode.ContainerNotFound, prefix.Code);
        Assert.Equal(blue.Id, _host.Containers.GetContainer(blue.Id[..12]).Id);

        ActAs("blue", TeamRole.Member);
        var remove = await Assert.ThrowsAsync<ComputeException>(() => _host.Containers.RemoveContainerAsync("red-web"));
        Assert.Equal(ComputeErrorCode.ContainerNotFound, remove.Code);
        Assert.NotNull(_fake.Containers.GetContainer("red-web"));

        ActAs(null);
        Assert.Equal(3, _host.Containers.ListContainers().Count);
    }

    [Fact]
    public async Task Each_role_is_held_to_its_row_and_each_refusal_is_recorded_with_the_rule_and_reason()
    {
        ActAs("blue", TeamRole.Member);
        await _host.Containers.CreateContainerAsync(Spec("web"));

        ActAs("blue", TeamRole.Viewer);
        var create = await Assert.ThrowsAsync<ComputeException>(() => _host.Containers.CreateContainerAsync(Spec("more")));
        Assert.Equal(ComputeErrorCode.Forbidden, create.Code);
        Assert.Contains("is Viewer", create.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ComputeException>(() => _host.Containers.StartContainerAsync("web"));
        Assert.Equal("web", _host.Containers.GetContainer("web").Name);

        ActAs("blue", TeamRole.Operator);
        await _host.Containers.StartContainerAsync("web");
        var remove = await Assert.ThrowsAsync<ComputeException>(() => _host.Containers.RemoveContainerAsync("web", force: true));
        Assert.Equal(ComputeErrorCode.Forbidden, remove.Code);
        Assert.Contains("container.remove needs the Member role", remove.Message, StringComparison.Ordinal);
        var sw = await Assert.ThrowsAsync<ComputeException>(() => _host.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "teamnet" }));
        Assert.Contains("switch.create needs the Member role", sw.Message, StringComparison.Ordinal);

        ActAs("blue", TeamRole.Member);
        await _host.Containers.RemoveContainerAsync("web", force: true);

        var denials = Denials();
        Assert.Equal([AuditActions.ContainerCreate, AuditActions.ContainerStart, AuditActions.ContainerRemove, AuditActions.SwitchCreate], denials.Select(d => d.Action));
        Assert.All(denials, d =>
        {
            Assert.Equal("blue", d.Team);
            Assert.Equal(TeamRules.RoleRule, d.Rule);
            Assert.Equal(AuditResult.NotRun, d.Result);
            Assert.StartsWith("Your role in team 'blue'", d.Reason, StringComparison.Ordinal);
        });
        Assert.Equal("web", denials[2].Target!.Name);
    }

    [Fact]
    public async Task A_subscriber_acting_for_a_team_gets_only_its_team_s_events()
    {
        var blueEvents = new List<string>();
        var allEvents = new List<string>();
        ActAs("blue", TeamRole.Viewer);
        void OnBlue(ContainerEvent e) => blueEvents.Add(e.Container.Name);
        _host.Containers.Changed += OnBlue;
        ActAs(null);
        void OnAll(ContainerEvent e) => allEvents.Add(e.Container.Name);
        _host.Containers.Changed += OnAll;

        ActAs("red", TeamRole.Member);
        await _host.Containers.CreateContainerAsync(Spec("red-web"));
        ActAs("blue", TeamRole.Member);
        await _host.Containers.CreateContainerAsync(Spec("blue-web"));

        Assert.Equal(["blue-web"], blueEvents);
        Assert.Equal(["red-web", "blue-web"], allEvents);

        _host.Containers.Changed -= OnBlue;
        await _host.Containers.CreateContainerAsync(Spec("blue-two"));
        Assert.Equal(["blue-web"], blueEvents);
        _host.Containers.Changed -= OnAll;
    }
}
