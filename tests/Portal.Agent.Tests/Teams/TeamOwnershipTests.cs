using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Portal.Compute.Audit;
using Portal.Compute.Teams;
using Portal.Contracts;
using Portal.Contracts.Hub;
using Portal.Tests.Shared;

namespace Portal.Agent.Tests.Teams;

/// <summary>
/// Switches and image imports owned by teams, through the real agent's REST and hub with team keys: a Member creates
/// and removes its team's switches (kept across a restart) and imports images for its team; a Viewer may not; another
/// team's switch and image are "not found" (also as a container's switch or image); the administrators' switch and
/// images are shared but not the team's to remove; each decision is in the audit trail. Containers are created, not started.
/// </summary>
[Trait("Requires", "root")]
public sealed class TeamOwnershipTests : RunningAgent
{
    [RootFact]
    public async Task Team_members_own_their_switches_through_REST_and_the_hub_and_other_teams_cannot_see_or_use_them()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        using var admin = Agent.TcpWithKey(Agent.AdminKey!);
        await PutTeamsAsync(admin);
        var blueMemberKey = await TeamKeyAsync(admin, "blue-member", "blue", TeamRole.Member);
        using var blue = Agent.TcpWithKey(blueMemberKey.Secret);
        using var viewer = Agent.TcpWithKey((await TeamKeyAsync(admin, "blue-viewer", "blue", TeamRole.Viewer)).Secret);
        var redKey = await TeamKeyAsync(admin, "red-member", "red", TeamRole.Member);
        using var red = Agent.TcpWithKey(redKey.Secret);

