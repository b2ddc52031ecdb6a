using System.Management.Automation;
using System.Net.Http.Json;
using Portal.Contracts;
using Portal.Contracts.Hub;
using static Portal.PowerShell.Tests.ScriptAssert;

namespace Portal.PowerShell.Tests;

/// <summary>
/// The module names itself to the agent, so its cmdlets' actions and refusals are in the agent's audit trail with the
/// PowerShell entry point: one entry each, by the socket's peer (root) or by the key the cmdlet used.
/// </summary>
[Collection(AgentCollection.Name)]
[Trait("Requires", "root")]
public sealed class AuditTests(AgentFixture fixture) : IAsyncLifetime
{
    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => fixture.Agent.RemoveAllContainersAsync();

    [RootFact]
    public async Task Cmdlet_actions_and_a_refused_one_each_leave_one_entry_with_the_powershell_entry_point()
    {
        using var ps = new PowerShellSession(fixture.Agent);
        ps.Ok("$c = New-Container -Name PSAUDIT -ContainerImageName nanoserver; Remove-Container $c");
        var reader = await (await fixture.Agent.Socket.PostAsJsonAsync("api/keys", new ApiKeyRequest("ps-audit-viewer", ApiScope.Read), AgentProcess.Json)).Content.ReadFromJsonAsync<ApiKeyCreated>(AgentProcess.Json);
        AssertError(ps.Run($"New-Container -Name PSREFUSED -ContainerImageName nanoserver -AgentUri {fixture.Agent.TcpUri} -ApiKey {reader!.Secret}"), "Forbidden", ErrorCategory.PermissionDenied, "scope");

        var done = (await fixture.Agent.GetAsync<AuditPage>("api/audit?target=PSAUDIT")).Entries;
        Assert.Equal(["container.create", "container.remove"], done.Select(e => e.Action));
        Assert.All(done, e =>
        {
            Assert.Equal((AuditEntryPoint.PowerShell, AuditActorKind.LocalSocket, 0, AuditResult.Ok), (e.EntryPoint, e.Actor.Kind, e.Actor.Uid, e.Result));
        });

        var refused = Assert.Single((await fixture.Agent.GetAsync<AuditPage>($"api/audit?decision=Denied&actor={reader.Key.Id}")).Entries);
        Assert.Equal(("container.create", AuditEntryPoint.PowerShell, "scope", "PSREFUSED"), (refused.Action, refused.EntryPoint, refused.Rule, refused.Target?.Name));
    }
}
