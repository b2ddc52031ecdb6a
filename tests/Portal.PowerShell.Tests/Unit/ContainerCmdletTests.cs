using System.Management.Automation;
using Portal.Contracts;
using static Portal.PowerShell.Tests.ScriptAssert;
using Portal.PowerShell.Tests.Fakes;

namespace Portal.PowerShell.Tests.Unit;

/// <summary>
/// The unit tier: the container cmdlets in a hosted runspace against a fake agent behind Portal.Client's seam. No root,
/// no agent process, no container: what the cmdlets send, what they emit, and -WhatIf.
/// </summary>
public sealed class ContainerCmdletTests : IDisposable
{
    private readonly FakeAgent _agent = new();
    private readonly PowerShellSession _ps;

    public ContainerCmdletTests() => _ps = new PowerShellSession(_agent);

    public void Dispose() => _ps.Dispose();

    [Fact]
    public void New_Container_sends_the_spec_and_emits_the_container_with_the_seeds_properties()
    {
        var con = _ps.Ok("New-Container -Name DEMO -ContainerImageName nanoserver -SwitchName 'Virtual Switch' -RuntimeType HyperV -Environment @{ MODE = 'test' } -Memory 64MB -Port 8080:80, 127.0.0.1::81 -Label @{ tier = 'web' }").Single();

        Assert.IsType<Model.PortalContainer>(con.BaseObject);
        Assert.Equal("DEMO", con.Properties["Name"].Value);
        Assert.Equal("DEMO", con.Properties["ContainerName"].Value);
        Assert.Equal(RuntimeType.HyperV, con.Properties["RuntimeType"].Value);
        Assert.Equal(ContainerState.Created, con.Properties["State"].Value);
        Assert.Equal("NAT", con.Properties["SwitchName"].Value);
        Assert.Equal(["8080->80/tcp", "127.0.0.1:32768->81/tcp"], (IEnumerable<string>)con.Properties["Ports"].Value);
        Assert.Equal(PowerShellSession.FakeAgentUri, _ps.Ok("(Get-Container DEMO).Agent.Display").Single().BaseObject);

        var spec = _agent.LastCreateSpec!;
        Assert.Equal("nanoserver", spec.Image);
        Assert.Equal("Virtual Switch", spec.SwitchName);
        Assert.Equal(["MODE=test"], spec.Environment);
        Assert.Equal(64L << 20, spec.Limits.MemoryBytes);
        Assert.Equal("web", spec.Labels["tier"]);
        Assert.True(spec.OpenStdin); // no -Command: the image's command keeps its stdin open, as the seed's containers do
        Assert.Null(spec.Command);
    }

    [Fact]
    public void New_Container_writes_the_warnings_of_a_team_policy_in_Warn_mode_and_still_emits_the_container()
    {
        _agent.PolicyWarnings.Add("Team 'blue' may use VM isolation (HyperV) only. Allowed for now: the policy's mode is Warn.");
        var output = _ps.Ok("$c = New-Container -Name WARNED -ContainerImageName nanoserver -RuntimeType Default -WarningVariable w -WarningAction SilentlyContinue; $c.Name; $w | ForEach-Object Message");

        Assert.Equal(["WARNED", "Team 'blue' may use VM isolation (HyperV) only. Allowed for now: the policy's mode is Warn."], output.Select(o => o.BaseObject.ToString()));

        // Set-Container -RuntimeType writes a conversion's warnings the same way.
        var converted = _ps.Ok("Set-Container WARNED -RuntimeType HyperV -WarningVariable v -WarningAction SilentlyContinue; $v | ForEach-Object Message");
        Assert.Equal("Team 'blue' may use VM isolation (HyperV) only. Allowed for now: the policy's mode is Warn.", Assert.Single(converted).BaseObject.ToString());
    }

    [Theory]
    [InlineData("-Command 'sleep 300'", new[] { "sleep", "300" }, false)]
    [InlineData("-Command sleep,300", new[] { "sleep", "300" }, false)]
    [InlineData("-Command 'sh -c x' -Interactive", new[] { "sh", "-c", "x" }, true)]
    public void New_Container_splits_a_single_command_string_and_opens_stdin_only_when_asked(string arguments, string[] command, bool openStdin)
    {
        _ps.Ok($"New-Container -Name CMD -ContainerImageName nanoserver {arguments} | Out-Null");

        Assert.Equal(command, _agent.LastCreateSpec!.Command);
        Assert.Equal(openStdin, _agent.LastCreateSpec.OpenStdin);
    }

