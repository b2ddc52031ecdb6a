using System.Net.Http.Json;
using Portal.Client;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Agent.Tests;

/// <summary>
/// The hub's PullImage against the real agent and a real registry that wants a login (Distribution with htpasswd): the
/// steps stream, the image is the pulling team's, a Viewer may not pull, and each attempt is in the audit trail.
/// </summary>
[Trait("Requires", "root")]
public sealed class ImagePullHubTests : RunningAgent
{
    [RootFact]
    public async Task A_members_pull_streams_its_steps_and_gives_the_team_the_image_while_a_viewer_is_refused()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await using var registry = await RegistryServer.StartAsync(RegistryAuth.Htpasswd);
        var layout = Path.Combine(Sandbox.PrivateRoot, "layout");
        var id = TestImages.WriteBusyboxLayout(layout, "pulled over the hub\n");
        await registry.PushAsync(layout, "team/hub:1");
        using var admin = Agent.TcpWithKey(Agent.AdminKey!);
        var team = new TeamInfo { Members = [new() { User = "mia", Role = TeamRole.Member }, new() { User = "vic", Role = TeamRole.Viewer }] };
        (await admin.PutAsJsonAsync("api/teams/blue", team, AgentProcess.Json)).EnsureSuccessStatusCode();
        var request = new ImagePullRequest { Reference = $"{registry.Address}/team/hub:1", Username = RegistryServer.User, Password = RegistryServer.Password };

        await using (var viewer = new AgentClient(new AgentEndpoint { BaseAddress = Agent.Tcp.BaseAddress!, ApiKey = (await KeyAsync(admin, "blue-viewer", TeamRole.Viewer)).Secret }))
        {
            await viewer.ConnectAsync(timeout.Token);
            var refused = await Assert.ThrowsAsync<AgentException>(() => viewer.PullImageAsync(request, null, timeout.Token));
            Assert.Contains("Viewer", refused.Message, StringComparison.Ordinal);
        }

        await using var member = new AgentClient(new AgentEndpoint { BaseAddress = Agent.Tcp.BaseAddress!, ApiKey = (await KeyAsync(admin, "blue-member", TeamRole.Member)).Secret });
        await member.ConnectAsync(timeout.Token);
        var steps = new List<ImagePullUpdate>();
        var image = await member.PullImageAsync(request, new SynchronousProgress(steps), timeout.Token);

        Assert.Equal(id, image.Id);
        Assert.Equal([request.Reference], image.Tags);
        Assert.Equal(["blue"], image.Teams);
        Assert.StartsWith($"{registry.Address}/team/hub@sha256:", Assert.Single(image.RepoDigests), StringComparison.Ordinal);
        Assert.Contains(steps, s => s.Status == "Download complete" && s.Layer is { Length: 12 });
        Assert.Contains(steps, s => s.Status.StartsWith("Status: Downloaded newer image", StringComparison.Ordinal));

        var wrong = await Assert.ThrowsAsync<AgentException>(() => member.PullImageAsync(request with { Password = "not-the-password" }, null, timeout.Token));
        Assert.Contains($"'{RegistryServer.User}'", wrong.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("not-the-password", wrong.Message, StringComparison.Ordinal);

        var audit = (await admin.GetFromJsonAsync<AuditPage>("api/audit?action=image.pull&limit=100", AgentProcess.Json))!.Entries;
        Assert.Contains(audit, e => e.Decision == AuditDecision.Allowed && e.Team == "blue" && e.Target?.Id == id);
        Assert.Contains(audit, e => e.Decision == AuditDecision.Denied && e.Team == "blue");
    }

    private static Task<ApiKeyCreated> KeyAsync(HttpClient admin, string name, TeamRole role) =>
        CreateKeyAsync(admin, new ApiKeyRequest(name, ApiScope.Read, "blue", role));

    private sealed class SynchronousProgress(List<ImagePullUpdate> steps) : IProgress<ImagePullUpdate>
    {
        public void Report(ImagePullUpdate value)
        {
            lock (steps)
            {
                steps.Add(value);
            }
        }
    }
}
