using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Portal.Compute.Images;
using Portal.Compute.Networking;
using Portal.Compute.Storage;
using Portal.Contracts;

namespace Portal.Compute.Containers;

/// <summary>
/// The container lifecycle (containerd's runtime beside its record store): create, start, stop, kill, remove and convert,
/// each checked against <see cref="ContainerLifecycle"/>; watching every run until it exits; re-adopting what runs after
/// an agent restart. It picks the isolation driver by runtime type; nothing else does.
/// </summary>
public sealed class ContainerService : IContainerService, IAsyncDisposable
{
    private const int SigKill = 9;
    private const int SigTerm = 15;

    /// <summary>The longest stop grace a timer can wait; longer ones wait as long as it takes.</summary>
    private static readonly TimeSpan MaxGrace = TimeSpan.FromDays(30);

    private readonly ComputeOptions _options;
    private readonly ContainerStore _store;
    private readonly ContainerRuns _runs;
    private readonly ContainerStreams _streams;
    private readonly ImageStore _images;
    private readonly IScratchDiskFactory _scratch;
    private readonly IContainerNetwork _network;
    private readonly ContainerDrivers _drivers;
    private readonly ContainerEvents _events;
    private readonly ContainerMonitor _monitor;
    private readonly SwitchMembership _members;
    private readonly ContainerRecovery _recovery;
    private readonly ILogger _logger;
    private int _disposed;

    public ContainerService(ComputeOptions options, ContainerStore store, ContainerRuns runs, ImageStore images, IScratchDiskFactory scratch,
        IContainerNetwork network, IEnumerable<IIsolationDriver> drivers, ILoggerFactory loggers)
    {
        _options = options;
        _store = store;
        _runs = runs;
        _streams = new ContainerStreams(store, _runs);
        _images = images;
        _scratch = scratch;
        _network = network;
        _drivers = new ContainerDrivers(drivers, store, images, new LogRotation(options.LogMaxSizeBytes, options.LogMaxFiles));
        _events = new ContainerEvents(loggers.CreateLogger<ContainerEvents>());
        _monitor = new ContainerMonitor(store, _drivers, network, _events, loggers.CreateLogger<ContainerMonitor>());
        _members = new SwitchMembership(store, _runs, network, loggers.CreateLogger<SwitchMembership>());
        _recovery = new ContainerRecovery(store, _runs, _drivers, network, _monitor, _members, loggers.CreateLogger<ContainerRecovery>());
        _logger = loggers.CreateLogger<ContainerService>();
    }

    /// <summary>
    /// Loads persisted containers, re-adopts those still running, records the exits of those that ended, and cleans up
    /// what a crash left half made. A stop the agent was carrying out when it died is finished: SIGTERM again, SIGKILL
    /// after the host's default grace period (the caller's own timeout died with the agent).
    /// </summary>
    public async Task InitializeAsync(CancellationToken ct)
    {
        await _recovery.RecoverAsync(ct).ConfigureAwait(false);
        foreach (var record in _store.List().Where(r => r.State == ContainerState.Stopping))
        {
            _ = FinishStopAsync(record);
        }
    }

    private async Task FinishStopAsync(ContainerRecord record)
    {
        try
        {
            _logger.LogInformation("Finishing the stop of container {Name}, begun before the agent restarted", record.Name);
            await ShutdownContainerAsync(record.Id).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ComputeException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            _logger.LogWarning(e, "Could not finish stopping container {Name} after the agent restarted", record.Name);
        }
    }

    public event Action<ContainerEvent>? Changed
    {
        add => _events.Changed += value;
        remove => _events.Changed -= value;
    }

    public IReadOnlyCollection<RuntimeType> RuntimeTypes => _drivers.RuntimeTypes;

    public RuntimeType DefaultRuntimeType => _options.DefaultRuntimeType;

    // ---- queries ----

    public IReadOnlyList<ContainerInfo> ListContainers() => _store.List().Select(r => r.ToInfo()).ToList();

    public ContainerInfo GetContainer(string idOrName) => _store.Find(idOrName).ToInfo();

    public Task<IReadOnlyList<ContainerProcessInfo>> GetProcessesAsync(string idOrName, CancellationToken ct = default) =>
        RunningOf(idOrName, ContainerOperation.Exec).ListProcessesAsync(ct);

