using System.Management.Automation;
using System.Net.Http.Json;
using Portal.Contracts;
using static Portal.PowerShell.Tests.ScriptAssert;
using Portal.Contracts.Hub;

namespace Portal.PowerShell.Tests;

/// <summary>-WhatIf, ErrorRecords with categories, tab completion, connection options and the console host's exit codes.</summary>
[Collection(AgentCollection.Name)]
[Trait("Requires", "root")]
public sealed class CmdletBehaviourTests(AgentFixture fixture) : IAsyncLifetime
{
    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => fixture.Agent.RemoveAllContainersAsync();

    [RootFact]
    public void WhatIf_changes_nothing()
    {
        using var ps = new PowerShellSession(fixture.Agent);
        ps.Ok("$c = New-Container -Name WHATIF -ContainerImageName nanoserver -Command sleep,300; Start-Container $c");

        Assert.Empty(ps.Ok("Set-Container WHATIF -RuntimeType HyperV -Restart -WhatIf"));
        Assert.Empty(ps.Ok("Stop-Container $c -WhatIf"));
        Assert.Empty(ps.Ok("Get-Container WHATIF | Remove-Container -Force -WhatIf"));
        Assert.Empty(ps.Ok("New-Container -Name NEVER -ContainerImageName nanoserver -WhatIf"));

        var after = ps.Ok("Get-Container").Single();
        Assert.Equal("WHATIF", after.Properties["Name"].Value);
        Assert.Equal(ContainerState.Running, after.Properties["State"].Value);
        Assert.Equal(RuntimeType.Default, after.Properties["RuntimeType"].Value);
    }

    [RootFact]
    public async Task Errors_are_ErrorRecords_with_categories_and_the_agents_message()
    {
        using var ps = new PowerShellSession(fixture.Agent);
        ps.Ok("$c = New-Container -Name ERRS -ContainerImageName nanoserver -Command sleep,300; Start-Container $c");

        AssertError(ps.Run("Get-Container -Name nope"), "ContainerNotFound", ErrorCategory.ObjectNotFound, "nope");
        AssertError(ps.Run("Start-Container nope"), "ContainerNotFound", ErrorCategory.ObjectNotFound, "nope");
        AssertError(ps.Run("New-Container -Name ERRS -ContainerImageName nanoserver"), "NameInUse", ErrorCategory.ResourceExists, "ERRS");
        AssertError(ps.Run("Remove-Container ERRS"), "InvalidTransition", ErrorCategory.InvalidOperation, "ERRS");
        AssertError(ps.Run("New-Container -Name 'bad name!' -ContainerImageName nanoserver"), "InvalidArgument", ErrorCategory.InvalidArgument, "bad name!");
        AssertError(ps.Run("New-Container -Name NOIMAGE -ContainerImageName no-such-image:1"), "ImageNotFound", ErrorCategory.ObjectNotFound, "no-such-image");

        // A non-terminating error lets the pipeline go on with the next container.
        var mixed = ps.Run("'nope', 'ERRS' | Stop-Container -TimeoutSeconds 1 -PassThru");
        Assert.Single(mixed.Errors);
        Assert.Equal("ERRS", Assert.Single(mixed.Output).Properties["Name"].Value);

        // Over TCP: no key, a bad key, and a key whose scope is too narrow.
        AssertError(ps.Run($"Get-Container -AgentUri {fixture.Agent.TcpUri}"), "Unauthorized", ErrorCategory.AuthenticationError, "API key");
        AssertError(ps.Run($"Get-Container -AgentUri {fixture.Agent.TcpUri} -ApiKey pk_00000000_bad"), "Unauthorized", ErrorCategory.AuthenticationError, "API key");
        var reader = await (await fixture.Agent.Socket.PostAsJsonAsync("api/keys", new ApiKeyRequest("ps-viewer", ApiScope.Read), AgentProcess.Json)).Content.ReadFromJsonAsync<ApiKeyCreated>(AgentProcess.Json);
        Assert.Single(ps.Ok($"Get-Container -AgentUri {fixture.Agent.TcpUri} -ApiKey {reader!.Secret}"));
        AssertError(ps.Run($"New-Container -Name RO -ContainerImageName nanoserver -AgentUri {fixture.Agent.TcpUri} -ApiKey {reader.Secret}"), "Forbidden", ErrorCategory.PermissionDenied, "scope");

        AssertError(ps.Run("Get-Container -AgentUri unix:///run/no-such-agent.sock"), "AgentUnreachable", ErrorCategory.ConnectionError, "not reachable");
    }

