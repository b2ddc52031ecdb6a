using Microsoft.Extensions.Logging.Abstractions;
using Portal.Agent.Audit;
using Portal.Compute;
using Portal.Compute.Audit;
using Portal.Compute.Containers;
using Portal.Contracts;
using Portal.Tests.Shared.Compute;

namespace Portal.Agent.Tests.Audit;

/// <summary>
/// The audited compute host over the in-memory fake: each state-changing call leaves exactly one entry, with the
/// caller the entry point set, the target as known before (failures) or after (success), and no secrets; reads leave
/// none. Unit tier: no root, no processes.
/// </summary>
public sealed class AuditedComputeHostTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("portal-audited-").FullName;
    private readonly AuditLog _log;
    private readonly FakeComputeHost _fake = new();
    private readonly AuditedComputeHost _host;

    private static readonly AuditCaller Caller = new()
    {
        Actor = new AuditActor { Kind = AuditActorKind.ApiKey, KeyId = "1a2b3c4d", KeyName = "ci", Name = "key ci (1a2b3c4d)" },
        EntryPoint = AuditEntryPoint.Hub,
        Source = "10.0.0.5:40000",
    };

    public AuditedComputeHostTests()
    {
        _log = new AuditLog(new AuditLogOptions { SyncEachEntry = false }, Path.Combine(_directory, "audit"));
        _host = new AuditedComputeHost(_fake, new AuditTrail(_log, "host-1", NullLogger<AuditTrail>.Instance));
    }

    public void Dispose()
    {
        _log.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private IReadOnlyList<AuditEntry> Entries => _log.Read(new AuditQuery { Limit = AuditQuery.MaxLimit }).Entries;

    [Fact]
    public async Task Each_lifecycle_call_leaves_one_entry_with_the_callers_identity_and_reads_leave_none()
    {
        AuditCaller.Current = Caller;
        var created = await _host.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "web", Image = "busybox", RuntimeType = RuntimeType.Default, Environment = ["PASSWORD=hunter2"] });
        await _host.Containers.StartContainerAsync("web");
        _host.Containers.ListContainers();
        _host.Containers.GetContainer("web");
        await _host.Containers.WaitAsync("web");
        await _host.Containers.KillContainerAsync("web", 15);
        await _host.Containers.RemoveContainerAsync(created.Id, force: true);

        var entries = Entries;
        Assert.Equal([AuditActions.ContainerCreate, AuditActions.ContainerStart, AuditActions.ContainerKill, AuditActions.ContainerRemove], entries.Select(e => e.Action));
        Assert.All(entries, e =>
        {
            Assert.Equal(Caller.Actor, e.Actor);
            Assert.Equal((AuditEntryPoint.Hub, "10.0.0.5:40000", AuditDecision.Allowed, AuditResult.Ok), (e.EntryPoint, e.Source, e.Decision, e.Result));
            Assert.Equal(new AuditTarget { Host = "host-1", Type = "container", Id = created.Id, Name = "web" }, e.Target);
        });
        Assert.Equal((RuntimeType.Default, RuntimeType.Default), (entries[0].RequestedIsolation, entries[0].EffectiveIsolation));
        Assert.Equal("15", entries[2].Details!["signal"]);
        Assert.DoesNotContain("hunter2", string.Concat(Directory.GetFiles(_log.Directory).Select(File.ReadAllText)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failed_call_is_recorded_once_with_its_error_and_the_reference_it_was_given()
    {
        AuditCaller.Current = Caller;
        var error = await Assert.ThrowsAsync<ComputeException>(() => _host.Containers.RemoveContainerAsync("ghost"));
        await Assert.ThrowsAsync<ComputeException>(() => _host.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "bad", Image = "no-such-image" }));

        var entries = Entries;
        Assert.Equal(2, entries.Count);
        Assert.Equal((AuditActions.ContainerRemove, AuditResult.Failed, AuditDecision.Allowed), (entries[0].Action, entries[0].Result, entries[0].Decision));
        Assert.Equal($"{error.Code}: {error.Message}", entries[0].Error);
        Assert.Equal((null, "ghost"), (entries[0].Target!.Id, entries[0].Target!.Name));
        Assert.Equal((AuditActions.ContainerCreate, AuditResult.Failed, "bad"), (entries[1].Action, entries[1].Result, entries[1].Target!.Name));
        Assert.StartsWith("ImageNotFound", entries[1].Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exec_records_only_the_executable_and_switches_are_recorded_too()
    {
        AuditCaller.Current = Caller;
        await _host.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "box", Image = "busybox" });
        await _host.Containers.StartContainerAsync("box");
        // The fake runs no processes (it throws); the attempt is recorded all the same, as a failure.
        await Assert.ThrowsAsync<NotSupportedException>(() => _host.Containers.ExecAsync("box", new ProcessSpec { Command = ["sh", "-c", "echo $TOKEN"], Environment = ["TOKEN=s3cr3t"] }));

        await _host.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "lan", Type = SwitchType.Internal });
        await _host.Switches.RemoveSwitchAsync("lan");

        var exec = Assert.Single(Entries, e => e.Action == AuditActions.ContainerExec);
        Assert.Equal(("sh", AuditResult.Failed), (exec.Details!["command"], exec.Result));
        Assert.DoesNotContain("TOKEN", string.Concat(Directory.GetFiles(_log.Directory).Select(File.ReadAllText)), StringComparison.Ordinal);
        var switches = Entries.Where(e => e.Target?.Type == "switch").ToList();
        Assert.Equal([AuditActions.SwitchCreate, AuditActions.SwitchRemove], switches.Select(e => e.Action));
        Assert.All(switches, e => Assert.Equal("lan", e.Target!.Name));
        Assert.NotNull(switches[1].Target!.Id);
    }

    [Fact]
    public async Task Without_a_caller_the_agent_is_named_and_the_docker_auto_remover_names_itself()
    {
        AuditCaller.Current = null;
        await _host.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "orphan", Image = "busybox" });
        AuditCaller.Current = AuditCaller.Agent("docker --rm", AuditEntryPoint.Docker);
        await _host.Containers.RemoveContainerAsync("orphan");

        var entries = Entries;
        Assert.Equal((AuditActorKind.Agent, "agent (internal)", AuditEntryPoint.Agent), (entries[0].Actor.Kind, entries[0].Actor.Name, entries[0].EntryPoint));
        Assert.Equal(("agent (docker --rm)", AuditEntryPoint.Docker), (entries[1].Actor.Name, entries[1].EntryPoint));
    }

    [Theory]
    [InlineData("Portal.PowerShell/1.0", false, AuditEntryPoint.PowerShell)]
    [InlineData("Microsoft SignalR/10.0 (10.0.0; Linux; .NET; .NET 10.0) Portal.PowerShell/1.0", true, AuditEntryPoint.PowerShell)]
    [InlineData("Portal.Web/1.0", true, AuditEntryPoint.Portal)]
    [InlineData("curl/8.5.0", false, AuditEntryPoint.Rest)]
    [InlineData(null, true, AuditEntryPoint.Hub)]
    [InlineData("Portal.PowerShellish", false, AuditEntryPoint.Rest)]
    public void The_entry_point_comes_from_the_clients_user_agent_else_from_the_path(string? userAgent, bool hub, AuditEntryPoint expected) =>
        Assert.Equal(expected, AuditCallers.EntryPointOf(userAgent, hub));
}
