using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Portal.Agent.Auth;
using Portal.Client;
using Portal.Compute.Audit;
using Portal.Compute.Teams;
using Portal.Contracts;
using Portal.Contracts.Hub;
using Portal.Tests.Shared;

namespace Portal.Agent.Tests.Teams;

/// <summary>
/// Teams enforced by the real agent, through REST and the hub, with team keys and with an administrator key acting for
/// a team member: a Viewer cannot create, an Operator cannot remove, a Member of one team cannot see or touch another
/// team's containers (lists, gets, logs, exec, events), and every refusal is in the audit trail with its rule and reason.
/// Process isolation only: quick.
/// </summary>
[Trait("Requires", "root")]
public sealed class TeamEnforcementTests : RunningAgent
{
    [RootFact]
    public async Task Rest_team_keys_and_an_admin_acting_for_a_member_are_held_to_the_team_s_roles_and_containers()
    {
        using var admin = Agent.TcpWithKey(Agent.AdminKey!);
        await PutTeamsAsync(admin);
        using var viewer = Agent.TcpWithKey((await TeamKeyAsync(admin, "blue-viewer", "blue", TeamRole.Viewer)).Secret);
        using var operate = Agent.TcpWithKey((await TeamKeyAsync(admin, "blue-operator", "blue", TeamRole.Operator)).Secret);
        using var member = Agent.TcpWithKey((await TeamKeyAsync(admin, "blue-member", "blue", TeamRole.Member)).Secret);
        using var red = Agent.TcpWithKey((await TeamKeyAsync(admin, "red-member", "red", TeamRole.Member)).Secret);

        var refused = await viewer.PostAsJsonAsync("api/containers", Spec("viewer-made"), AgentProcess.Json);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("is Viewer", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var created = await member.PostAsJsonAsync("api/containers", Spec("blue-web"), AgentProcess.Json);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await admin.PostAsJsonAsync("api/containers", Spec("admins-web"), AgentProcess.Json)).StatusCode);
        var blue = await admin.GetFromJsonAsync<ContainerView>("api/containers/blue-web", AgentProcess.Json);
        Assert.Equal("blue", blue!.Container.Labels[TeamRules.OwnerLabel]);
        Assert.DoesNotContain(TeamRules.OwnerLabel, (await admin.GetFromJsonAsync<ContainerView>("api/containers/admins-web", AgentProcess.Json))!.Container.Labels.Keys);

        // The Operator runs it but cannot remove it; the Viewer reads it and its logs.
        Assert.Equal(HttpStatusCode.OK, (await operate.PostAsync("api/containers/blue-web/start", null)).StatusCode);
        var exec = await operate.PostAsJsonAsync("api/containers/blue-web/exec", new ExecStart { Command = ["echo", "hi"] }, AgentProcess.Json);
        Assert.Equal(HttpStatusCode.OK, exec.StatusCode);
        var remove = await operate.DeleteAsync("api/containers/blue-web?force=true");
        Assert.Equal(HttpStatusCode.Forbidden, remove.StatusCode);
        Assert.Contains("container.remove needs the Member role", await remove.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(["blue-web"], (await viewer.GetFromJsonAsync<List<ContainerView>>("api/containers", AgentProcess.Json))!.Select(c => c.Container.Name));
        Assert.Equal(HttpStatusCode.OK, (await viewer.GetAsync("api/containers/blue-web/logs")).StatusCode);

        // The owner is kept in the container's record: it survives a restart of the agent.
        await Agent.KillAsync();
        await Agent.StartAsync();
        Assert.Equal(["blue-web"], (await viewer.GetFromJsonAsync<List<ContainerView>>("api/containers", AgentProcess.Json))!.Select(c => c.Container.Name));

        // Team red does not see team blue's container anywhere: "not found", as if it did not exist.
        Assert.Empty((await red.GetFromJsonAsync<List<ContainerView>>("api/containers", AgentProcess.Json))!);
        foreach (var request in new Func<Task<HttpResponseMessage>>[]
                 {
                     () => red.GetAsync("api/containers/blue-web"),
                     () => red.GetAsync("api/containers/blue-web/logs"),
                     () => red.PostAsJsonAsync("api/containers/blue-web/exec", new ExecStart { Command = ["true"] }, AgentProcess.Json),
                     () => red.PostAsync("api/containers/blue-web/stop", null),
                     () => red.DeleteAsync("api/containers/blue-web?force=true"),
                     () => red.GetAsync("api/containers/admins-web"),
                 })
        {
            var response = await request();
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.DoesNotContain("blue", (await response.Content.ReadAsStringAsync()).Replace("blue-web", "", StringComparison.Ordinal), StringComparison.Ordinal);
        }

        // The administrator key acting for a member gets that member's role and team, and no more.
        using (var actingViewer = ActingFor(admin, "blue", "vic"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await actingViewer.PostAsJsonAsync("api/containers", Spec("acting-made"), AgentProcess.Json)).StatusCode);
            Assert.Equal(["blue-web"], (await actingViewer.GetFromJsonAsync<List<ContainerView>>("api/containers", AgentProcess.Json))!.Select(c => c.Container.Name));
            Assert.Equal(HttpStatusCode.Forbidden, (await actingViewer.GetAsync("api/keys")).StatusCode);
        }