    public Task<ContainerStatistics> GetStatisticsAsync(string idOrName, CancellationToken ct = default)
    {
        var record = _store.Find(idOrName);
        if (_runs.RunningOf(record.Id) is { } running)
        {
            return running.GetStatisticsAsync(ct);
        }

        return Task.FromResult(new ContainerStatistics
        {
            Timestamp = DateTimeOffset.UtcNow,
            CpuSeconds = 0,
            MemoryBytes = 0,
            MemoryLimitBytes = record.Limits.MemoryBytes,
            Pids = 0,
            PidsLimit = record.Limits.PidsLimit ?? _options.DefaultPidsLimit,
        });
    }

    /// <summary>Sampled concurrently; a container that stops while it is sampled (or whose guest does not answer) is left out.</summary>
    public async Task<IReadOnlyDictionary<string, ContainerStatistics>> GetAllStatisticsAsync(CancellationToken ct = default)
    {
        var samples = await Task.WhenAll(_runs.Running().Select(async e =>
        {
            try
            {
                return (e.Id, Statistics: await e.Container.GetStatisticsAsync(ct).ConfigureAwait(false));
            }
            catch (Exception x) when (x is ComputeException or IOException or UnauthorizedAccessException)
            {
                // Its cgroup went away with it, or its guest did not answer: the others still count.
                return (e.Id, Statistics: (ContainerStatistics?)null);
            }
        })).ConfigureAwait(false);
        return samples.Where(s => s.Statistics is not null).ToDictionary(s => s.Id, s => s.Statistics!);
    }

    public IAsyncEnumerable<LogEntry> ReadLogsAsync(string idOrName, int? tail, bool follow, CancellationToken ct = default) =>
        _streams.ReadLogsAsync(idOrName, tail, follow, ct);

    public Task<ContainerAttachment> AttachAsync(string idOrName, bool includeEarlierOutput, bool stdin, CancellationToken ct = default) =>
        Task.FromResult(_streams.Attach(idOrName, includeEarlierOutput, stdin, ct));

    public async Task<ContainerInfo> WaitAsync(string idOrName, CancellationToken ct = default)
    {
        var record = _store.Find(idOrName);
        if (record.State != ContainerState.Created)
        {
            await _runs.Of(record.Id).Exit.Task.WaitAsync(ct).ConfigureAwait(false);
        }

        // The exit completes after the record is saved as stopped.
        return Current(record.Id).ToInfo();
    }

    // ---- commands ----

    public async Task<ContainerInfo> CreateContainerAsync(ContainerCreateSpec spec, CancellationToken ct = default)
    {
        ContainerDefinition.Validate(spec, Environment.ProcessorCount);
        var runtimeType = spec.RuntimeType ?? _options.DefaultRuntimeType;
        // Fails early when this host lacks the runtime type, or the isolation cannot honour the security options.
        _drivers.For(runtimeType).CheckSecurity(ContainerSecurityPolicy.Normalize(spec.Security));
        var image = _images.Resolve(spec.Image);
        var record = await _store.ReserveAsync(() =>
        {
            var name = spec.Name is null ? ContainerNames.Generate(_store.NameTaken) : ContainerNames.Validate(spec.Name);
            if (_store.NameTaken(name))
            {
                throw new ComputeException(ComputeErrorCode.NameInUse, $"The name '{name}' is already used by another container; remove that one or choose another name.");
            }

            var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
            var network = _network.Reserve(id, spec.SwitchName, spec.Ports ?? [], _store.List());
            var record = ContainerDefinition.Build(spec, image, runtimeType, id, name, network, DateTimeOffset.UtcNow);
            _store.Add(record); // reserves the name and the address; removed again if creation fails
            return record;
        }, ct).ConfigureAwait(false);

        try
        {
            Directory.CreateDirectory(_store.DirectoryOf(record.Id));
            await _scratch.CreateAsync(_store.ScratchPath(record.Id), ct).ConfigureAwait(false);
            CrashPoints.Reach(CrashPoints.CreateScratchMade);
            await _store.SaveAsync(record, ct).ConfigureAwait(false);
            CrashPoints.Reach(CrashPoints.CreateSaved);
        }
        catch
        {
            _store.Delete(record.Id);
            throw;
        }

        _events.Raise(ContainerEventKind.Created, record);
        await _members.RefreshAsync(record.SwitchId, ct).ConfigureAwait(false);
        return record.ToInfo();
    }

