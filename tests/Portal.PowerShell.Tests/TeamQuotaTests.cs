using System.Management.Automation;
using System.Net.Http.Json;
using Portal.Contracts;
using Portal.Contracts.Hub;
using static Portal.PowerShell.Tests.ScriptAssert;

namespace Portal.PowerShell.Tests;

/// <summary>
/// A team key in PowerShell meets the same enforcement path as REST and the hub: New-Container is refused by the team's
/// isolation policy (PermissionDenied) and by its quota (QuotaExceeded), each named, each in the audit trail.
/// </summary>
[Collection(AgentCollection.Name)]
[Trait("Requires", "root")]
public sealed class TeamQuotaTests(AgentFixture fixture) : IAsyncLifetime
{
    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await fixture.Agent.RemoveAllContainersAsync();
        await fixture.Agent.Socket.DeleteAsync("api/teams/psteam");
    }

    [RootFact]
    public async Task New_Container_with_a_team_key_is_held_to_the_team_s_policy_and_quota()
    {
        var team = new TeamInfo
        {
            Members = [new() { User = "mia", Role = TeamRole.Member }],
            Quota = new TeamQuota { Containers = 1 },
            Policy = new IsolationPolicy { AllowedRuntimeTypes = [RuntimeType.HyperV] },
        };
        (await fixture.Agent.Socket.PutAsJsonAsync("api/teams/psteam", team, AgentProcess.Json)).EnsureSuccessStatusCode();
        var key = await (await fixture.Agent.Socket.PostAsJsonAsync("api/keys", new ApiKeyRequest("ps-team", ApiScope.Read, "psteam", TeamRole.Member), AgentProcess.Json))
            .Content.ReadFromJsonAsync<ApiKeyCreated>(AgentProcess.Json);
        var connect = $"-AgentUri {fixture.Agent.TcpUri} -ApiKey {key!.Secret}";

        using var ps = new PowerShellSession(fixture.Agent);
        AssertError(ps.Run($"New-Container -Name PSTEAMPROC -ContainerImageName nanoserver -RuntimeType Default {connect}"), "Forbidden", ErrorCategory.PermissionDenied, "rule: team-isolation-policy");
        ps.Ok($"New-Container -Name PSTEAMVM -ContainerImageName nanoserver {connect}");
        AssertError(ps.Run($"New-Container -Name PSTEAMVM2 -ContainerImageName nanoserver {connect}"), "QuotaExceeded", ErrorCategory.QuotaExceeded, "(quota: containers)");

        var vm = await fixture.Agent.GetAsync<ContainerView>("api/containers/PSTEAMVM");
        Assert.Equal(RuntimeType.HyperV, vm.Container.RuntimeType);
        var denied = (await fixture.Agent.GetAsync<AuditPage>($"api/audit?decision=Denied&actor={key.Key.Id}")).Entries;
        Assert.Equal([("PSTEAMPROC", "team-isolation-policy"), ("PSTEAMVM2", "team-quota")], denied.Select(e => (e.Target!.Name!, e.Rule!)));
        Assert.All(denied, e => Assert.Equal((AuditEntryPoint.PowerShell, "psteam"), (e.EntryPoint, e.Team)));
    }
}