        var created = await blue.PostAsJsonAsync("api/switches", new SwitchCreateSpec { Name = "blue-net", Type = SwitchType.Internal, Team = "red" }, AgentProcess.Json);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("blue", (await created.Content.ReadFromJsonAsync<SwitchInfo>(AgentProcess.Json))!.Team);
        var refused = await viewer.PostAsJsonAsync("api/switches", new SwitchCreateSpec { Name = "viewer-net" }, AgentProcess.Json);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("switch.create needs the Member role", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // The viewer lists its team's switch and the shared ones; red does not see blue's, which is "not found" for it.
        var listed = (await viewer.GetFromJsonAsync<List<SwitchInfo>>("api/switches", AgentProcess.Json))!;
        Assert.Contains(listed, s => s.Name == "blue-net" && s.Team == "blue");
        var shared = Assert.Single(listed, s => s.IsDefault);
        Assert.Null(shared.Team);
        Assert.DoesNotContain((await red.GetFromJsonAsync<List<SwitchInfo>>("api/switches", AgentProcess.Json))!, s => s.Name == "blue-net");
        var hidden = await red.GetAsync("api/switches/blue-net");
        Assert.Equal(HttpStatusCode.NotFound, hidden.StatusCode);
        var missing = await red.GetAsync("api/switches/no-such-net");
        Assert.Equal((await missing.Content.ReadFromJsonAsync<Problem>(AgentProcess.Json))!.Detail.Replace("no-such-net", "blue-net", StringComparison.Ordinal),
            (await hidden.Content.ReadFromJsonAsync<Problem>(AgentProcess.Json))!.Detail);
        Assert.Equal(HttpStatusCode.NotFound, (await red.DeleteAsync("api/switches/blue-net")).StatusCode);

        // Containers join their team's switch or a shared one, never another team's; a shared switch lists only the caller's.
        Assert.Equal(HttpStatusCode.Created, (await blue.PostAsJsonAsync("api/containers", Spec("blue-on-net") with { SwitchName = "blue-net" }, AgentProcess.Json)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await red.PostAsJsonAsync("api/containers", Spec("red-on-blue") with { SwitchName = "blue-net" }, AgentProcess.Json)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await red.PostAsJsonAsync("api/containers", Spec("red-shared"), AgentProcess.Json)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await blue.PostAsJsonAsync("api/containers", Spec("blue-shared"), AgentProcess.Json)).StatusCode);
        var blueView = await blue.GetFromJsonAsync<SwitchInfo>($"api/switches/{Uri.EscapeDataString(shared.Name)}", AgentProcess.Json);
        Assert.Equal(["blue-shared"], blueView!.Containers.Select(c => c.ContainerName));

        Assert.Equal(HttpStatusCode.Forbidden, (await viewer.DeleteAsync("api/switches/blue-net")).StatusCode);
        var sharedRemove = await blue.DeleteAsync($"api/switches/{Uri.EscapeDataString(shared.Name)}");
        Assert.Equal(HttpStatusCode.Forbidden, sharedRemove.StatusCode);
        Assert.Contains("belongs to the administrators", await sharedRemove.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // The hub: the same rules.
        await using (var blueHub = await HubAsync(blueMemberKey.Secret, timeout.Token))
        await using (var redHub = await HubAsync(redKey.Secret, timeout.Token))
        {
            var hubMade = await blueHub.InvokeAsync<SwitchInfo>(nameof(IAgentHub.CreateSwitch), new SwitchCreateSpec { Name = "blue-hub", Type = SwitchType.Private }, timeout.Token);
            Assert.Equal("blue", hubMade.Team);
            Assert.DoesNotContain(await redHub.InvokeAsync<IReadOnlyList<SwitchInfo>>(nameof(IAgentHub.ListSwitches), timeout.Token), s => s.Team == "blue");
            var redRemove = await Assert.ThrowsAsync<HubException>(() => redHub.InvokeAsync(nameof(IAgentHub.RemoveSwitch), "blue-hub", timeout.Token));
            Assert.Contains("SwitchNotFound: No such switch: 'blue-hub'", redRemove.Message, StringComparison.Ordinal);
            var redJoin = await Assert.ThrowsAsync<HubException>(() => redHub.InvokeAsync<ContainerInfo>(nameof(IAgentHub.CreateContainer), Spec("red-hub-on-blue") with { SwitchName = "blue-hub" }, timeout.Token));
            Assert.Contains("SwitchNotFound", redJoin.Message, StringComparison.Ordinal);
            await blueHub.InvokeAsync(nameof(IAgentHub.RemoveSwitch), "blue-hub", timeout.Token);
        }

        // The owner is saved with the switch: it survives a restart of the agent.
        await Agent.KillAsync();
        await Agent.StartAsync();
        Assert.Equal("blue", (await blue.GetFromJsonAsync<SwitchInfo>("api/switches/blue-net", AgentProcess.Json))!.Team);
        Assert.Equal(HttpStatusCode.NotFound, (await red.GetAsync("api/switches/blue-net")).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await blue.DeleteAsync("api/containers/blue-on-net?force=true")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await blue.DeleteAsync("api/switches/blue-net")).StatusCode);

        var audit = (await admin.GetFromJsonAsync<AuditPage>("api/audit?limit=1000", AgentProcess.Json))!.Entries.Where(e => e.Action.StartsWith("switch.", StringComparison.Ordinal)).ToList();
        const string role = TeamRules.RoleRule, owner = TeamRules.OwnershipRule;
        Assert.Equal(
            [
                (AuditActions.SwitchCreate, AuditEntryPoint.Rest, "blue", AuditDecision.Allowed, null, "blue-net"),
                (AuditActions.SwitchCreate, AuditEntryPoint.Rest, "blue", AuditDecision.Denied, role, "viewer-net"),
                (AuditActions.SwitchRemove, AuditEntryPoint.Rest, "red", AuditDecision.Denied, owner, "blue-net"),
                (AuditActions.SwitchRemove, AuditEntryPoint.Rest, "blue", AuditDecision.Denied, role, "blue-net"),
                (AuditActions.SwitchRemove, AuditEntryPoint.Rest, "blue", AuditDecision.Denied, owner, shared.Name),
                (AuditActions.SwitchCreate, AuditEntryPoint.Hub, "blue", AuditDecision.Allowed, null, "blue-hub"),
                (AuditActions.SwitchRemove, AuditEntryPoint.Hub, "red", AuditDecision.Denied, owner, "blue-hub"),
                (AuditActions.SwitchRemove, AuditEntryPoint.Hub, "blue", AuditDecision.Allowed, null, "blue-hub"),
                (AuditActions.SwitchRemove, AuditEntryPoint.Rest, "blue", AuditDecision.Allowed, null, "blue-net"),
            ],
            audit.Select(e => (e.Action, e.EntryPoint, e.Team!, e.Decision, e.Rule, e.Target!.Name!)));
        var redSwitch = audit[2];
        Assert.Equal("Switch 'blue-net' belongs to team 'blue'; the caller was told that no such switch exists.", redSwitch.Reason);

        // Red's containers on blue's switches: denied and recorded with the container they would have been.
        var redCreates = (await admin.GetFromJsonAsync<AuditPage>($"api/audit?action={AuditActions.ContainerCreate}&decision=Denied", AgentProcess.Json))!.Entries;
        Assert.Equal([("red-on-blue", AuditEntryPoint.Rest), ("red-hub-on-blue", AuditEntryPoint.Hub)], redCreates.Select(e => (e.Target!.Name!, e.EntryPoint)));
        Assert.All(redCreates, e => Assert.Equal(("red", owner), (e.Team, e.Rule)));
        await RemoveAllAsync(admin);
    }