    public async Task<ContainerInfo> StartContainerAsync(string idOrName, CancellationToken ct = default)
    {
        var id = _store.Find(idOrName).Id;
        var run = _runs.Of(id);
        await run.Lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var record = Current(id);
            ContainerLifecycle.Ensure(record.State, ContainerOperation.Start, record.Name);
            var image = _images.Resolve(record.ImageId);
            var logPath = _store.LogPath(record.Id);
            var logOffset = File.Exists(logPath) ? new FileInfo(logPath).Length : 0;
            IContainer container;
            try
            {
                var network = await _network.AttachAsync(record, _store.List(), ct).ConfigureAwait(false);
                CrashPoints.Reach(CrashPoints.StartNetworkAttached);
                try
                {
                    container = await _drivers.For(record.RuntimeType).StartAsync(_drivers.Context(record) with { ImageDiskPath = image.DiskPath, Network = network }, ct).ConfigureAwait(false);
                    CrashPoints.Reach(CrashPoints.StartDriverStarted);
                }
                catch
                {
                    await _network.DetachAsync(record, CancellationToken.None).ConfigureAwait(false);
                    throw;
                }
            }
            catch (ComputeException e)
            {
                _events.Raise(ContainerEventKind.Failed, record, e.Message);
                throw;
            }

            run.Running = container;
            run.Exit = ContainerRun.NewExit();
            if (record.Tty)
            {
                // A new terminal has no size; programs such as stty and editors need one.
                try
                {
                    await container.ResizeAsync(run.TerminalSize.Columns, run.TerminalSize.Rows, ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or ComputeException)
                {
                    _logger.LogWarning(e, "Could not size the terminal of container {Name}", record.Name);
                }
            }

            run.PendingStopReason = null;
            var started = record with
            {
                State = ContainerState.Running,
                StartedAt = DateTimeOffset.UtcNow,
                FinishedAt = null,
                ExitCode = null,
                StopReason = null,
                HostPid = container.HostPid,
                LogOffset = logOffset,
            };
            await _store.SaveAsync(started, CancellationToken.None).ConfigureAwait(false);
            CrashPoints.Reach(CrashPoints.StartSaved);
            _monitor.Watch(record.Id, run, container);
            var nextStart = run.NextStart;
            run.NextStart = new(TaskCreationOptions.RunContinuationsAsynchronously);
            nextStart.SetResult();
            _events.Raise(ContainerEventKind.Started, started);
            return started.ToInfo();
        }
        finally
        {
            run.Lock.Release();
        }
    }

    public async Task<ContainerInfo> ShutdownContainerAsync(string idOrName, TimeSpan? timeout = null, CancellationToken ct = default)
    {
        var id = _store.Find(idOrName).Id;
        var run = _runs.Of(id);
        if (!await SignalForStopAsync(id, run, SigTerm, "stopped by request", ct).ConfigureAwait(false))
        {
            return Current(id).ToInfo();
        }

        var grace = timeout ?? _options.DefaultStopTimeout;
        try
        {
            // Timers cannot wait longer than about 49 days: a longer grace (docker stop -t 99999999) waits as long as it takes.
            var wait = grace < TimeSpan.Zero ? TimeSpan.Zero : grace > MaxGrace ? Timeout.InfiniteTimeSpan : grace;
            await run.Exit.Task.WaitAsync(wait, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _logger.LogInformation("Container {Name} did not stop within {Timeout}; killing it", Current(id).Name, grace);
            run.PendingStopReason = $"stopped by request; killed after ignoring SIGTERM for {grace.TotalSeconds:0.#} s";
            await SignalForStopAsync(id, run, SigKill, run.PendingStopReason, ct).ConfigureAwait(false);
            await run.Exit.Task.WaitAsync(ct).ConfigureAwait(false);
        }

        await run.ReleasedAsync(ct).ConfigureAwait(false);
        return Current(id).ToInfo();
    }

    public async Task<ContainerInfo> RestartContainerAsync(string idOrName, TimeSpan? timeout = null, CancellationToken ct = default)
    {
        var stopped = await ShutdownContainerAsync(idOrName, timeout, ct).ConfigureAwait(false);
        return await StartContainerAsync(stopped.Id, ct).ConfigureAwait(false);
    }

    public async Task<ContainerInfo> TerminateContainerAsync(string idOrName, CancellationToken ct = default)
    {
        var id = _store.Find(idOrName).Id;
        var run = _runs.Of(id);
        if (await SignalForStopAsync(id, run, SigKill, "terminated by request", ct).ConfigureAwait(false))
        {
            await run.Exit.Task.WaitAsync(ct).ConfigureAwait(false);
            await run.ReleasedAsync(ct).ConfigureAwait(false);
        }

        return Current(id).ToInfo();
    }

    public async Task KillContainerAsync(string idOrName, int signal, CancellationToken ct = default)
    {
        if (signal is < 1 or > 64)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Signal {signal} does not exist; use 1 to 64 (for example 15 for TERM, 9 for KILL).");
        }

        await RunningOf(idOrName, ContainerOperation.Kill).SignalAsync(signal, ct).ConfigureAwait(false);
    }