    [RootFact]
    public void Container_names_complete_with_tab()
    {
        using var ps = new PowerShellSession(fixture.Agent);
        ps.Ok("New-Container -Name TABONE -ContainerImageName nanoserver | Out-Null; New-Container -Name TABTWO -ContainerImageName nanoserver | Out-Null; New-Container -Name OTHER -ContainerImageName nanoserver | Out-Null");

        foreach (var line in new[] { "Get-Container -Name TAB", "Set-Container TAB", "Remove-Container -Name tab", "Enter-ContainerSession TAB" })
        {
            var matches = ps.Ok($"(TabExpansion2 -inputScript '{line}' -cursorColumn {line.Length}).CompletionMatches.CompletionText");
            Assert.Equal(["TABONE", "TABTWO"], matches.Select(m => (string)m.BaseObject));
        }
    }

    [RootFact]
    public void The_agent_is_chosen_by_AgentUri_ApiKey_the_session_or_the_environment()
    {
        using var ps = new PowerShellSession(fixture.Agent, connect: false);
        ps.Ok("New-Container -Name CONN -ContainerImageName nanoserver -AgentUri " + fixture.Agent.SocketUri + " | Out-Null");

        Assert.Equal("CONN", ps.Ok($"(Get-Container -AgentUri {fixture.Agent.TcpUri} -ApiKey {fixture.Agent.AdminKey}).Name").Single().BaseObject);
        var host = ps.Ok($"Connect-PortalAgent -AgentUri {fixture.Agent.TcpUri} -ApiKey {fixture.Agent.AdminKey}").Single();
        Assert.Contains(RuntimeType.Default, (IEnumerable<RuntimeType>)host.Properties["RuntimeTypes"].Value);
        Assert.Equal("CONN", ps.Ok("(Get-Container).Name").Single().BaseObject);
        // An object remembers its agent: pipeline commands go back there.
        Assert.Equal(fixture.Agent.TcpUri, ps.Ok("(Get-Container CONN).Agent.Display").Single().BaseObject);
        ps.Ok("Disconnect-PortalAgent");
    }

    [RootFact]
    public async Task The_console_host_runs_Command_and_exits_with_its_status()
    {
        using (var ps = new PowerShellSession(fixture.Agent))
        {
            ps.Ok("New-Container -Name HOSTED -ContainerImageName nanoserver | Out-Null");
        }

        var (code, output) = await ConsoleHost.RunAsync(ConsoleHost.StartInfo(fixture.Agent, "-NoProfile", "-Command", "$PSStyle.OutputRendering = 'PlainText'; Get-Container | Format-Table Name, RuntimeType, State"));
        Assert.Equal(0, code);
        Assert.Matches(@"HOSTED\s+Default\s+Created", output);

        (code, output) = await ConsoleHost.RunAsync(ConsoleHost.StartInfo(fixture.Agent, "-NoProfile", "-Command", "Get-Container -Name nope"));
        Assert.Equal(1, code);
        Assert.Contains("No container is named 'nope'", output);

        (code, _) = await ConsoleHost.RunAsync(ConsoleHost.StartInfo(fixture.Agent, "-NoProfile", "-Command", "if ((Get-Container HOSTED).RuntimeType -eq 'Default') { exit 3 }"));
        Assert.Equal(3, code);
    }

    [RootFact]
    public void Switches_are_managed_with_the_VMSwitch_cmdlets_and_containers_publish_ports()
    {
        using var ps = new PowerShellSession(fixture.Agent);
        var nat = ps.Ok("Get-VMSwitch 'Virtual Switch'").Single();
        Assert.Equal("NAT", nat.Properties["Name"].Value);
        Assert.Equal(SwitchType.Nat, nat.Properties["SwitchType"].Value);

        var lab = ps.Ok("New-VMSwitch -Name PSLAB -SwitchType Private").Single();
        Assert.Null(lab.Properties["Gateway"].Value);
        var con = ps.Ok("New-Container -Name PSNET -ContainerImageName nanoserver -SwitchName PSLAB").Single();
        Assert.Equal("PSLAB", con.Properties["SwitchName"].Value);
        Assert.NotNull(con.Properties["IpAddress"].Value);
        AssertError(ps.Run("Remove-VMSwitch PSLAB"), "SwitchInUse", ErrorCategory.InvalidOperation, "remove them first");
        AssertError(ps.Run("New-Container -ContainerImageName nanoserver -SwitchName NOSUCH"), "SwitchNotFound", ErrorCategory.ObjectNotFound, "No such switch");

        var web = ps.Ok("New-Container -Name PSWEB -ContainerImageName nanoserver -SwitchName NAT -Port 127.0.0.1:0:80").Single();
        Assert.Matches(@"^127\.0\.0\.1:\d+->80/tcp$", ((IEnumerable<string>)web.Properties["Ports"].Value).Single());

        ps.Ok("Remove-Container PSNET");
        ps.Ok("Remove-VMSwitch PSLAB");
        Assert.Empty(ps.Ok("Get-VMSwitch PSLAB"));
    }
}