        using (var actingRed = ActingFor(admin, "red", "rob"))
        {
            Assert.Equal(HttpStatusCode.NotFound, (await actingRed.GetAsync("api/containers/blue-web")).StatusCode);
        }

        using (var notMember = ActingFor(admin, "blue", "rob"))
        {
            var response = await notMember.GetAsync("api/containers");
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Contains("User 'rob' is not a member of team 'blue'", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var unknownTeam = ActingFor(admin, "green", "vic"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, (await unknownTeam.GetAsync("api/containers")).StatusCode);
        }

        using (var teamOnly = Agent.TcpWithKey(Agent.AdminKey!))
        {
            teamOnly.DefaultRequestHeaders.Add(TeamCallers.TeamHeader, "blue");
            Assert.Equal(HttpStatusCode.BadRequest, (await teamOnly.GetAsync("api/containers")).StatusCode);
        }

        using (var redActing = ActingFor(red, "blue", "vic"))
        {
            var response = await redActing.GetAsync("api/containers");
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Contains("only an administrator key may act for a team", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.NoContent, (await member.DeleteAsync("api/containers/blue-web?force=true")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("api/containers/admins-web?force=true")).StatusCode);

        var denied = (await admin.GetFromJsonAsync<AuditPage>("api/audit?decision=Denied&limit=1000", AgentProcess.Json))!.Entries;
        var viewerCreate = Assert.Single(denied, e => e.Action == AuditActions.ContainerCreate && e.Target?.Name == "viewer-made");
        Assert.Equal(("blue", TeamRules.RoleRule, AuditResult.NotRun, AuditEntryPoint.Rest), (viewerCreate.Team, viewerCreate.Rule, viewerCreate.Result, viewerCreate.EntryPoint));
        Assert.Contains("is Viewer", viewerCreate.Reason, StringComparison.Ordinal);
        var operatorRemove = Assert.Single(denied, e => e.Action == AuditActions.ContainerRemove);
        Assert.Equal(("blue", TeamRules.RoleRule, "blue-web"), (operatorRemove.Team, operatorRemove.Rule, operatorRemove.Target?.Name));
        var acting = Assert.Single(denied, e => e.Target?.Name == "acting-made");
        Assert.Equal(("blue", "vic", TeamRules.RoleRule), (acting.Team, acting.User, acting.Rule));
        Assert.Equal(4, denied.Count(e => e.Action == AuditActions.ActFor));
        Assert.Single(denied, e => e.Action == AuditActions.KeyList && e.User == "vic");

        var allowed = (await admin.GetFromJsonAsync<AuditPage>($"api/audit?action={AuditActions.ContainerCreate}&decision=Allowed", AgentProcess.Json))!.Entries;
        Assert.Equal("blue", Assert.Single(allowed, e => e.Target?.Name == "blue-web").Team);
        Assert.Null(Assert.Single(allowed, e => e.Target?.Name == "admins-web").Team);
    }

    [RootFact]
    public async Task Hub_team_callers_get_only_their_team_s_containers_and_events_and_their_role_s_actions()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        using var admin = Agent.TcpWithKey(Agent.AdminKey!);
        await PutTeamsAsync(admin);
        var redKey = await TeamKeyAsync(admin, "red-member", "red", TeamRole.Member);
        var blueOperatorKey = await TeamKeyAsync(admin, "blue-operator", "blue", TeamRole.Operator);

        await using var red = new AgentClient(new AgentEndpoint { BaseAddress = Agent.Tcp.BaseAddress!, ApiKey = redKey.Secret });
        await red.ConnectAsync(timeout.Token);
        var redEvents = red.SubscribeEventsAsync(timeout.Token).GetAsyncEnumerator(timeout.Token);
        var first = redEvents.MoveNextAsync().AsTask();

        // The administrator acts for blue's Member over the hub: the team and user are named at connect.
        await using var actingMember = await ActingHubAsync("blue", "mia", timeout.Token);
        await using var actingViewer = await ActingHubAsync("blue", "vic", timeout.Token);
        var viewerCreate = await Assert.ThrowsAsync<HubException>(() => actingViewer.InvokeAsync<ContainerInfo>(nameof(IAgentHub.CreateContainer), Spec("hub-viewer-made"), timeout.Token));
        Assert.Contains("is Viewer", viewerCreate.Message, StringComparison.Ordinal);
        var blue = await actingMember.InvokeAsync<ContainerInfo>(nameof(IAgentHub.CreateContainer), Spec("hub-blue"), timeout.Token);
        Assert.Equal("blue", blue.Labels[TeamRules.OwnerLabel]);
        var redOwn = await red.CreateContainerAsync(Spec("hub-red"), timeout.Token);

        // Red's event stream skipped blue's create: its first event is its own.
        Assert.True(await first);
        Assert.Equal("hub-red", redEvents.Current.Container.Name);
        Assert.Equal(["hub-red"], (await red.ListContainersAsync(timeout.Token)).Select(c => c.Container.Name));
        var snapshot = red.SubscribeContainersAsync(timeout.Token).GetAsyncEnumerator(timeout.Token);
        Assert.True(await snapshot.MoveNextAsync());
        Assert.Equal(["hub-red"], snapshot.Current.Changes.Select(c => c.Item!.Container.Name));
        await snapshot.DisposeAsync();

        var get = await Assert.ThrowsAsync<AgentException>(() => red.GetContainerAsync("hub-blue", timeout.Token));
        Assert.Equal("ContainerNotFound", get.Code);
        var start = await Assert.ThrowsAsync<AgentException>(() => red.StartContainerAsync("hub-blue", timeout.Token));
        Assert.Equal("ContainerNotFound", start.Code);
        var exec = await Assert.ThrowsAsync<AgentException>(async () =>
        {
            await foreach (var _ in red.ExecAsync("hub-blue", new ExecStart { Command = ["true"] }, NoInput(), timeout.Token))
            {
            }
        });
        Assert.Equal("ContainerNotFound", exec.Code);
        var logs = await Assert.ThrowsAsync<AgentException>(async () =>
        {
            await foreach (var _ in red.LogsAsync("hub-blue", null, false, timeout.Token))
            {
            }
        });
        Assert.Equal("ContainerNotFound", logs.Code);

        await using (var blueOperator = new AgentClient(new AgentEndpoint { BaseAddress = Agent.Tcp.BaseAddress!, ApiKey = blueOperatorKey.Secret }))
        {
            await blueOperator.ConnectAsync(timeout.Token);
            await blueOperator.StartContainerAsync("hub-blue", timeout.Token);
            var remove = await Assert.ThrowsAsync<AgentException>(() => blueOperator.RemoveContainerAsync("hub-blue", force: true, timeout.Token));
            Assert.Equal("Forbidden", remove.Code);
        }

        await actingMember.InvokeAsync(nameof(IAgentHub.RemoveContainer), "hub-blue", true, timeout.Token);
        await red.RemoveContainerAsync(redOwn.Id, force: true, timeout.Token);
        await redEvents.DisposeAsync();

        var denied = (await admin.GetFromJsonAsync<AuditPage>("api/audit?decision=Denied&limit=1000", AgentProcess.Json))!.Entries;
        var refusedCreate = Assert.Single(denied, e => e.Target?.Name == "hub-viewer-made");
        Assert.Equal((AuditEntryPoint.Hub, "blue", "vic", TeamRules.RoleRule), (refusedCreate.EntryPoint, refusedCreate.Team, refusedCreate.User, refusedCreate.Rule));
        var refusedRemove = Assert.Single(denied, e => e.Action == AuditActions.ContainerRemove);
        Assert.Equal((AuditEntryPoint.Hub, "blue", blueOperatorKey.Key.Id), (refusedRemove.EntryPoint, refusedRemove.Team, refusedRemove.Actor.KeyId));
        var removed = (await admin.GetFromJsonAsync<AuditPage>($"api/audit?action={AuditActions.ContainerRemove}&decision=Allowed", AgentProcess.Json))!.Entries;
        Assert.Equal(("blue", "mia"), (Assert.Single(removed, e => e.Target?.Name == "hub-blue").Team, Assert.Single(removed, e => e.Target?.Name == "hub-blue").User));
    }

