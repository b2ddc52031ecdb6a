using System.Management.Automation;
using Portal.Contracts;

namespace Portal.PowerShell.Tests;

/// <summary>The seed's PowerShell lines, typed as the seed has them, against the real agent in a hosted runspace.</summary>
[Collection(AgentCollection.Name)]
[Trait("Requires", "root")]
public sealed class SeedTests(AgentFixture fixture, Xunit.Abstractions.ITestOutputHelper log) : IAsyncLifetime
{
    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => fixture.Agent.RemoveAllContainersAsync();

    [RootFact]
    public void The_seed_command_sequences_run_unchanged()
    {
        using var ps = new PowerShellSession(fixture.Agent);

        // "Erstellen eines Containers": a Hyper-V container is VM isolation here.
        var hyperV = ps.Run("""$con = New-Container -Name HYPVCON -ContainerImageName NanoServer -SwitchName "Virtual Switch" -RuntimeType HyperV""");
        Assert.Empty(hyperV.Errors);
        var con = ps.Ok("$con").Single();
        Assert.Equal("HYPVCON", con.Properties["ContainerName"].Value);
        Assert.Equal(RuntimeType.HyperV, con.Properties["RuntimeType"].Value);
        Assert.Equal("NAT", con.Properties["SwitchName"].Value); // "Virtual Switch" is an alias of the default NAT switch

        // "Konvertieren eines Containers"
        var demo = ps.Ok("New-Container -Name DEMO -ContainerImageName nanoserver -SwitchName NAT").Single();
        Assert.Equal("NAT", demo.Properties["SwitchName"].Value);
        Assert.Equal(RuntimeType.Default, demo.Properties["RuntimeType"].Value);

        var rows = ps.Ok("Get-Container | Select ContainerName, RuntimeType");
        Assert.Contains(rows, r => (string)r.Properties["ContainerName"].Value == "DEMO" && (RuntimeType)r.Properties["RuntimeType"].Value == RuntimeType.Default);
        Assert.Matches(@"DEMO\s+Default", ps.Text("Get-Container | Select ContainerName, RuntimeType | Format-Table"));

        ps.Ok("$con = Get-Container DEMO");
        var converted = ps.Run("Set-Container $con -RuntimeType HyperV");
        Assert.Empty(converted.Errors);
        Assert.Empty(converted.Output); // as in the seed: Set-Container prints nothing without -PassThru
        Assert.Matches(@"DEMO\s+HyperV", ps.Text("Get-Container | select ContainerName, RuntimeType | Format-Table"));

        // "VM-Arbeitsprozess"
        var hyperVRows = ps.Ok("Get-Container | Select Name, RuntimeType, ContainerID | Where {$_.RuntimeType -eq 'Hyperv'}");
        Assert.Equal(["DEMO", "HYPVCON"], hyperVRows.Select(r => (string)r.Properties["Name"].Value).Order());
        Assert.All(hyperVRows, r => Assert.Matches("^[0-9a-f]{12,}$", (string)r.Properties["ContainerId"].Value));

        var compute = ps.Ok("Get-ComputeProcess");
        Assert.Contains(compute, c => (string)c.Properties["Name"].Value == "HYPVCON" && (ComputeSystemType)c.Properties["Type"].Value == ComputeSystemType.Container);
        var table = ps.Text("Get-ComputeProcess");
        Assert.Matches(@"Id\s+Name\s+Owner\s+Type", table);
        Assert.Matches(@"HYPVCON\s+\S+\s+Container", table);

        // "Demo der Isolation": start the Hyper-V container; its VM worker appears as a VirtualMachine compute system.
        ps.Ok("$con = Get-Container HYPVCON");
        ps.Ok("Start-Container $con");
        Assert.Equal(ContainerState.Running, ps.Ok("(Get-Container HYPVCON).State").Single().BaseObject);
        log.WriteLine(ps.Text("Get-Container | Format-Table Name, RuntimeType, State, ContainerId"));
        log.WriteLine(ps.Text("Get-ComputeProcess | Format-Table Id, Name, Owner, Type, HostPid"));
        var vm = ps.Ok("Get-ComputeProcess -Name HYPVCON -Type VirtualMachine").Single();
        Assert.EndsWith("@vm", (string)vm.Properties["Id"].Value);
        Assert.NotNull(vm.Properties["HostPid"].Value);
    }

    [RootFact]
    public void Containers_are_found_by_object_name_id_and_from_the_pipeline()
    {
        using var ps = new PowerShellSession(fixture.Agent);
        var id = (string)ps.Ok("(New-Container -Name PIPE1 -ContainerImageName nanoserver -Command sleep,300).ContainerId").Single().BaseObject;
        ps.Ok("New-Container PIPE2 nanoserver -Command 'sleep 300' -Environment @{ MODE = 'test' } -Memory 64MB | Out-Null");

        Assert.Equal(["PIPE1", "PIPE2"], ps.Ok("Get-Container -Name PIPE*").Select(o => (string)o.Properties["Name"].Value));
        Assert.Equal("PIPE1", ps.Ok($"Get-Container -ContainerId {id[..12]}").Single().Properties["Name"].Value);
        var pipe2 = ps.Ok("Get-Container PIPE2").Single();
        Assert.Contains("MODE=test", (IEnumerable<string>)pipe2.Properties["Environment"].Value);
        Assert.Equal(64L << 20, pipe2.Properties["MemoryBytes"].Value);

        ps.Ok("Get-Container PIPE* | Start-Container");
        Assert.All(ps.Ok("Get-Container PIPE*"), c => Assert.Equal(ContainerState.Running, c.Properties["State"].Value));
        ps.Ok($"Stop-Container -ContainerId {id} -TimeoutSeconds 1");
        Assert.Equal(ContainerState.Stopped, ps.Ok("(Get-Container PIPE1).State").Single().BaseObject);
        ps.Ok("$c = Get-Container PIPE1; Start-Container $c; Stop-Container $c -Kill");
        ps.Ok("Remove-Container PIPE1");
        ps.Ok("Get-Container PIPE2 | Remove-Container -Force");
        Assert.Empty(ps.Ok("Get-Container PIPE*"));
    }
}
