using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Portal.Client;
using Portal.Compute.Audit;
using Portal.Contracts;
using Portal.Contracts.Hub;
using Portal.Tests.Shared;

namespace Portal.Agent.Tests;

/// <summary>
/// The audit trail through each of the agent's entry points, against the real agent: an action that runs, and one the
/// key's scope refuses, each leave exactly one entry naming the actor, the entry point and the decision; failed
/// sign-ins are recorded without secrets; admins read the trail with filters and follow it live on the hub.
/// Containers are only created (process isolation), started for an exec, and removed: quick.
/// </summary>
[Trait("Requires", "root")]
public sealed class AuditTrailTests : RunningAgent
{
    private const string PowerShellUserAgent = "Portal.PowerShell/1.0";

    [RootFact]
    public async Task Rest_actions_refusals_and_failed_sign_ins_each_leave_one_entry_without_secrets()
    {
        using var admin = Agent.TcpWithKey(Agent.AdminKey!);
        var operatorKey = await CreateKeyAsync(admin, "ci-audit", ApiScope.Operate);
        var readerKey = await CreateKeyAsync(admin, "viewer-audit", ApiScope.Read);
        using var operate = Agent.TcpWithKey(operatorKey.Secret);
        using var read = Agent.TcpWithKey(readerKey.Secret);

        var created = await (await operate.PostAsJsonAsync("api/containers", new ContainerCreateSpec { Name = "audited-rest", Image = "busybox" }, AgentProcess.Json))
            .Content.ReadFromJsonAsync<ContainerInfo>(AgentProcess.Json);
        Assert.Equal(HttpStatusCode.NoContent, (await operate.DeleteAsync("api/containers/audited-rest")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await read.PostAsJsonAsync("api/containers", new ContainerCreateSpec { Name = "refused-rest", Image = "busybox" }, AgentProcess.Json)).StatusCode);
        using var wrong = Agent.TcpWithKey("pk_0badc0de_not-a-real-secret-at-all-xyz");
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync("api/containers")).StatusCode);
        var spare = await CreateKeyAsync(admin, "spare-audit", ApiScope.Read);
        var rotated = (await (await admin.PostAsync($"api/keys/{spare.Key.Id}/rotate", null)).Content.ReadFromJsonAsync<ApiKeyCreated>(AgentProcess.Json))!;
        Assert.Equal(HttpStatusCode.OK, (await admin.DeleteAsync($"api/keys/{spare.Key.Id}")).StatusCode);

        var entries = await ReadAllAsync(admin);
        var keyChanges = entries.Where(e => e.Target?.Id == spare.Key.Id).ToList();
        Assert.Equal([AuditActions.KeyCreate, AuditActions.KeyRotate, AuditActions.KeyRevoke], keyChanges.Select(e => e.Action));
        Assert.All(keyChanges, e => Assert.Equal(("spare-audit", AuditResult.Ok), (e.Target!.Name, e.Result)));
        var create = Assert.Single(entries, e => e.Action == AuditActions.ContainerCreate && e.Target?.Name == "audited-rest");
        Assert.Equal((AuditActorKind.ApiKey, operatorKey.Key.Id, "ci-audit"), (create.Actor.Kind, create.Actor.KeyId, create.Actor.KeyName));
        Assert.Equal((AuditEntryPoint.Rest, AuditDecision.Allowed, AuditResult.Ok), (create.EntryPoint, create.Decision, create.Result));
        Assert.Equal(created!.Id, create.Target!.Id);
        Assert.Equal(("container", Environment.MachineName), (create.Target.Type, create.Target.Host));
        Assert.Null(create.RequestedIsolation);
        Assert.Equal(RuntimeType.Default, create.EffectiveIsolation);
        Assert.StartsWith("127.0.0.1:", create.Source, StringComparison.Ordinal);
        Assert.Null(create.Team);
        Assert.Equal("busybox", create.Details!["image"]);

        var remove = Assert.Single(entries, e => e.Action == AuditActions.ContainerRemove && e.Target?.Id == created.Id);
        Assert.Equal((operatorKey.Key.Id, AuditEntryPoint.Rest, AuditDecision.Allowed, AuditResult.Ok), (remove.Actor.KeyId, remove.EntryPoint, remove.Decision, remove.Result));
        Assert.True(remove.Sequence > create.Sequence);

        var denied = Assert.Single(entries, e => e.Decision == AuditDecision.Denied && e.Actor.KeyId == readerKey.Key.Id);
        Assert.Equal((AuditActions.ContainerCreate, "scope", AuditResult.NotRun, AuditEntryPoint.Rest), (denied.Action, denied.Rule, denied.Result, denied.EntryPoint));
        Assert.Contains("Operate", denied.Reason, StringComparison.Ordinal);

        var signIn = Assert.Single(entries, e => e.Action == AuditActions.SignIn);
        Assert.Equal((AuditActorKind.Anonymous, "0badc0de", AuditDecision.Denied, "authentication"), (signIn.Actor.Kind, signIn.Actor.KeyId, signIn.Decision, signIn.Rule));
        Assert.Single(entries, e => e.Action == AuditActions.KeyCreate && e.Target?.Id == operatorKey.Key.Id && e.Actor.KeyId == Agent.AdminKey!.Split('_')[1]);
        Assert.Equal(Enumerable.Range(1, entries.Count).Select(i => (long)i), entries.Select(e => e.Sequence));
        var firstKey = entries[0];
        Assert.Equal((AuditActions.KeyCreate, AuditActorKind.Agent, "agent (first start)", Agent.AdminKey!.Split('_')[1]),
            (firstKey.Action, firstKey.Actor.Kind, firstKey.Actor.Name, firstKey.Target!.Id));

        // Files: root's, 0640, and no secret in them (neither the keys handed out nor the one tried).
        var directory = Path.Combine(Sandbox.Options.StateRoot, "agent", "audit");
        var files = Directory.GetFiles(directory);
        Assert.NotEmpty(files);
        var text = string.Concat(files.Select(File.ReadAllText));
        foreach (var secret in new[] { operatorKey.Secret, readerKey.Secret, spare.Secret, rotated.Secret, Agent.AdminKey!, "not-a-real-secret-at-all-xyz" })
        {
            Assert.DoesNotContain(secret.Split('_', 3)[^1], text, StringComparison.Ordinal);
        }

        Assert.All(files, f => Assert.Equal(AuditLog.FileMode, File.GetUnixFileMode(f)));

        // Filters and incremental collection; only admins read the trail (a refused read is itself recorded).
        var mine = await admin.GetFromJsonAsync<AuditPage>("api/audit?action=container.create&actor=ci-audit", AgentProcess.Json);
        Assert.Equal(create.Sequence, Assert.Single(mine!.Entries).Sequence);
        var refusals = await admin.GetFromJsonAsync<AuditPage>("api/audit?decision=Denied&entryPoint=Rest", AgentProcess.Json);
        Assert.Equal(new[] { signIn.Sequence, denied.Sequence }.Order(), refusals!.Entries.Select(e => e.Sequence));
        var byTarget = await admin.GetFromJsonAsync<AuditPage>($"api/audit?target={created.Id[..12]}", AgentProcess.Json);
        Assert.Equal([create.Sequence, remove.Sequence], byTarget!.Entries.Select(e => e.Sequence));
        var paged = await admin.GetFromJsonAsync<AuditPage>("api/audit?limit=2", AgentProcess.Json);
        Assert.Equal(2, paged!.Entries.Count);
        Assert.Equal(2, paged.Next);
        var caughtUp = await admin.GetFromJsonAsync<AuditPage>($"api/audit?after={entries[^1].Sequence}", AgentProcess.Json);
        Assert.Empty(caughtUp!.Entries);
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.GetAsync("api/audit?limit=5000")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.GetAsync("api/audit?decision=Maybe")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await operate.GetAsync("api/audit")).StatusCode);
        var readRefused = await admin.GetFromJsonAsync<AuditPage>($"api/audit?action={AuditActions.AuditRead}", AgentProcess.Json);
        Assert.Equal(operatorKey.Key.Id, Assert.Single(readRefused!.Entries).Actor.KeyId);
    }

    [RootFact]
    public async Task Hub_actions_and_refusals_each_leave_one_entry_and_the_audit_stream_shows_them_live()
    {
        using var admin = Agent.TcpWithKey(Agent.AdminKey!);
        var operatorKey = await CreateKeyAsync(admin, "hub-operator", ApiScope.Operate);
        var readerKey = await CreateKeyAsync(admin, "hub-viewer", ApiScope.Read);

        await using var watcher = new HubConnectionBuilder()
            .WithUrl(new Uri(Agent.Tcp.BaseAddress!, "hubs/agent"), o => o.AccessTokenProvider = () => Task.FromResult<string?>(Agent.AdminKey))
            .AddJsonProtocol(o => o.PayloadSerializerOptions.Converters.Add(new JsonStringEnumConverter()))
            .Build();
        await watcher.StartAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        // From the start: the stream first replays what is there (the first admin key's creation at the agent's first
        // start, then the two keys above), then follows.
        var live = watcher.StreamAsync<AuditEntry>(nameof(IAgentHub.SubscribeAudit), 0L, timeout.Token).GetAsyncEnumerator(timeout.Token);

        await using (var operate = new AgentClient(new AgentEndpoint { BaseAddress = Agent.Tcp.BaseAddress!, ApiKey = operatorKey.Secret }))
        {
            await operate.ConnectAsync(timeout.Token);
            await operate.CreateContainerAsync(new ContainerCreateSpec { Name = "audited-hub", Image = "busybox", Command = ["sleep", "300"] }, timeout.Token);
            await operate.StartContainerAsync("audited-hub", timeout.Token);
            await foreach (var _ in operate.ExecAsync("audited-hub", new ExecStart { Command = ["true", "--secret-argument"] }, NoInput(), timeout.Token))
            {
            }

            await operate.RemoveContainerAsync("audited-hub", force: true, timeout.Token);
        }

        await using (var reader = new AgentClient(new AgentEndpoint { BaseAddress = Agent.Tcp.BaseAddress!, ApiKey = readerKey.Secret }))
        {
            await reader.ConnectAsync(timeout.Token);
            var refused = await Assert.ThrowsAsync<AgentException>(() => reader.CreateContainerAsync(new ContainerCreateSpec { Name = "refused-hub", Image = "busybox" }, timeout.Token));
            Assert.Equal("Forbidden", refused.Code);
        }

        var streamed = new List<AuditEntry>();
        while (!streamed.Any(e => e.Decision == AuditDecision.Denied) && await live.MoveNextAsync())
        {
            streamed.Add(live.Current);
        }

        Assert.Equal(
            [AuditActions.KeyCreate, AuditActions.KeyCreate, AuditActions.KeyCreate, AuditActions.ContainerCreate, AuditActions.ContainerStart, AuditActions.ContainerExec, AuditActions.ContainerRemove, AuditActions.ContainerCreate],
            streamed.Select(e => e.Action));
        Assert.Equal(Enumerable.Range(1, streamed.Count).Select(i => (long)i), streamed.Select(e => e.Sequence));

        var entries = await ReadAllAsync(admin);
        foreach (var action in new[] { AuditActions.ContainerCreate, AuditActions.ContainerStart, AuditActions.ContainerExec, AuditActions.ContainerRemove })
        {
            var entry = Assert.Single(entries, e => e.Action == action && e.Decision == AuditDecision.Allowed);
            Assert.Equal((AuditEntryPoint.Hub, operatorKey.Key.Id, AuditResult.Ok, "audited-hub"), (entry.EntryPoint, entry.Actor.KeyId, entry.Result, entry.Target?.Name));
        }

        var exec = Assert.Single(entries, e => e.Action == AuditActions.ContainerExec);
        Assert.Equal("true", exec.Details!["command"]);
        Assert.DoesNotContain(entries, e => e.Details?.Values.Any(v => v.Contains("secret-argument", StringComparison.Ordinal)) == true);

        var denied = Assert.Single(entries, e => e.Decision == AuditDecision.Denied);
        Assert.Equal((AuditActions.ContainerCreate, AuditEntryPoint.Hub, readerKey.Key.Id, "scope", "refused-hub"), (denied.Action, denied.EntryPoint, denied.Actor.KeyId, denied.Rule, denied.Target?.Name));
    }

    [RootFact]
    public async Task The_powershell_module_on_the_local_socket_is_recorded_as_powershell_by_the_peers_uid()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await using (var module = new AgentClient(AgentEndpoint.Socket(Agent.SocketPath), PowerShellUserAgent))
        {
            await module.ConnectAsync(timeout.Token);
            var created = await module.CreateContainerAsync(new ContainerCreateSpec { Name = "audited-pwsh", Image = "busybox" }, timeout.Token);
            await module.TerminateContainerAsync(created.Id, timeout.Token); // REST
            // Over REST too, and failing: a failed action is recorded as one.
            await Assert.ThrowsAsync<AgentException>(() => module.RemoveImageAsync("no-such-image:audit", timeout.Token));
            await module.RemoveContainerAsync(created.Id, force: false, timeout.Token);
        }

        using var admin = Agent.TcpWithKey(Agent.AdminKey!);
        var all = await ReadAllAsync(admin);
        var entries = all.Where(e => e.Target?.Name == "audited-pwsh").ToList();
        Assert.Equal([AuditActions.ContainerCreate, AuditActions.ContainerTerminate, AuditActions.ContainerRemove], entries.Select(e => e.Action));
        Assert.All(entries, e => Assert.Equal((AuditDecision.Allowed, AuditResult.Ok), (e.Decision, e.Result)));
        var failed = Assert.Single(all, e => e.Action == AuditActions.ImageRemove);
        Assert.Equal((AuditResult.Failed, AuditDecision.Allowed, "no-such-image:audit"), (failed.Result, failed.Decision, failed.Target?.Name));
        Assert.StartsWith("ImageNotFound: ", failed.Error, StringComparison.Ordinal);
        Assert.All(entries.Append(failed), e =>
        {
            Assert.Equal((AuditEntryPoint.PowerShell, AuditActorKind.LocalSocket, 0), (e.EntryPoint, e.Actor.Kind, e.Actor.Uid));
            Assert.Equal("root (uid 0) via the agent socket", e.Actor.Name);
            Assert.Equal("unix:" + Agent.SocketPath, e.Source);
        });
    }

    private static async IAsyncEnumerable<ProcessInput> NoInput()
    {
        await Task.CompletedTask;
        yield break;
    }

    private static Task<ApiKeyCreated> CreateKeyAsync(HttpClient admin, string name, ApiScope scope) =>
        CreateKeyAsync(admin, new ApiKeyRequest(name, scope));

    private static async Task<List<AuditEntry>> ReadAllAsync(HttpClient admin)
    {
        var all = new List<AuditEntry>();
        long after = 0;
        while (true)
        {
            var page = (await admin.GetFromJsonAsync<AuditPage>($"api/audit?after={after}&limit=1000", AgentProcess.Json))!;
            all.AddRange(page.Entries);
            if (page.Next is not { } next)
            {
                return all;
            }

            after = next;
        }
    }
}
