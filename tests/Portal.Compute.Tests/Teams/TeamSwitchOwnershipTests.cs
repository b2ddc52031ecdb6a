using Microsoft.Extensions.Logging.Abstractions;
using Portal.Compute.Audit;
using Portal.Compute.Teams;
using Portal.Contracts;
using Portal.Tests.Shared.Compute;

namespace Portal.Compute.Tests.Teams;

/// <summary>
/// Switches owned by teams over a fake host: a Member creates and removes its team's switches, every team sees and
/// joins the administrators' switches but removes only its own, another team's switch is "not found". Unit tier.
/// </summary>
public sealed class TeamSwitchOwnershipTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("portal-teams-switches-").FullName;
    private readonly AuditLog _log;
    private readonly FakeComputeHost _fake = new();
    private readonly TeamScopedComputeHost _host;

    public TeamSwitchOwnershipTests()
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

    [Fact]
    public async Task A_member_owns_the_switches_it_creates_and_a_team_sees_its_own_and_the_administrators_switches()
    {
        ActAs(null);
        await _host.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "shared" });
        ActAs("blue", TeamRole.Member);
        // A team named in the spec does not make it that team's.
        var blue = await _host.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "blue-net", Team = "red" });
        Assert.Equal("blue", blue.Team);
        ActAs("red", TeamRole.Member);
        await _host.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "red-net" });

        ActAs("blue", TeamRole.Viewer);
        Assert.Equal(["blue-net", "nat", "none", "shared"], _host.Switches.ListSwitches().Select(s => s.Name).Order(StringComparer.Ordinal));
        var hidden = Assert.Throws<ComputeException>(() => _host.Switches.GetSwitch("red-net"));
        Assert.Equal(ComputeErrorCode.SwitchNotFound, hidden.Code);
        Assert.Equal(SwitchNotFoundWords("red-net"), hidden.Message);

        ActAs(null);
        Assert.Equal(5, _host.Switches.ListSwitches().Count);
        Assert.Equal("red", _host.Switches.GetSwitch("red-net").Team);
    }

    [Fact]
    public async Task Viewers_and_operators_may_not_create_or_remove_switches_and_each_refusal_is_recorded()
    {
        ActAs("blue", TeamRole.Member);
        await _host.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "blue-net" });
        foreach (var role in new[] { TeamRole.Viewer, TeamRole.Operator })
        {
            ActAs("blue", role);
            var create = await Assert.ThrowsAsync<ComputeException>(() => _host.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "more" }));
            Assert.Equal(ComputeErrorCode.Forbidden, create.Code);
            Assert.Contains("switch.create needs the Member role", create.Message, StringComparison.Ordinal);
            var remove = await Assert.ThrowsAsync<ComputeException>(() => _host.Switches.RemoveSwitchAsync("blue-net"));
            Assert.Equal(ComputeErrorCode.Forbidden, remove.Code);
        }

        ActAs(null);
        Assert.NotNull(_host.Switches.GetSwitch("blue-net"));
        var denials = _log.Read(new AuditQuery { Decision = AuditDecision.Denied }).Entries;
        Assert.Equal(4, denials.Count);
        Assert.All(denials, d => Assert.Equal(TeamRules.RoleRule, d.Rule));
        Assert.Equal("blue-net", denials[1].Target!.Name);
    }

    [Fact]
    public async Task A_team_removes_only_its_own_switches()
    {
        ActAs("red", TeamRole.Member);
        await _host.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "red-net" });
        ActAs("blue", TeamRole.Owner);
        var other = await Assert.ThrowsAsync<ComputeException>(() => _host.Switches.RemoveSwitchAsync("red-net"));
        Assert.Equal(SwitchNotFoundWords("red-net"), other.Message);
        var shared = await Assert.ThrowsAsync<ComputeException>(() => _host.Switches.RemoveSwitchAsync("nat"));
        Assert.Equal(ComputeErrorCode.Forbidden, shared.Code);
        Assert.Contains("belongs to the administrators", shared.Message, StringComparison.Ordinal);
        await _host.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "blue-net" });
        await _host.Switches.RemoveSwitchAsync("blue-net");

        ActAs(null);
        Assert.Equal(["nat", "none", "red-net"], _host.Switches.ListSwitches().Select(s => s.Name).Order(StringComparer.Ordinal));
        // Both recorded with the truth: another team's switch (the caller was told "not found") and the shared one.
        var denials = _log.Read(new AuditQuery { Decision = AuditDecision.Denied }).Entries;
        Assert.Equal([("red-net", TeamRules.OwnershipRule), ("nat", TeamRules.OwnershipRule)], denials.Select(d => (d.Target!.Name!, d.Rule!)));
        Assert.All(denials, d => Assert.Equal(("blue", AuditActions.SwitchRemove), (d.Team, d.Action)));
        Assert.Contains("belongs to team 'red'", denials[0].Reason, StringComparison.Ordinal);
        var allowed = _log.Read(new AuditQuery { Action = AuditActions.SwitchRemove, Decision = AuditDecision.Allowed }).Entries;
        Assert.Equal("blue", Assert.Single(allowed).Team);
    }

    [Fact]
    public async Task A_team_s_container_joins_its_own_or_a_shared_switch_never_another_team_s_and_a_switch_lists_only_its_team_s_containers()
    {
        ActAs("red", TeamRole.Member);
        await _host.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "red-net" });
        await _host.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "red-web", Image = "busybox" });
        ActAs("blue", TeamRole.Member);
        var refused = await Assert.ThrowsAsync<ComputeException>(() => _host.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "spy", Image = "busybox", SwitchName = "red-net" }));
        Assert.Equal(ComputeErrorCode.SwitchNotFound, refused.Code);
        Assert.Equal(SwitchNotFoundWords("red-net"), refused.Message);
        await _host.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "blue-net" });
        Assert.Equal("blue-net", (await _host.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "own", Image = "busybox", SwitchName = "blue-net" })).SwitchName);
        Assert.Equal("nat", (await _host.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "shared", Image = "busybox", SwitchName = "bridge" })).SwitchName);

        ActAs(null);
        Assert.Throws<ComputeException>(() => _fake.Containers.GetContainer("spy"));
    }

    private static string SwitchNotFoundWords(string name) => Portal.Compute.Networking.SwitchCatalog.NotFound(name).Message;
}