    [Fact]
    public void New_Container_passes_the_security_parameters()
    {
        _ps.Ok("New-Container -Name LOCKED -ContainerImageName nanoserver -CapabilityDrop ALL -CapabilityAdd NET_BIND_SERVICE -ReadOnlyRootFilesystem -Tmpfs /run,/tmp | Out-Null");

        var security = _agent.LastCreateSpec!.Security;
        Assert.Equal(["ALL"], security.CapabilityDrop);
        Assert.Equal(["NET_BIND_SERVICE"], security.CapabilityAdd);
        Assert.True(security.ReadOnlyRootFilesystem);
        Assert.Equal(["/run", "/tmp"], security.Tmpfs.Select(t => t.Path));
    }

    [Fact]
    public void A_bad_port_mapping_is_refused_before_the_agent_is_asked()
    {
        var result = _ps.Run("New-Container -Name PORTS -ContainerImageName nanoserver -Port x:80");

        Assert.Contains("Invalid port mapping 'x:80'", Assert.Single(result.Errors).Exception.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_agent.Calls, c => c.StartsWith("CreateContainer", StringComparison.Ordinal));
    }

    [Fact]
    public void Get_Container_lists_sorted_by_name_matches_wildcards_and_finds_ids_and_prefixes()
    {
        _agent.Add("beta");
        var alpha = _agent.Add("Alpha");
        _agent.Add("gamma", ContainerState.Running);

        Assert.Equal(["Alpha", "beta", "gamma"], _ps.Ok("Get-Container").Select(o => (string)o.Properties["Name"].Value));
        Assert.Equal(["Alpha"], _ps.Ok("Get-Container a*").Select(o => (string)o.Properties["Name"].Value));
        Assert.Equal("Alpha", _ps.Ok($"Get-Container -ContainerId {alpha.Id}").Single().Properties["Name"].Value);
        Assert.Equal("Alpha", _ps.Ok($"Get-Container -Id {alpha.Id[..12]}").Single().Properties["Name"].Value);
        Assert.Empty(_ps.Ok("Get-Container zeta*")); // a pattern that matches nothing is no error
    }

    [Fact]
    public void Start_Stop_and_Kill_go_to_the_agent_and_PassThru_emits_the_container_as_it_is_now()
    {
        var c = _agent.Add("LIFE");

        Assert.Empty(_ps.Ok("Start-Container LIFE"));
        Assert.Equal(ContainerState.Running, _ps.Ok("(Get-Container LIFE).State").Single().BaseObject);

        var stopped = _ps.Ok("Get-Container LIFE | Stop-Container -TimeoutSeconds 5 -PassThru").Single();
        Assert.Equal(ContainerState.Stopped, stopped.Properties["State"].Value);
        Assert.Contains($"StopContainer {c.Id} 5", _agent.Calls);

        _ps.Ok($"Start-Container -ContainerId {c.Id}; Stop-Container -ContainerId {c.Id} -Kill");
        Assert.Contains($"TerminateContainer {c.Id}", _agent.Calls);
        Assert.Equal(ContainerState.Stopped, _agent.Containers.Single().State);
    }

    [Fact]
    public void Set_Container_converts_prints_nothing_without_PassThru_and_a_running_one_needs_Restart()
    {
        _agent.Add("CONV");

        var converted = _ps.Run("$con = Get-Container CONV; Set-Container $con -RuntimeType HyperV");
        Assert.Empty(converted.Errors);
        Assert.Empty(converted.Output); // as in the seed
        Assert.Equal(RuntimeType.HyperV, _agent.Containers.Single().RuntimeType);

        _ps.Ok("Start-Container CONV");
        AssertError(_ps.Run("Set-Container CONV -RuntimeType Default"), "InvalidTransition", ErrorCategory.InvalidOperation, "CONV");
        var back = _ps.Ok("Set-Container CONV -RuntimeType Default -Restart -PassThru").Single();
        Assert.Equal(RuntimeType.Default, back.Properties["RuntimeType"].Value);
        Assert.Contains(_agent.Calls, c => c.StartsWith("ConvertContainer", StringComparison.Ordinal) && c.EndsWith("Default True", StringComparison.Ordinal));
    }

    [Fact]
    public void Remove_Container_refuses_a_running_container_unless_Force()
    {
        _agent.Add("RUNS", ContainerState.Running);

        AssertError(_ps.Run("Remove-Container RUNS"), "InvalidTransition", ErrorCategory.InvalidOperation, "RUNS");
        _ps.Ok("Get-Container RUNS | Remove-Container -Force");
        Assert.Empty(_agent.Containers);
    }