    [RootFact]
    public async Task Open_hub_connections_end_when_their_team_goes_or_their_member_leaves_or_changes_role()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        using var admin = Agent.TcpWithKey(Agent.AdminKey!);
        await PutTeamsAsync(admin);
        var redKey = await TeamKeyAsync(admin, "red-member", "red", TeamRole.Member);
        await using var mia = await ActingHubAsync("blue", "mia", timeout.Token);
        await using var vic = await ActingHubAsync("blue", "vic", timeout.Token);
        await using var red = await HubAsync(redKey.Secret, timeout.Token);
        var (miaClosed, vicClosed, redClosed) = (Closed(mia), Closed(vic), Closed(red));

        // A change to someone else ends nothing.
        var blue = (await admin.GetFromJsonAsync<TeamInfo>("api/teams/blue", AgentProcess.Json))!;
        (await admin.PutAsJsonAsync("api/teams/blue", blue with { Members = [.. blue.Members, new() { User = "neo", Role = TeamRole.Viewer }] }, AgentProcess.Json)).EnsureSuccessStatusCode();
        Assert.NotNull(await mia.InvokeAsync<IReadOnlyList<SwitchInfo>>(nameof(IAgentHub.ListSwitches), timeout.Token));

        // Demoted to Viewer, mia's connection (admitted as a Member) ends; connected again, she is a Viewer.
        (await admin.PutAsJsonAsync("api/teams/blue", blue with { Members = [.. blue.Members.Select(m => m.User == "mia" ? m with { Role = TeamRole.Viewer } : m)] }, AgentProcess.Json))
            .EnsureSuccessStatusCode();
        await miaClosed.WaitAsync(TimeSpan.FromSeconds(30), timeout.Token);
        await using (var again = await ActingHubAsync("blue", "mia", timeout.Token))
        {
            var refused = await Assert.ThrowsAsync<HubException>(() => again.InvokeAsync<ContainerInfo>(nameof(IAgentHub.CreateContainer), Spec("hub-demoted"), timeout.Token));
            Assert.Contains("is Viewer", refused.Message, StringComparison.Ordinal);
        }

