namespace Portal.PowerShell.Tests;

/// <summary>
/// The seed's isolation demo with a marker process: the host's own Get-Process finds a process-isolated container's
/// marker at the HostId Get-ContainerProcess reports, and does not find a VM-isolated container's.
/// </summary>
[Collection(AgentCollection.Name)]
[Trait("Requires", "root")]
public sealed class IsolationDemoTests(AgentFixture fixture) : IAsyncLifetime
{
    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => fixture.Agent.RemoveAllContainersAsync();

    [RootFact]
    public void Get_Process_on_the_host_sees_the_process_isolated_marker_at_its_HostId_but_not_the_VM_isolated_one()
    {
        using var ps = new PowerShellSession(fixture.Agent);
        ps.Ok("$con = New-Container -Name WINCONT -ContainerImageName WindowsServerCore -SwitchName 'Virtual Switch' -Command sleep,4321");
        ps.Ok("Start-Container $con");

        var inside = ps.Ok("Get-ContainerProcess $con -ProcessName sleep").Single();
        Assert.Equal("sleep", inside.Properties["ProcessName"].Value);
        Assert.Equal(1, inside.Properties["Id"].Value);
        var hostId = Assert.IsType<int>(inside.Properties["HostId"].Value);
        Assert.NotEqual(1, hostId);

        var onHost = ps.Ok($"get-process | where {{$_.ProcessName -eq 'sleep' -and $_.CommandLine -eq 'sleep 4321'}}");
        Assert.Equal(hostId, Assert.Single(onHost).Properties["Id"].Value);
        Assert.Matches(@"Id\s+HostId\s+ProcessName[\s\S]*\s1\s+" + hostId + @"\s+sleep", ps.Text("Get-ContainerProcess WINCONT"));

        // VM isolation: the marker lives in the guest; the host sees only the VM worker.
        var vm = ps.Run("$vm = New-Container -Name HYPVCON -ContainerImageName NanoServer -SwitchName 'Virtual Switch' -RuntimeType HyperV -Command sleep,4322; Start-Container $vm");
        Assert.Empty(vm.Errors);

        var guest = ps.Ok("Get-ContainerProcess $vm -ProcessName sleep").Single();
        Assert.Null(guest.Properties["HostId"].Value);
        Assert.Empty(ps.Ok("get-process | where {$_.ProcessName -eq 'sleep' -and $_.CommandLine -eq 'sleep 4322'}"));
        var worker = ps.Ok("Get-ComputeProcess -Name HYPVCON -Type VirtualMachine").Single();
        var workerPid = Assert.IsType<int>(worker.Properties["HostPid"].Value);
        Assert.Single(ps.Ok($"get-process -Id {workerPid}"));
    }
}