    public async Task RemoveContainerAsync(string idOrName, bool force = false, CancellationToken ct = default)
    {
        var found = _store.Find(idOrName);
        ContainerLifecycle.Ensure(found.State, force ? ContainerOperation.ForceRemove : ContainerOperation.Remove, found.Name);
        if (found.State is ContainerState.Running or ContainerState.Stopping)
        {
            await TerminateContainerAsync(found.Id, ct).ConfigureAwait(false);
        }

        var run = _runs.Of(found.Id);
        ContainerRecord record;
        await run.Lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            record = Current(found.Id);
            ContainerLifecycle.Ensure(record.State, ContainerOperation.Remove, record.Name);
            await _drivers.CleanupAsync(record, ct).ConfigureAwait(false);
            CrashPoints.Reach(CrashPoints.RemoveCleanedUp);
            await _network.DetachAsync(record, ct).ConfigureAwait(false);
            CrashPoints.Reach(CrashPoints.RemoveDetached);
            _store.Delete(record.Id);
            _runs.Forget(record.Id);
            _events.Raise(ContainerEventKind.Removed, record);
        }
        finally
        {
            run.Lock.Release();
        }

        await _members.RefreshAsync(record.SwitchId, ct).ConfigureAwait(false);
    }

    public Task<IContainerProcess> ExecAsync(string idOrName, ProcessSpec spec, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Columns is < 1 or > 1000 || spec.Rows is < 1 or > 1000)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "Terminal size must be 1 to 1000 columns and rows.");
        }

        return RunningOf(idOrName, ContainerOperation.Exec).ExecAsync(spec, ct);
    }

    /// <summary>Only the record changes, so the time does not depend on the disk's size.</summary>
    public async Task<ContainerInfo> ConvertContainerAsync(string idOrName, RuntimeType target, bool restart = false, IProgress<OperationStep>? progress = null, CancellationToken ct = default)
    {
        var found = _store.Find(idOrName);
        if (!Enum.IsDefined(target))
        {
            throw ContainerDefinition.UnknownRuntimeType(target);
        }

        var targetDriver = _drivers.For(target);
        if (found.RuntimeType == target)
        {
            return found.ToInfo();
        }

        try
        {
            targetDriver.CheckSecurity(found.Security);
        }
        catch (ComputeException e) when (e.Code == ComputeErrorCode.InvalidArgument)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Cannot convert {found.Name} to {target}: {e.Message}");
        }

        var wasRunning = found.State is ContainerState.Running or ContainerState.Stopping;
        var steps = wasRunning ? 3 : 1;
        if (wasRunning)
        {
            if (!restart)
            {
                ContainerLifecycle.Ensure(found.State, ContainerOperation.Convert, found.Name);
            }

            progress?.Report(new OperationStep(1, steps, $"Stopping {found.Name}"));
            await ShutdownContainerAsync(found.Id, null, ct).ConfigureAwait(false);
        }

        var run = _runs.Of(found.Id);
        ContainerRecord? converted = null;
        ComputeException? refused = null;
        await run.Lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var record = Current(found.Id);
            ContainerLifecycle.Ensure(record.State, ContainerOperation.Convert, record.Name);
            progress?.Report(new OperationStep(steps == 1 ? 1 : 2, steps, $"Converting {record.Name} from {record.RuntimeType} to {target}"));
            await _drivers.CleanupAsync(record, ct).ConfigureAwait(false);
            CrashPoints.Reach(CrashPoints.ConvertCleanedUp);
            if (record.RuntimeType == RuntimeType.HyperV && target == RuntimeType.Default
                && await _scratch.HostMountProblemAsync(_store.ScratchPath(record.Id), ct).ConfigureAwait(false) is { } problem)
            {
                // A guest wrote this disk; process isolation would have the host kernel mount it. Nothing changed yet.
                refused = new ComputeException(
                    ComputeErrorCode.InvalidArgument,
                    $"Container {record.Name} was not converted to {target}: its scratch disk, written by its VM, failed the check before the host mounts it: {problem}. " +
                    $"It stays {record.RuntimeType} and unchanged. Start it as {record.RuntimeType} and stop it cleanly, then convert again; or copy its data out and remove it.");
            }
            else
            {
                converted = record with { RuntimeType = target };
                await _store.SaveAsync(converted, ct).ConfigureAwait(false);
                CrashPoints.Reach(CrashPoints.ConvertSaved);
            }
        }
        finally
        {
            run.Lock.Release();
        }

        if (refused is not null)
        {
            if (wasRunning)
            {
                // Leave it as it was: running, in its own runtime.
                try
                {
                    await StartContainerAsync(found.Id, ct).ConfigureAwait(false);
                }
                catch (ComputeException e)
                {
                    throw new ComputeException(refused.Code, $"{refused.Message} Starting it again as {found.RuntimeType} failed too: {e.Message}", e);
                }
            }

            throw refused;
        }

        ArgumentNullException.ThrowIfNull(converted);

        _events.Raise(ContainerEventKind.Converted, converted, $"converted to {target}");
        if (wasRunning)
        {
            progress?.Report(new OperationStep(3, steps, $"Starting {converted.Name} with {target}"));
            return await StartContainerAsync(converted.Id, ct).ConfigureAwait(false);
        }

        return converted.ToInfo();
    }

    // ---- internals ----

    private async Task<bool> SignalForStopAsync(string id, ContainerRun run, int signal, string reason, CancellationToken ct)
    {
        await run.Lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var record = Current(id);
            if (record.State is ContainerState.Created or ContainerState.Stopped || run.Running is not { } running)
            {
                return false;
            }

            run.PendingStopReason ??= reason;
            if (record.State == ContainerState.Running)
            {
                var stopping = record with { State = ContainerState.Stopping };
                await _store.SaveAsync(stopping, ct).ConfigureAwait(false);
                _events.Raise(ContainerEventKind.Stopping, stopping);
            }

            await running.SignalAsync(signal, ct).ConfigureAwait(false);
            CrashPoints.Reach(CrashPoints.StopSignalled);
            return true;
        }
        finally
        {
            run.Lock.Release();
        }
    }

    private IContainer RunningOf(string idOrName, ContainerOperation operation)
    {
        var record = _store.Find(idOrName);
        ContainerLifecycle.Ensure(record.State, operation, record.Name);
        return _runs.RunningOf(record.Id) ?? throw new ComputeException(ComputeErrorCode.InvalidTransition, $"Container '{record.Name}' is not running.");
    }

    /// <summary>The latest record of a container found earlier; NotFound when it was removed meanwhile.</summary>
    private ContainerRecord Current(string id) =>
        _store.Get(id) ?? throw new ComputeException(ComputeErrorCode.ContainerNotFound, $"No such container: '{id}'. It was removed.");

    /// <summary>Stops watching containers; they keep running and are re-adopted when the agent starts again.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return; // hosts may dispose twice (a singleton that is also a hosted service)
        }

        await _monitor.StopAsync().ConfigureAwait(false);
        foreach (var driver in _drivers.All.OfType<IDisposable>())
        {
            driver.Dispose();
        }

        _monitor.Dispose();
    }
}