    [Fact]
    public void WhatIf_changes_nothing_and_calls_no_command()
    {
        _agent.Add("WHATIF", ContainerState.Running);

        Assert.Empty(_ps.Ok("New-Container -Name NEVER -ContainerImageName nanoserver -WhatIf"));
        Assert.Empty(_ps.Ok("Start-Container WHATIF -WhatIf"));
        Assert.Empty(_ps.Ok("Stop-Container WHATIF -Kill -WhatIf"));
        Assert.Empty(_ps.Ok("Set-Container WHATIF -RuntimeType HyperV -Restart -WhatIf"));
        Assert.Empty(_ps.Ok("Get-Container WHATIF | Remove-Container -Force -WhatIf"));
        Assert.Empty(_ps.Ok("New-VMSwitch -Name LAB -WhatIf"));

        var commands = new[] { "Create", "Start", "Stop", "Terminate", "Convert", "Remove", "CreateSwitch" };
        Assert.DoesNotContain(_agent.Calls, c => commands.Any(command => c.StartsWith(command, StringComparison.Ordinal)));
        var after = _agent.Containers.Single();
        Assert.Equal((ContainerState.Running, RuntimeType.Default), (after.State, after.RuntimeType));
    }

    [Fact]
    public void Get_ComputeProcess_emits_each_compute_system_sorted_and_filters_by_type()
    {
        _agent.Add("VMCON", ContainerState.Running, RuntimeType.HyperV);
        _agent.Add("PROC", ContainerState.Running);

        var rows = _ps.Ok("Get-ComputeProcess");
        Assert.Equal(["PROC", "VMCON", "VMCON"], rows.Select(r => (string)r.Properties["Name"].Value));
        Assert.Equal([ComputeSystemType.Container, ComputeSystemType.Container, ComputeSystemType.VirtualMachine], rows.Select(r => (ComputeSystemType)r.Properties["Type"].Value));

        var vm = _ps.Ok("Get-ComputeProcess -Name vm* -Type VirtualMachine").Single();
        Assert.EndsWith("@vm", (string)vm.Properties["Id"].Value, StringComparison.Ordinal);
        Assert.Equal(4242, vm.Properties["HostPid"].Value);
        Assert.Equal("portal", vm.Properties["Owner"].Value);
        Assert.Matches(@"Id\s+Name\s+Owner\s+Type", _ps.Text("Get-ComputeProcess"));
    }

    [Fact]
    public void Get_ContainerProcess_is_shaped_like_Get_Process_with_the_hosts_pid()
    {
        var c = _agent.Add("PROCS", ContainerState.Running);
        _agent.Processes[c.Id] =
        [
            new ContainerProcessInfo { Pid = 7, HostPid = 1707, ParentPid = 1, User = "root", Name = "sleep", CommandLine = "sleep 300", CpuSeconds = 0.5, MemoryBytes = 1 << 20 },
            new ContainerProcessInfo { Pid = 1, HostPid = 1701, User = "root", Name = "sh", CommandLine = "sh", CpuSeconds = 0.1, MemoryBytes = 2 << 20 },
        ];

        var rows = _ps.Ok("Get-ContainerProcess PROCS");
        Assert.Equal([1, 7], rows.Select(r => (int)r.Properties["Id"].Value));
        var sleep = _ps.Ok("Get-ContainerProcess PROCS -ProcessName sl*").Single();
        Assert.Equal((1707, 0.5, 1L << 20, "PROCS"), ((int)sleep.Properties["HostId"].Value, (double)sleep.Properties["CPU"].Value, (long)sleep.Properties["WS"].Value, (string)sleep.Properties["ContainerName"].Value));
    }

    [Fact]
    public void Switches_are_listed_by_name_or_alias_created_and_refused_while_in_use()
    {
        Assert.Equal("NAT", _ps.Ok("Get-VMSwitch 'Virtual Switch'").Single().Properties["Name"].Value);
        var lab = _ps.Ok("New-VMSwitch -Name LAB -SwitchType Private").Single();
        Assert.Equal(SwitchType.Private, lab.Properties["SwitchType"].Value);

        _ps.Ok("New-Container -Name ONLAB -ContainerImageName nanoserver -SwitchName LAB | Out-Null");
        AssertError(_ps.Run("Remove-VMSwitch LAB"), "SwitchInUse", ErrorCategory.InvalidOperation, "remove them first");
        _ps.Ok("Remove-Container ONLAB; Remove-VMSwitch LAB");
        Assert.Empty(_ps.Ok("Get-VMSwitch LAB"));
    }
}
