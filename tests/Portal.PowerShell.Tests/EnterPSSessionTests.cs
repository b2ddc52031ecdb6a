using System.Management.Automation;

namespace Portal.PowerShell.Tests;

/// <summary>Enter-PSSession -ContainerId: a shell inside the container through the console host on a real pty.</summary>
[Collection(AgentCollection.Name)]
[Trait("Requires", "root")]
public sealed class EnterPSSessionTests(AgentFixture fixture) : IAsyncLifetime
{
    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => fixture.Agent.RemoveAllContainersAsync();

    [RootFact]
    public async Task Typed_commands_run_inside_the_container_and_the_session_ends_with_the_shell()
    {
        using (var ps = new PowerShellSession(fixture.Agent))
        {
            ps.Ok("$con = New-Container -Name PTYCON -ContainerImageName nanoserver; Start-Container $con");
        }

        await using var terminal = new PtyTerminal(ConsoleHost.StartInfo(fixture.Agent, "-NoProfile", "-NoLogo"));
        var at = await terminal.WaitForAsync("PS ");
        await terminal.TypeAsync("$con = Get-Container PTYCON\r");
        at = await terminal.WaitForAsync("PS ", at);
        await terminal.TypeAsync("Enter-PSSession -ContainerId $con.ContainerId -RunAsAdministrator\r");
        at = await terminal.WaitForAsync("[PTYCON]: / # ", at);

        await terminal.TypeAsync("echo inside-$((6*7))\r");
        at = await terminal.WaitForAsync("inside-42", at);
        await terminal.TypeAsync("echo host=$(hostname) uid=$(id -u)\r");
        at = await terminal.WaitForAsync("host=PTYCON uid=0", at);
        Assert.NotEqual("PTYCON", Environment.MachineName);

        // The shell's exit ends the session; PowerShell's prompt is back with the shell's status.
        await terminal.TypeAsync("exit 7\r");
        at = await terminal.WaitForAsync("PS ", at);
        await terminal.TypeAsync("\"code=$LASTEXITCODE\"\r");
        await terminal.WaitForAsync("code=7", at);
        await terminal.TypeAsync("exit\r");
        Assert.Equal(0, await terminal.WaitForExitAsync());
    }

    [RootFact]
    public void The_built_in_parameter_sets_stay_and_go_to_the_built_in_cmdlet()
    {
        using var ps = new PowerShellSession(fixture.Agent);
        var command = ps.Ok("Get-Command Enter-PSSession").Single();
        Assert.Equal("Portal.PowerShell", command.Properties["Source"].Value);
        var sets = ps.Ok("(Get-Command Enter-PSSession).ParameterSets.Name").Select(o => (string)o.BaseObject).ToList();
        Assert.Superset(new HashSet<string> { "ComputerName", "SSHHost", "Session", "Uri", "Id", "Name", "ContainerId" }, sets.ToHashSet());

        // Any other set reaches Microsoft.PowerShell.Core\Enter-PSSession (which needs an interactive host here).
        // (-Id, not -HostName: PowerShell's SSH transport can crash its process with a broken pipe when ssh exits at once.)
        var other = ps.Run("Enter-PSSession -Id 424242");
        Assert.Contains(other.Errors, e => e.FullyQualifiedErrorId.EndsWith("Microsoft.PowerShell.Commands.EnterPSSessionCommand", StringComparison.Ordinal));

        var missing = ps.Run("Enter-PSSession -ContainerId no-such-container");
        var error = Assert.Single(missing.Errors);
        Assert.Equal(ErrorCategory.ObjectNotFound, error.CategoryInfo.Category);
        Assert.StartsWith("ContainerNotFound,", error.FullyQualifiedErrorId, StringComparison.Ordinal);
    }
}