    [RootFact]
    public async Task A_team_s_image_import_is_its_own_and_another_team_cannot_see_use_or_remove_it()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        using var admin = Agent.TcpWithKey(Agent.AdminKey!);
        await PutTeamsAsync(admin);
        using var blue = Agent.TcpWithKey((await TeamKeyAsync(admin, "blue-member", "blue", TeamRole.Member)).Secret);
        using var viewer = Agent.TcpWithKey((await TeamKeyAsync(admin, "blue-viewer", "blue", TeamRole.Viewer)).Secret);
        var redKey = await TeamKeyAsync(admin, "red-member", "red", TeamRole.Member);
        using var red = Agent.TcpWithKey(redKey.Secret);

        var imported = await blue.PostAsync("api/images", Archive("blue/app:1", "blue's app\n"));
        Assert.Equal(HttpStatusCode.Created, imported.StatusCode);
        var image = Assert.Single((await imported.Content.ReadFromJsonAsync<ImageInfo[]>(AgentProcess.Json))!);
        Assert.Equal(["blue"], image.Teams);
        Assert.Equal(HttpStatusCode.Forbidden, (await viewer.PostAsync("api/images", Archive("blue/viewer:1", "viewer\n"))).StatusCode);

        // Blue lists its import and the administrators' busybox; red lists only busybox.
        Assert.Contains((await viewer.GetFromJsonAsync<ImageInfo[]>("api/images", AgentProcess.Json))!, i => i.Id == image.Id);
        var redImages = (await red.GetFromJsonAsync<ImageInfo[]>("api/images", AgentProcess.Json))!;
        Assert.DoesNotContain(redImages, i => i.Id == image.Id);
        Assert.All(redImages, i => Assert.Empty(i.Teams));

        // Red cannot use, tag or remove it: "not found", by name and by id; nor over the hub.
        foreach (var reference in new[] { "blue/app:1", image.Id })
        {
            var create = await red.PostAsJsonAsync("api/containers", Spec("red-steals") with { Image = reference }, AgentProcess.Json);
            Assert.Equal(HttpStatusCode.NotFound, create.StatusCode);
            Assert.Contains("ImageNotFound", await create.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await red.DeleteAsync("api/images/blue/app:1")).StatusCode);
        await using (var redHub = await HubAsync(redKey.Secret, timeout.Token))
        {
            var hubCreate = await Assert.ThrowsAsync<HubException>(() => redHub.InvokeAsync<ContainerInfo>(nameof(IAgentHub.CreateContainer), Spec("red-hub-steals") with { Image = "blue/app:1" }, timeout.Token));
            Assert.Contains("ImageNotFound", hubCreate.Message, StringComparison.Ordinal);
        }

