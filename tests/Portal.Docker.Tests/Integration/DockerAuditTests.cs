using Portal.Compute.Audit;
using Portal.Contracts;

namespace Portal.Docker.Tests.Integration;

/// <summary>
/// The docker socket is an entry point of the audit trail like the agent's own: the real docker CLI's create, start and
/// removals each leave exactly one entry naming the socket's peer (root) and the docker entry point, a removal the
/// engine refuses (running, no force) is recorded as failed, and docker's --rm auto-removal names the agent.
/// </summary>
[Trait("Requires", "root")]
public sealed class DockerAuditTests(DockerAgentFixture fixture) : IClassFixture<DockerAgentFixture>
{
    private DockerAgent Agent => fixture.Agent;

    [RootFact]
    public async Task Docker_cli_actions_and_a_refused_removal_each_leave_one_entry_by_the_socket_peer()
    {
        var name = "audit-docker-" + Guid.NewGuid().ToString("N")[..8];
        var create = await Agent.DockerAsync("create", "--isolation=process", "--name", name, "busybox", "sleep", "120");
        Assert.True(create.ExitCode == 0, create.ToString());
        var id = create.Stdout.Trim();
        var start = await Agent.DockerAsync("start", name);
        Assert.True(start.ExitCode == 0, start.ToString());
        var refused = await Agent.DockerAsync("rm", name);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("container is running", refused.Stderr, StringComparison.Ordinal);
        var removed = await Agent.DockerAsync("rm", "-f", name);
        Assert.True(removed.ExitCode == 0, removed.ToString());

        var entries = (await Agent.Agent.GetAsync<AuditPage>($"api/audit?target={name}")).Entries;
        Assert.Equal([AuditActions.ContainerCreate, AuditActions.ContainerStart, AuditActions.ContainerRemove, AuditActions.ContainerRemove], entries.Select(e => e.Action));
        Assert.All(entries, e =>
        {
            Assert.Equal((AuditEntryPoint.Docker, AuditActorKind.DockerSocket, 0, AuditDecision.Allowed), (e.EntryPoint, e.Actor.Kind, e.Actor.Uid, e.Decision));
            Assert.Equal("root (uid 0) via the docker socket", e.Actor.Name);
            Assert.Equal("unix:" + Agent.SocketPath, e.Source);
            Assert.Equal(id, e.Target!.Id);
        });
        Assert.Equal(RuntimeType.Default, entries[0].RequestedIsolation);
        Assert.Equal((AuditResult.Ok, AuditResult.Ok, AuditResult.Failed, AuditResult.Ok), (entries[0].Result, entries[1].Result, entries[2].Result, entries[3].Result));
        Assert.StartsWith("InvalidTransition: ", entries[2].Error, StringComparison.Ordinal);
        Assert.Equal("true", entries[3].Details!["force"]);
    }

    [RootFact]
    public async Task Dockers_auto_removal_is_recorded_as_the_agents()
    {
        var name = "audit-rm-" + Guid.NewGuid().ToString("N")[..8];
        var run = await Agent.DockerAsync("run", "--rm", "--isolation=process", "--name", name, "busybox", "true");
        Assert.True(run.ExitCode == 0, run.ToString());

        // The CLI returns once the container is gone; its entry follows the removal.
        IReadOnlyList<AuditEntry> entries = [];
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && !entries.Any(e => e.Action == AuditActions.ContainerRemove))
        {
            entries = (await Agent.Agent.GetAsync<AuditPage>($"api/audit?target={name}")).Entries;
            await Task.Delay(50);
        }

        Assert.Equal([AuditActions.ContainerCreate, AuditActions.ContainerStart, AuditActions.ContainerRemove], entries.Select(e => e.Action));
        Assert.Equal(AuditActorKind.DockerSocket, entries[0].Actor.Kind);
        var remove = entries[2];
        Assert.Equal((AuditActorKind.Agent, "agent (docker --rm)", AuditEntryPoint.Docker, AuditResult.Ok), (remove.Actor.Kind, remove.Actor.Name, remove.EntryPoint, remove.Result));
    }
}