        // The team key's connection ends with its team; vic's, untouched, runs on.
        Assert.Equal(HttpStatusCode.OK, (await admin.DeleteAsync("api/teams/red")).StatusCode);
        await redClosed.WaitAsync(TimeSpan.FromSeconds(30), timeout.Token);
        Assert.False(vicClosed.IsCompleted);
        Assert.Equal(HubConnectionState.Connected, vic.State);
        Assert.NotNull(await vic.InvokeAsync<IReadOnlyList<SwitchInfo>>(nameof(IAgentHub.ListSwitches), timeout.Token));
    }

    [RootFact]
    public async Task Teams_are_managed_by_administrators_only_and_bad_input_is_a_clear_400()
    {
        using var admin = Agent.TcpWithKey(Agent.AdminKey!);
        await PutTeamsAsync(admin);
        var blue = await admin.GetFromJsonAsync<TeamInfo>("api/teams/blue", AgentProcess.Json);
        Assert.Equal(TeamRole.Owner, Assert.Single(blue!.Members, m => m.User == "ann").Role);
        Assert.Equal(["blue", "red"], (await admin.GetFromJsonAsync<List<TeamInfo>>("api/teams", AgentProcess.Json))!.Select(t => t.Name));

        async Task<string> BadAsync(HttpResponseMessage response)
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            return await response.Content.ReadAsStringAsync();
        }

        Assert.Contains("not valid", await BadAsync(await admin.PutAsJsonAsync("api/teams/Blue%20Team", new TeamInfo(), AgentProcess.Json)), StringComparison.Ordinal);
        Assert.Contains("listed twice", await BadAsync(await admin.PutAsJsonAsync("api/teams/green",
            new TeamInfo { Members = [new() { User = "a", Role = TeamRole.Owner }, new() { User = "a", Role = TeamRole.Viewer }] }, AgentProcess.Json)), StringComparison.Ordinal);
        Assert.Contains("but the path names", await BadAsync(await admin.PutAsJsonAsync("api/teams/green", new TeamInfo { Name = "blue" }, AgentProcess.Json)), StringComparison.Ordinal);
        Assert.Contains("needs both a team and a role", await BadAsync(await admin.PostAsJsonAsync("api/keys", new ApiKeyRequest("half", ApiScope.Read, "blue"), AgentProcess.Json)), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.PostAsJsonAsync("api/keys", new ApiKeyRequest("ghost", ApiScope.Read, "green", TeamRole.Viewer), AgentProcess.Json)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("api/teams/green")).StatusCode);

        // A team key never manages teams or keys, whatever its role; and its scope follows its role, never Admin.
        var owner = await TeamKeyAsync(admin, "blue-owner", "blue", TeamRole.Owner);
        Assert.Equal(ApiScope.Operate, owner.Key.Scope);
        using var ownerClient = Agent.TcpWithKey(owner.Secret);
        Assert.Equal(HttpStatusCode.Forbidden, (await ownerClient.PutAsJsonAsync("api/teams/blue", new TeamInfo(), AgentProcess.Json)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await ownerClient.GetAsync("api/keys")).StatusCode);

        // Removing a team revokes its keys; the agent's copy survives a restart of the store file.
        Assert.Equal(HttpStatusCode.OK, (await admin.DeleteAsync("api/teams/blue")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await ownerClient.GetAsync("api/containers")).StatusCode);
        Assert.NotNull((await admin.GetFromJsonAsync<List<ApiKeyInfo>>("api/keys", AgentProcess.Json))!.Single(k => k.Id == owner.Key.Id).RevokedAt);
        Assert.Equal(["red"], new TeamStore(Sandbox.Options.StateRoot).List().Select(t => t.Name));

        // A team made again under that name is not the old one: the removed team's key stays out of it.
        await PutTeamsAsync(admin);
        Assert.Equal(HttpStatusCode.Unauthorized, (await ownerClient.GetAsync("api/containers")).StatusCode);
    }

    private static ContainerCreateSpec Spec(string name) => new() { Name = name, Image = "busybox", Command = ["sleep", "300"] };

    private static async Task PutTeamsAsync(HttpClient admin)
    {
        var blue = new TeamInfo
        {
            Members =
            [
                new() { User = "ann", Role = TeamRole.Owner }, new() { User = "mia", Role = TeamRole.Member },
                new() { User = "otto", Role = TeamRole.Operator }, new() { User = "vic", Role = TeamRole.Viewer },
            ],
        };
        (await admin.PutAsJsonAsync("api/teams/blue", blue, AgentProcess.Json)).EnsureSuccessStatusCode();
        (await admin.PutAsJsonAsync("api/teams/red", new TeamInfo { Members = [new() { User = "rob", Role = TeamRole.Member }] }, AgentProcess.Json)).EnsureSuccessStatusCode();
    }

    private static Task<ApiKeyCreated> TeamKeyAsync(HttpClient admin, string name, string team, TeamRole role) =>
        CreateKeyAsync(admin, new ApiKeyRequest(name, ApiScope.Read, team, role));

    /// <summary>A client sending the key of <paramref name="key"/> and naming a team and user on each call.</summary>
    private static HttpClient ActingFor(HttpClient key, string team, string user)
    {
        var client = new HttpClient { BaseAddress = key.BaseAddress };
        client.DefaultRequestHeaders.Authorization = key.DefaultRequestHeaders.Authorization;
        client.DefaultRequestHeaders.Add(TeamCallers.TeamHeader, team);
        client.DefaultRequestHeaders.Add(TeamCallers.UserHeader, user);
        return client;
    }

    private async Task<HubConnection> ActingHubAsync(string team, string user, CancellationToken ct)
    {
        var connection = new HubConnectionBuilder()
            .WithUrl(new Uri(Agent.Tcp.BaseAddress!, $"hubs/agent?{TeamCallers.TeamQuery}={team}&{TeamCallers.UserQuery}={user}"),
                o => o.AccessTokenProvider = () => Task.FromResult<string?>(Agent.AdminKey))
            .AddJsonProtocol(o => o.PayloadSerializerOptions.Converters.Add(new JsonStringEnumConverter()))
            .Build();
        await connection.StartAsync(ct);
        return connection;
    }

    /// <summary>Completes when the connection closes (the server ended it).</summary>
    private static Task Closed(HubConnection connection)
    {
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.Closed += _ =>
        {
            closed.TrySetResult();
            return Task.CompletedTask;
        };
        return closed.Task;
    }

    private static async IAsyncEnumerable<ProcessInput> NoInput()
    {
        await Task.CompletedTask;
        yield break;
    }
}