        // Blue uses it; it may not remove the administrators' busybox.
        Assert.Equal(HttpStatusCode.Created, (await blue.PostAsJsonAsync("api/containers", Spec("blue-app") with { Image = "blue/app:1" }, AgentProcess.Json)).StatusCode);
        var busybox = await blue.DeleteAsync("api/images/busybox");
        Assert.Equal(HttpStatusCode.Forbidden, busybox.StatusCode);
        Assert.Contains("belongs to the administrators", await busybox.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // Red importing the same image owns it too; blue removing it then only lets go, and red's container keeps it.
        Assert.Equal(HttpStatusCode.Created, (await red.PostAsync("api/images", Archive("blue/app:1", "blue's app\n"))).StatusCode);
        Assert.Equal(["red"], (await red.GetFromJsonAsync<ImageInfo[]>("api/images", AgentProcess.Json))!.Single(i => i.Id == image.Id).Teams);
        Assert.Equal(HttpStatusCode.Created, (await red.PostAsJsonAsync("api/containers", Spec("red-app") with { Image = image.Id }, AgentProcess.Json)).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await blue.DeleteAsync("api/containers/blue-app")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await blue.DeleteAsync($"api/images/{image.Id}")).StatusCode);
        Assert.DoesNotContain((await blue.GetFromJsonAsync<ImageInfo[]>("api/images", AgentProcess.Json))!, i => i.Id == image.Id);
        Assert.Equal(["red"], (await admin.GetFromJsonAsync<ImageInfo[]>("api/images", AgentProcess.Json))!.Single(i => i.Id == image.Id).Teams);
        var inUse = await red.DeleteAsync($"api/images/{image.Id}");
        Assert.Equal(HttpStatusCode.Conflict, inUse.StatusCode);
        Assert.Contains("'red-app'", await inUse.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var audit = (await admin.GetFromJsonAsync<AuditPage>("api/audit?limit=1000", AgentProcess.Json))!.Entries.Where(e => e.Action.StartsWith("image.", StringComparison.Ordinal)).ToList();
        Assert.Equal(
            [
                ("blue", AuditActions.ImageImport, AuditDecision.Allowed, null, AuditResult.Ok),
                ("blue", AuditActions.ImageImport, AuditDecision.Denied, TeamRules.RoleRule, AuditResult.NotRun),
                ("red", AuditActions.ImageRemove, AuditDecision.Denied, TeamRules.OwnershipRule, AuditResult.NotRun),
                ("blue", AuditActions.ImageRemove, AuditDecision.Denied, TeamRules.OwnershipRule, AuditResult.NotRun),
                ("red", AuditActions.ImageImport, AuditDecision.Allowed, null, AuditResult.Ok),
                ("blue", AuditActions.ImageRemove, AuditDecision.Allowed, null, AuditResult.Ok),
                ("red", AuditActions.ImageRemove, AuditDecision.Allowed, null, AuditResult.Failed),
            ],
            audit.Select(e => (e.Team!, e.Action, e.Decision, e.Rule, e.Result)));
        Assert.Equal(image.Id, audit[2].Target!.Id);
        var steals = (await admin.GetFromJsonAsync<AuditPage>($"api/audit?action={AuditActions.ContainerCreate}&decision=Denied", AgentProcess.Json))!.Entries;
        Assert.Equal(["red-steals", "red-steals", "red-hub-steals"], steals.Select(e => e.Target!.Name!));
        Assert.All(steals, e => Assert.Equal(("red", TeamRules.OwnershipRule), (e.Team, e.Rule)));
        await RemoveAllAsync(admin);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"api/images/{image.Id}")).StatusCode);
    }

    private sealed record Problem(string Detail);

    private static ByteArrayContent Archive(string tag, string text)
    {
        var archive = new ByteArrayContent(DockerSaveArchive.Build(tag, text));
        archive.Headers.ContentType = new MediaTypeHeaderValue("application/x-tar");
        return archive;
    }

    private static ContainerCreateSpec Spec(string name) => new() { Name = name, Image = "busybox", Command = ["sleep", "300"] };

    private static async Task PutTeamsAsync(HttpClient admin)
    {
        var blue = new TeamInfo { Members = [new() { User = "mia", Role = TeamRole.Member }, new() { User = "vic", Role = TeamRole.Viewer }] };
        (await admin.PutAsJsonAsync("api/teams/blue", blue, AgentProcess.Json)).EnsureSuccessStatusCode();
        (await admin.PutAsJsonAsync("api/teams/red", new TeamInfo { Members = [new() { User = "rob", Role = TeamRole.Member }] }, AgentProcess.Json)).EnsureSuccessStatusCode();
    }

    private static Task<ApiKeyCreated> TeamKeyAsync(HttpClient admin, string name, string team, TeamRole role) =>
        CreateKeyAsync(admin, new ApiKeyRequest(name, ApiScope.Read, team, role));

    private static async Task RemoveAllAsync(HttpClient admin)
    {
        foreach (var container in (await admin.GetFromJsonAsync<List<ContainerView>>("api/containers", AgentProcess.Json))!)
        {
            (await admin.DeleteAsync($"api/containers/{container.Container.Id}?force=true")).EnsureSuccessStatusCode();
        }
    }
}
