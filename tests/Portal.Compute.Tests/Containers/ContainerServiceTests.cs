using Microsoft.Extensions.Logging.Abstractions;
using Portal.Compute.Containers;
using Portal.Compute.Images;
using Portal.Compute.Tests.Fakes;
using Portal.Contracts;

namespace Portal.Compute.Tests.Containers;

/// <summary>
/// The container service's own logic (lifecycle, names, persistence, events, conversion, recovery) over fake drivers,
/// a seeded image store and empty scratch files: the unit tier, no root and no external processes.
/// </summary>
public sealed class ContainerServiceTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("portal-service-").FullName;
    private readonly FakeIsolationDriver _driver = new(RuntimeType.Default);
    private readonly FakeIsolationDriver _vmDriver = new(RuntimeType.HyperV);
    private readonly List<ContainerEvent> _events = [];
    private readonly EmptyScratchDisks _scratchDisks = new();
    private ComputeHost _compute = null!;
    private ImageStore _images = null!;

    private ComputeOptions Options => new() { StateRoot = _root, DefaultStopTimeout = TimeSpan.FromMilliseconds(200) };

    public async Task InitializeAsync()
    {
        _images = SeededImageStore.Open(Path.Combine(_root, "images"), Options.ImageAliases);
        _compute = await OpenAsync();
    }

    private async Task<ComputeHost> OpenAsync()
    {
        var compute = await ComputeHost.OpenAsync(Options, _images, [_driver, _vmDriver], NullLoggerFactory.Instance, CancellationToken.None, scratchDisks: _scratchDisks);
        compute.Containers.Changed += e =>
        {
            lock (_events)
            {
                _events.Add(e);
            }
        };
        return compute;
    }

    [Fact]
    public async Task The_lifecycle_is_enforced_with_clear_errors()
    {
        var c = await _compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "DEMO", Image = "nanoserver" });
        Assert.Equal(["sh"], c.Command);

        Assert.Equal(ContainerState.Created, (await _compute.Containers.ShutdownContainerAsync("DEMO")).State); // stopping what is not running is a no-op, as docker stop
        await AssertFails(ComputeErrorCode.InvalidTransition, () => _compute.Containers.KillContainerAsync("DEMO", 9), "start it first");
        await _compute.Containers.StartContainerAsync("DEMO");
        await AssertFails(ComputeErrorCode.InvalidTransition, () => _compute.Containers.StartContainerAsync("DEMO"), "already running");
        await AssertFails(ComputeErrorCode.InvalidTransition, () => _compute.Containers.RemoveContainerAsync("DEMO"), "remove it with force");
        await _compute.Containers.ShutdownContainerAsync("DEMO");
        Assert.Equal(143, _compute.Containers.GetContainer("DEMO").ExitCode);
        await AssertFails(ComputeErrorCode.InvalidTransition, () => _compute.Containers.ExecAsync("DEMO", new ProcessSpec { Command = ["ls"] }), "start it before");
        await _compute.Containers.RemoveContainerAsync("DEMO");
        await AssertFails(ComputeErrorCode.ContainerNotFound, () => Task.FromResult(_compute.Containers.GetContainer("DEMO")), "No such container");

        Assert.Equal(
            [ContainerEventKind.Created, ContainerEventKind.Started, ContainerEventKind.Stopping, ContainerEventKind.Stopped, ContainerEventKind.Removed],
            _events.Select(e => e.Kind));
    }

    [Fact]
    public async Task Stop_escalates_to_kill_after_the_timeout()
    {
        await _compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "stubborn", Image = "busybox" });
        var started = await _compute.Containers.StartContainerAsync("stubborn");
        _driver.Running[started.Id].IgnoresTerm = true;
        var stopped = await _compute.Containers.ShutdownContainerAsync("stubborn", TimeSpan.FromMilliseconds(100));
        Assert.Equal(137, stopped.ExitCode);
        Assert.Contains("killed after ignoring SIGTERM", stopped.StopReason);
    }

    [Fact]
    public async Task Bad_input_is_refused_and_nothing_is_created()
    {
        await AssertFails(ComputeErrorCode.InvalidArgument, () => _compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "bad name", Image = "busybox" }), "Invalid container name");
        await AssertFails(ComputeErrorCode.ImageNotFound, () => _compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Image = "nosuchimage" }), "nosuchimage");
        await AssertFails(ComputeErrorCode.InvalidArgument, () => _compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Image = "busybox", Limits = new ContainerLimits { MemoryBytes = 1024 } }), "at least 6 MiB");
        await AssertFails(ComputeErrorCode.InvalidArgument, () => _compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Image = "busybox", Limits = new ContainerLimits { Cpus = 999 } }), "CPU limit");
        await AssertFails(ComputeErrorCode.InvalidArgument, () => _compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Image = "busybox", Limits = new ContainerLimits { LogMaxBytes = 100 } }), "log's maximum size must be at least 4096 bytes");
        await AssertFails(ComputeErrorCode.InvalidArgument, () => _compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Image = "busybox", Limits = new ContainerLimits { LogMaxFiles = 0 } }), "number of log files must be 1 to 100");
        await AssertFails(ComputeErrorCode.InvalidArgument, () => _compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Image = "busybox", Environment = ["=x"] }), "NAME=value");
        await AssertFails(ComputeErrorCode.InvalidArgument, () => _compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Image = "busybox", WorkingDirectory = "relative" }), "absolute");
        await AssertFails(ComputeErrorCode.InvalidArgument, () => _compute.Containers.KillContainerAsync("x", 99), "Signal 99");
        Assert.Empty(_compute.Containers.ListContainers());
        Assert.Empty(Directory.EnumerateDirectories(Path.Combine(_root, "containers")));

        await _compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "taken", Image = "busybox" });
        await AssertFails(ComputeErrorCode.NameInUse, () => _compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "taken", Image = "busybox" }), "already used");
        Assert.Single(_compute.Containers.ListContainers());
    }

    [Fact]
    public async Task Containers_are_found_by_name_id_or_unique_prefix()
    {
        var c = await _compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "finder", Image = "busybox" });
        Assert.Equal(c.Id, _compute.Containers.GetContainer("finder").Id);
        Assert.Equal(c.Id, _compute.Containers.GetContainer(c.Id).Id);
        Assert.Equal(c.Id, _compute.Containers.GetContainer(c.Id[..12]).Id);
        Assert.Equal(c.Id, _compute.Containers.GetContainer("/finder").Id);
    }

    [Fact]
    public async Task State_survives_a_restart_and_exits_while_away_are_recorded()
    {
        await _compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "keeper", Image = "busybox" });
        await _compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "runner", Image = "busybox" });
        await _compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "quitter", Image = "busybox" });
        var runner = await _compute.Containers.StartContainerAsync("runner");
        var quitter = await _compute.Containers.StartContainerAsync("quitter");
        await _compute.DisposeAsync();
        _driver.Running.TryRemove(quitter.Id, out _); // it ends while no agent is watching
        _driver.ExitWhileAway = new ContainerExit(17);

        // A crash in the middle of creating a container leaves a directory without a record.
        Directory.CreateDirectory(Path.Combine(_root, "containers", "half-made"));

        _compute = await OpenAsync();
        Assert.Equal(ContainerState.Created, _compute.Containers.GetContainer("keeper").State);
        Assert.Equal(ContainerState.Running, _compute.Containers.GetContainer("runner").State);
        Assert.Equal(runner.HostPid, _compute.Containers.GetContainer("runner").HostPid);
        var quit = _compute.Containers.GetContainer("quitter");
        Assert.Equal(ContainerState.Stopped, quit.State);
        Assert.Equal(17, quit.ExitCode);
        Assert.False(Directory.Exists(Path.Combine(_root, "containers", "half-made")));

        // The re-adopted container is watched again: its exit is recorded.
        _driver.Running[runner.Id].Exit(3);
        var done = await _compute.Containers.WaitAsync("runner").WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(3, done.ExitCode);
    }

    [Fact]
    public async Task Compute_systems_are_enumerated_and_filtered()
    {
        await _compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "TST", Image = "busybox" });
        await _compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "TST2", Image = "busybox", Labels = new Dictionary<string, string> { ["owner"] = "team-a" } });
        var all = _compute.HostProcesses.EnumerateComputeSystems();
        Assert.Equal(["TST", "TST2"], all.Select(s => s.Name));
        Assert.All(all, s => Assert.Equal(ComputeSystemType.Container, s.Type));
        Assert.Equal(["TST2"], _compute.HostProcesses.EnumerateComputeSystems(new ComputeSystemQuery { Owners = ["team-a"] }).Select(s => s.Name));
        Assert.Equal(["TST"], _compute.HostProcesses.EnumerateComputeSystems(new ComputeSystemQuery { Names = ["tst"] }).Select(s => s.Name));
        Assert.Empty(_compute.HostProcesses.EnumerateComputeSystems(new ComputeSystemQuery { Types = [ComputeSystemType.VirtualMachine] }));
    }

    [Fact]
    public async Task Conversion_changes_the_runtime_and_keeps_the_disk()
    {
        var c = await _compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "DEMO", Image = "nanoserver" });
        Assert.Equal(RuntimeType.Default, c.RuntimeType);
        var scratch = Path.Combine(_root, "containers", c.Id, "scratch.ext4");
        var before = File.GetLastWriteTimeUtc(scratch);

        var converted = await _compute.Containers.ConvertContainerAsync("DEMO", RuntimeType.HyperV);
        Assert.Equal(RuntimeType.HyperV, converted.RuntimeType);
        Assert.Equal(before, File.GetLastWriteTimeUtc(scratch)); // no copy, no rewrite
        Assert.Equal(RuntimeType.HyperV, (await OpenAgainAsync()).Containers.GetContainer("DEMO").RuntimeType); // persisted

        await _compute.Containers.StartContainerAsync("DEMO");
        Assert.Contains("start DEMO", _vmDriver.Calls);
        await AssertFails(ComputeErrorCode.InvalidTransition, () => _compute.Containers.ConvertContainerAsync("DEMO", RuntimeType.Default), "convert with restart");

        var progress = new List<OperationStep>();
        var restarted = await _compute.Containers.ConvertContainerAsync("DEMO", RuntimeType.Default, restart: true, new SynchronousProgress<OperationStep>(progress.Add));
        Assert.Equal(RuntimeType.Default, restarted.RuntimeType);
        Assert.Equal(["Stopping DEMO", "Converting DEMO from HyperV to Default", "Starting DEMO with Default"], progress.Select(s => s.Message));
        Assert.All(progress, s => Assert.Equal(3, s.Steps));
        Assert.Equal([1, 2, 3], progress.Select(s => s.Step));
        Assert.Equal(ContainerState.Running, restarted.State);
        Assert.Contains("start DEMO", _driver.Calls);
        Assert.Contains(_events, e => e.Kind == ContainerEventKind.Converted);
    }

    [Fact]
    public async Task A_vm_written_scratch_disk_that_fails_the_host_mount_check_is_not_converted_and_the_container_stays_as_it_was()
    {
        var c = await _compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "DEMO", Image = "nanoserver", RuntimeType = RuntimeType.HyperV });
        await _compute.Containers.StartContainerAsync("DEMO");
        _scratchDisks.HostMountProblem = "e2fsck -n found problems (exit code 4): Root inode is not a directory.";

        var error = await Assert.ThrowsAsync<ComputeException>(() => _compute.Containers.ConvertContainerAsync("DEMO", RuntimeType.Default, restart: true));
        Assert.Equal(ComputeErrorCode.InvalidArgument, error.Code);
        Assert.Contains("DEMO was not converted to Default", error.Message);
        Assert.Contains("Root inode is not a directory", error.Message);
        Assert.Contains("Start it as HyperV and stop it cleanly", error.Message);
        var after = _compute.Containers.GetContainer("DEMO");
        Assert.Equal((RuntimeType.HyperV, ContainerState.Running), (after.RuntimeType, after.State)); // running again, in its own runtime
        Assert.DoesNotContain(_events, e => e.Kind == ContainerEventKind.Converted);
        Assert.DoesNotContain("start DEMO", _driver.Calls);
        Assert.Equal(RuntimeType.HyperV, (await OpenAgainAsync()).Containers.GetContainer(c.Id).RuntimeType);

        // Process isolation to VM isolation never asks: the guest kernel, not the host's, mounts the disk then.
        var other = await _compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "OTHER", Image = "nanoserver" });
        Assert.Equal(RuntimeType.HyperV, (await _compute.Containers.ConvertContainerAsync(other.Id, RuntimeType.HyperV)).RuntimeType);
    }

    private async Task<ComputeHost> OpenAgainAsync()
    {
        await _compute.DisposeAsync();
        _compute = await OpenAsync();
        return _compute;
    }

    [Fact]
    public async Task A_stop_grace_longer_than_a_timer_can_wait_still_stops_the_container()
    {
        await _compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "patient", Image = "nanoserver" });
        await _compute.Containers.StartContainerAsync("patient");

        // docker stop -t 99999999: a TimeSpan beyond Task.WaitAsync's limit (about 49 days) threw after SIGTERM was sent.
        var stopped = await _compute.Containers.ShutdownContainerAsync("patient", TimeSpan.FromDays(1000));

        Assert.Equal(ContainerState.Stopped, stopped.State);
    }

    [Fact]
    public async Task Security_options_are_normalized_kept_and_refused_where_the_isolation_cannot_honour_them()
    {
        _vmDriver.RefuseSecurity = "not with VM isolation";
        var spec = new ContainerCreateSpec
        {
            Name = "locked",
            Image = "nanoserver",
            Security = new ContainerSecurity { CapabilityDrop = ["all"], CapabilityAdd = ["net_bind_service"], ReadOnlyRootFilesystem = true },
        };

        var c = await _compute.Containers.CreateContainerAsync(spec);
        Assert.Equal(["ALL"], c.Security.CapabilityDrop);
        Assert.Equal(["CAP_NET_BIND_SERVICE"], c.Security.CapabilityAdd);
        Assert.True(c.Security.ReadOnlyRootFilesystem);

        // Kept across an agent restart (container.json).
        await _compute.DisposeAsync();
        _compute = await OpenAsync();
        Assert.Equal(["ALL"], _compute.Containers.GetContainer("locked").Security.CapabilityDrop);

        await AssertFails(ComputeErrorCode.InvalidArgument, () => _compute.Containers.CreateContainerAsync(spec with { Name = "vm", RuntimeType = RuntimeType.HyperV }), "not with VM isolation");
        await AssertFails(ComputeErrorCode.InvalidArgument, () => _compute.Containers.ConvertContainerAsync("locked", RuntimeType.HyperV), "Cannot convert locked to HyperV: not with VM isolation");
        Assert.Equal(RuntimeType.Default, _compute.Containers.GetContainer("locked").RuntimeType);
        await AssertFails(ComputeErrorCode.InvalidArgument, () => _compute.Containers.CreateContainerAsync(spec with { Name = "bad", Security = new ContainerSecurity { CapabilityAdd = ["CAP_FLY"] } }), "Unknown capability 'CAP_FLY'");
        Assert.Single(_compute.Containers.ListContainers());
    }

    private static async Task AssertFails(ComputeErrorCode code, Func<Task> action, string messagePart)
    {
        var e = await Assert.ThrowsAsync<ComputeException>(action);
        Assert.Equal(code, e.Code);
        Assert.Contains(messagePart, e.Message, StringComparison.OrdinalIgnoreCase);
    }

    public async Task DisposeAsync()
    {
        await _compute.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }
}
