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

        // Switches: the team's own, made and removed with its key; the administrators' shared switch is not its to remove.
        var made = ps.Ok($"New-VMSwitch -Name psteam-net -SwitchType Private {connect}").Single();
        Assert.Equal("psteam", made.Properties["Team"].Value);
        AssertError(ps.Run($"Remove-VMSwitch NAT {connect}"), "Forbidden", ErrorCategory.PermissionDenied, "belongs to the administrators");
        ps.Ok($"Remove-VMSwitch psteam-net {connect}");

        // Warn mode: the create runs, and New-Container writes the policy's warning.
        (await fixture.Agent.Socket.PutAsJsonAsync("api/teams/psteam", team with { Quota = new TeamQuota(), Policy = team.Policy with { Mode = PolicyMode.Warn } }, AgentProcess.Json)).EnsureSuccessStatusCode();
        var warned = ps.Ok($"$c = New-Container -Name PSTEAMWARN -ContainerImageName nanoserver -RuntimeType Default {connect} -WarningVariable w -WarningAction SilentlyContinue; $c.RuntimeType; $w | ForEach-Object Message");
        Assert.Equal(RuntimeType.Default, warned[0].BaseObject);
        Assert.StartsWith("Team 'psteam' may use VM isolation (HyperV) only", Assert.Single(warned.Skip(1)).BaseObject.ToString(), StringComparison.Ordinal);
        var converted = ps.Ok($"Set-Container PSTEAMVM -RuntimeType Default {connect} -WarningVariable v -WarningAction SilentlyContinue; $v | ForEach-Object Message");
        Assert.Contains("mode is Warn", Assert.Single(converted).BaseObject.ToString(), StringComparison.Ordinal);
    }
}
