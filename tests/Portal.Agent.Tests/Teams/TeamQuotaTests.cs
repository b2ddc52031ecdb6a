using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Portal.Client;
using Portal.Compute.Teams;
using Portal.Compute.Audit;
using Portal.Contracts;
using Portal.Contracts.Hub;
using Portal.Tests.Shared;

namespace Portal.Agent.Tests.Teams;

/// <summary>
/// Quotas and the isolation policy enforced by the real agent for team callers, through REST and the hub: 20
/// concurrent creates take exactly the quota, a HyperV-only team's process-isolated create and conversion to process
/// are refused with the rule named (and let through with a warning in Warn mode), LimitRange defaults and maxima,
/// the VM memory charge, the usage endpoint, and each decision in the audit trail. Containers are created, not started.
/// </summary>
[Trait("Requires", "root")]
public sealed class TeamQuotaTests : RunningAgent
{
    private const long MiB = 1L << 20;

    [RootFact]
    public async Task Twenty_concurrent_REST_creates_by_team_callers_take_exactly_the_quota_and_each_refusal_names_it()
    {
        const int quota = 4;
        using var admin = Agent.TcpWithKey(Agent.AdminKey!);
        await PutTeamAsync(admin, "blue", new TeamQuota { Containers = quota });
        await PutTeamAsync(admin, "red", new TeamQuota());
        using var blue = Agent.TcpWithKey((await TeamKeyAsync(admin, "blue-member", "blue")).Secret);
        using var red = Agent.TcpWithKey((await TeamKeyAsync(admin, "red-member", "red")).Secret);

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => blue.PostAsJsonAsync("api/containers", Spec($"quota-{i}"), AgentProcess.Json)));
        Assert.Equal(quota, responses.Count(r => r.StatusCode == HttpStatusCode.Created));
        var refused = responses.Where(r => r.StatusCode != HttpStatusCode.Created).ToList();
        Assert.Equal(20 - quota, refused.Count);
        foreach (var response in refused)
        {
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            var body = await response.Content.ReadAsStringAsync();
            Assert.Contains("\"code\":\"QuotaExceeded\"", body, StringComparison.Ordinal);
            Assert.Contains($"Team 'blue' may run {quota} containers on this host and has {quota}; remove one or ask an administrator to raise the quota (quota: containers).", body, StringComparison.Ordinal);
        }

        Assert.Equal(quota, (await admin.GetFromJsonAsync<List<ContainerView>>("api/containers", AgentProcess.Json))!.Count(c => c.Container.Labels.GetValueOrDefault(TeamRules.OwnerLabel) == "blue"));

        // The usage: for the team's own callers and administrators only.
        var usage = await blue.GetFromJsonAsync<TeamUsage>("api/teams/blue/usage", AgentProcess.Json);
        Assert.Equal(("blue", quota, 0, quota), (usage!.Team, usage.Containers, usage.VmContainers, usage.Quota.Containers));
        Assert.Equal(quota, (await admin.GetFromJsonAsync<TeamUsage>("api/teams/blue/usage", AgentProcess.Json))!.Containers);
        Assert.Equal(HttpStatusCode.Forbidden, (await red.GetAsync("api/teams/blue/usage")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("api/teams/green/usage")).StatusCode);

        var denied = (await admin.GetFromJsonAsync<AuditPage>("api/audit?decision=Denied&limit=1000", AgentProcess.Json))!.Entries;
        Assert.Equal(20 - quota, denied.Count(e => e.Rule == TeamRules.QuotaRule && e.Details?["quota"] == TeamQuotas.Containers && e.Team == "blue"));

        // A slot freed is a slot to take again.
        var first = responses.First(r => r.StatusCode == HttpStatusCode.Created);
        var id = (await first.Content.ReadFromJsonAsync<ContainerInfo>(AgentProcess.Json))!.Id;
        Assert.Equal(HttpStatusCode.NoContent, (await blue.DeleteAsync($"api/containers/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await blue.PostAsJsonAsync("api/containers", Spec("quota-again"), AgentProcess.Json)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await blue.PostAsJsonAsync("api/containers", Spec("quota-over"), AgentProcess.Json)).StatusCode);
        await RemoveAllAsync(admin);
    }

    [RootFact]
    public async Task A_HyperV_only_team_is_refused_process_isolation_through_REST_and_the_hub_and_warned_in_Warn_mode()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        using var admin = Agent.TcpWithKey(Agent.AdminKey!);
        var hyperVOnly = new IsolationPolicy { AllowedRuntimeTypes = [RuntimeType.HyperV] };
        await PutTeamAsync(admin, "blue", new TeamQuota { VmContainers = 2 }, hyperVOnly);
        var key = await TeamKeyAsync(admin, "blue-member", "blue");
        using var rest = Agent.TcpWithKey(key.Secret);

        // No runtime type: the policy's (HyperV). Created only: no VM boots.
        var vm = await (await rest.PostAsJsonAsync("api/containers", Spec("policy-vm"), AgentProcess.Json)).Content.ReadFromJsonAsync<ContainerInfo>(AgentProcess.Json);
        Assert.Equal(RuntimeType.HyperV, vm!.RuntimeType);

        var create = await rest.PostAsJsonAsync("api/containers", Spec("policy-proc") with { RuntimeType = RuntimeType.Default }, AgentProcess.Json);
        Assert.Equal(HttpStatusCode.Forbidden, create.StatusCode);
        Assert.Contains("may use VM isolation (HyperV) only", await create.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var convert = await rest.PostAsync("api/containers/policy-vm/convert?runtimeType=Default", null);
        Assert.Equal(HttpStatusCode.Forbidden, convert.StatusCode);
        Assert.Contains("rule: team-isolation-policy", await convert.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        await using (var hub = new AgentClient(new AgentEndpoint { BaseAddress = Agent.Tcp.BaseAddress!, ApiKey = key.Secret }))
        {
            await hub.ConnectAsync(timeout.Token);
            var hubCreate = await Assert.ThrowsAsync<AgentException>(() => hub.CreateContainerAsync(Spec("policy-hub-proc") with { RuntimeType = RuntimeType.Default }, timeout.Token));
            Assert.Equal("Forbidden", hubCreate.Code);
            Assert.Contains("team-isolation-policy", hubCreate.Message, StringComparison.Ordinal);
            var hubConvert = await Assert.ThrowsAsync<AgentException>(() => hub.ConvertContainerAsync("policy-vm", RuntimeType.Default, false, null, timeout.Token));
            Assert.Equal("Forbidden", hubConvert.Code);

            // The VM slots: one taken, one left, then the quota (named over the hub too).
            await hub.CreateContainerAsync(Spec("policy-vm2"), timeout.Token);
            var over = await Assert.ThrowsAsync<AgentException>(() => hub.CreateContainerAsync(Spec("policy-vm3"), timeout.Token));
            Assert.Equal("QuotaExceeded", over.Code);
            Assert.Contains("(quota: vm-containers)", over.Message, StringComparison.Ordinal);
        }

        Assert.Equal(RuntimeType.HyperV, (await rest.GetFromJsonAsync<ContainerView>("api/containers/policy-vm", AgentProcess.Json))!.Container.RuntimeType);
        var denied = (await admin.GetFromJsonAsync<AuditPage>("api/audit?decision=Denied&limit=1000", AgentProcess.Json))!.Entries.Where(e => e.Team == "blue").ToList();
        Assert.Equal(
            [
                (AuditActions.ContainerCreate, AuditEntryPoint.Rest, TeamRules.IsolationPolicyRule, "policy-proc"),
                (AuditActions.ContainerConvert, AuditEntryPoint.Rest, TeamRules.IsolationPolicyRule, "policy-vm"),
                (AuditActions.ContainerCreate, AuditEntryPoint.Hub, TeamRules.IsolationPolicyRule, "policy-hub-proc"),
                (AuditActions.ContainerConvert, AuditEntryPoint.Hub, TeamRules.IsolationPolicyRule, "policy-vm"),
                (AuditActions.ContainerCreate, AuditEntryPoint.Hub, TeamRules.QuotaRule, "policy-vm3"),
            ],
            denied.Select(e => (e.Action, e.EntryPoint, e.Rule!, e.Target!.Name!)));
        Assert.All(denied, e => Assert.Equal((AuditDecision.Denied, AuditResult.NotRun), (e.Decision, e.Result)));

        // Warn mode: the same create runs; the caller sees why in a Warning header, the audit trail records it Warned.
        await PutTeamAsync(admin, "blue", new TeamQuota(), hyperVOnly with { Mode = PolicyMode.Warn });
        var warned = await rest.PostAsJsonAsync("api/containers", Spec("policy-warned") with { RuntimeType = RuntimeType.Default }, AgentProcess.Json);
        Assert.Equal(HttpStatusCode.Created, warned.StatusCode);
        var warning = Assert.Single(warned.Headers.GetValues("Warning"));
        Assert.StartsWith("299 - \"Team 'blue' may use VM isolation (HyperV) only", warning, StringComparison.Ordinal);
        Assert.Contains("mode is Warn", warning, StringComparison.Ordinal);
        var entry = Assert.Single((await admin.GetFromJsonAsync<AuditPage>("api/audit?decision=Warned", AgentProcess.Json))!.Entries);
        Assert.Equal((AuditActions.ContainerCreate, "policy-warned", TeamRules.IsolationPolicyRule, AuditResult.Ok, RuntimeType.Default),
            (entry.Action, entry.Target!.Name, entry.Rule, entry.Result, entry.EffectiveIsolation));

        // Over the hub: CreateContainerWithWarnings answers the warning with the container (CreateContainer stays as it was),
        // and a conversion's last update carries its warnings.
        await using (var hub = new AgentClient(new AgentEndpoint { BaseAddress = Agent.Tcp.BaseAddress!, ApiKey = key.Secret }))
        {
            await hub.ConnectAsync(timeout.Token);
            var hubWarned = await hub.CreateContainerWithWarningsAsync(Spec("policy-hub-warned") with { RuntimeType = RuntimeType.Default }, timeout.Token);
            Assert.Equal(RuntimeType.Default, hubWarned.Container.RuntimeType);
            Assert.StartsWith("Team 'blue' may use VM isolation (HyperV) only", Assert.Single(hubWarned.Warnings), StringComparison.Ordinal);
            Assert.Empty((await hub.CreateContainerWithWarningsAsync(Spec("policy-hub-vm"), timeout.Token)).Warnings);
        }

        await using (var raw = new HubConnectionBuilder()
            .WithUrl(new Uri(Agent.Tcp.BaseAddress!, "hubs/agent"), o => o.AccessTokenProvider = () => Task.FromResult<string?>(key.Secret))
            .AddJsonProtocol(o => o.PayloadSerializerOptions.Converters.Add(new JsonStringEnumConverter()))
            .Build())
        {
            await raw.StartAsync(timeout.Token);
            var updates = new List<ConversionUpdate>();
            await foreach (var update in raw.StreamAsync<ConversionUpdate>(nameof(IAgentHub.ConvertContainer), "policy-hub-vm", RuntimeType.Default, false, timeout.Token))
            {
                updates.Add(update);
            }

            Assert.Equal(RuntimeType.Default, updates[^1].Container!.RuntimeType);
            Assert.Contains("mode is Warn", Assert.Single(updates[^1].Warnings!), StringComparison.Ordinal);

            // What a client sees of an agent older than CreateContainerWithWarnings: it falls back to CreateContainer on this.
            var unknown = await Assert.ThrowsAsync<HubException>(() => raw.InvokeAsync("CreateContainerFromTheFuture", Spec("never"), timeout.Token));
            Assert.True(AgentException.FromHub(unknown).IsUnknownHubMethod, unknown.Message);
        }

        var hubWarnings = (await admin.GetFromJsonAsync<AuditPage>("api/audit?decision=Warned", AgentProcess.Json))!.Entries.Where(e => e.EntryPoint == AuditEntryPoint.Hub).ToList();
        Assert.Equal([(AuditActions.ContainerCreate, "policy-hub-warned"), (AuditActions.ContainerConvert, "policy-hub-vm")], hubWarnings.Select(e => (e.Action, e.Target!.Name!)));
        await RemoveAllAsync(admin);
    }

    [RootFact]
    public async Task LimitRange_defaults_are_applied_a_maximum_refused_and_a_VM_charged_its_guest_memory_and_worker_overhead()
    {
        using var admin = Agent.TcpWithKey(Agent.AdminKey!);
        await PutTeamAsync(admin, "blue", new TeamQuota
        {
            MemoryBytes = 1L << 30,
            Limits = new LimitRange { DefaultCpus = 0.5, DefaultMemoryBytes = 64 * MiB, MaxMemoryBytes = 512 * MiB },
        });
        using var blue = Agent.TcpWithKey((await TeamKeyAsync(admin, "blue-member", "blue")).Secret);
        var put = Assert.Single((await admin.GetFromJsonAsync<AuditPage>($"api/audit?action={AuditActions.TeamPut}", AgentProcess.Json))!.Entries);
        Assert.Contains("\"memoryBytes\":1073741824", put.Details!["quota"], StringComparison.Ordinal);

        // A bad quota is a 400 saying what was wrong and what to send; the team keeps the one it had.
        var bad = await admin.PutAsJsonAsync("api/teams/blue", new TeamInfo { Quota = new TeamQuota { Limits = new LimitRange { DefaultMemoryBytes = 1L << 30, MaxMemoryBytes = 512 * MiB } } }, AgentProcess.Json);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("quota.limits.defaultMemoryBytes (1073741824) is above quota.limits.maxMemoryBytes (536870912)", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(1L << 30, (await admin.GetFromJsonAsync<TeamInfo>("api/teams/blue", AgentProcess.Json))!.Quota.MemoryBytes);

        var defaulted = await (await blue.PostAsJsonAsync("api/containers", Spec("limits-default"), AgentProcess.Json)).Content.ReadFromJsonAsync<ContainerInfo>(AgentProcess.Json);
        Assert.Equal((0.5, 64 * MiB), (defaulted!.Limits.Cpus!.Value, defaulted.Limits.MemoryBytes!.Value));
        var tooBig = await blue.PostAsJsonAsync("api/containers", Spec("limits-big") with { Limits = new ContainerLimits { MemoryBytes = 600 * MiB } }, AgentProcess.Json);
        Assert.Equal(HttpStatusCode.Forbidden, tooBig.StatusCode);
        Assert.Contains("(quota: limits.max-memory)", await tooBig.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // A VM-isolated container with 300 MiB: 300 MiB of guest RAM + the worker's overhead (+ TCG's translation cache without KVM).
        var host = await admin.GetFromJsonAsync<HostInfo>("api/host", AgentProcess.Json);
        var overhead = new VmMemoryCharge { TcgTranslationCacheBytes = host!.VmAccelerator == "tcg" ? 32 * MiB : 0 }.OverheadBytes;
        Assert.Equal(HttpStatusCode.Created, (await blue.PostAsJsonAsync("api/containers", Spec("limits-vm") with { RuntimeType = RuntimeType.HyperV, Limits = new ContainerLimits { MemoryBytes = 300 * MiB } }, AgentProcess.Json)).StatusCode);
        var usage = await blue.GetFromJsonAsync<TeamUsage>("api/teams/blue/usage", AgentProcess.Json);
        Assert.Equal((2, 1, 64 * MiB + 300 * MiB + overhead), (usage!.Containers, usage.VmContainers, usage.MemoryBytes));

        // 1 GiB - 364 MiB - overhead is left: a second such VM does not fit, and the refusal says why.
        var second = await blue.PostAsJsonAsync("api/containers", Spec("limits-vm2") with { RuntimeType = RuntimeType.HyperV, Limits = new ContainerLimits { MemoryBytes = 500 * MiB } }, AgentProcess.Json);
        Assert.Equal(HttpStatusCode.Forbidden, second.StatusCode);
        var why = await second.Content.ReadAsStringAsync();
        Assert.Contains($"VM isolation: guest memory plus {TeamQuotas.Bytes(overhead)} of VM worker overhead", why, StringComparison.Ordinal);
        Assert.Contains("(quota: memory)", why, StringComparison.Ordinal);
        await RemoveAllAsync(admin);
    }

    private static ContainerCreateSpec Spec(string name) => new() { Name = name, Image = "busybox", Command = ["sleep", "300"] };

    private static async Task PutTeamAsync(HttpClient admin, string name, TeamQuota quota, IsolationPolicy? policy = null)
    {
        var team = new TeamInfo { Members = [new() { User = "mia", Role = TeamRole.Member }], Quota = quota, Policy = policy ?? new IsolationPolicy() };
        (await admin.PutAsJsonAsync($"api/teams/{name}", team, AgentProcess.Json)).EnsureSuccessStatusCode();
    }

    private static Task<ApiKeyCreated> TeamKeyAsync(HttpClient admin, string name, string team) =>
        CreateKeyAsync(admin, new ApiKeyRequest(name, ApiScope.Read, team, TeamRole.Member));

    private static async Task RemoveAllAsync(HttpClient admin)
    {
        foreach (var container in (await admin.GetFromJsonAsync<List<ContainerView>>("api/containers", AgentProcess.Json))!)
        {
            (await admin.DeleteAsync($"api/containers/{container.Container.Id}?force=true")).EnsureSuccessStatusCode();
        }
    }
}
