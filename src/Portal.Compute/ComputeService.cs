using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Portal.Compute.Containers;
using Portal.Compute.Images;
using Portal.Compute.Networking;
using Portal.Compute.Storage;
using Portal.Contracts;

namespace Portal.Compute;

/// <summary>
/// The HCS-shaped compute API every client uses: compute systems are created from a spec, started, shut down,
/// terminated, enumerated and queried. It owns the lifecycle state machine and persistence; the isolation
/// drivers own only how a container runs.
/// </summary>
public sealed class ComputeService : IContainerService, ISwitchService, IHostProcessView, IAsyncDisposable
{
    private const int SigKill = 9;
    private const int SigTerm = 15;

    private readonly ComputeOptions _options;
    private readonly IReadOnlyDictionary<RuntimeType, IIsolationDriver> _drivers;
    private readonly ScratchDisk _scratch;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, Entry> _containers = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _namesLock = new(1, 1);
    private readonly CancellationTokenSource _shutdown = new();
    private int _disposed;

    private readonly SwitchManager? _switches;

    /// <param name="switches">Virtual switches; without them every container has no network but loopback (switch none).</param>
    public ComputeService(ComputeOptions options, ImageStore images, IEnumerable<IIsolationDriver> drivers, ILogger<ComputeService> logger, SwitchManager? switches = null)
    {
        _options = options;
        _switches = switches;
        Images = images;
        _drivers = drivers.ToDictionary(d => d.RuntimeType);
        _scratch = new ScratchDisk(Path.Combine(options.StateRoot, "cache"), options.ScratchDiskBytes);
        _logger = logger;
    }

    /// <summary>Raised after every container change; handlers must be quick (they run on the changing thread).</summary>
    public event Action<ContainerEvent>? Changed;

    public ImageStore Images { get; }

    public IReadOnlyCollection<RuntimeType> RuntimeTypes => _drivers.Keys.ToArray();

    public RuntimeType DefaultRuntimeType => _options.DefaultRuntimeType;

    private string ContainersRoot => Path.Combine(_options.StateRoot, "containers");

    private sealed class Entry(ContainerRecord record)
    {
        public ContainerRecord Record { get; set; } = record;
        public IContainer? Running { get; set; }
        public TaskCompletionSource<ContainerExit> Exit { get; set; } = NewExit();
        public SemaphoreSlim Lock { get; } = new(1, 1);
        public string? PendingStopReason { get; set; }
        /// <summary>The terminal size a client asked for before the container ran; applied at start (80x24 otherwise).</summary>
        public (int Columns, int Rows) TerminalSize { get; set; } = (80, 24);
        /// <summary>Completes when the next run has started (attach before start); replaced at each start.</summary>
        public TaskCompletionSource NextStart { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public static TaskCompletionSource<ContainerExit> NewExit() => new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    // ---- start-up: load, re-adopt, reconcile ----

    /// <summary>Loads persisted containers, re-adopts those still running, records the exits of those that ended, and cleans up what a crash left half made.</summary>
    public async Task InitializeAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(ContainersRoot);
        if (_switches is not null)
        {
            await _switches.InitializeAsync(ct).ConfigureAwait(false);
        }

        foreach (var dir in Directory.EnumerateDirectories(ContainersRoot))
        {
            foreach (var temp in Directory.EnumerateFiles(dir, "*.tmp"))
            {
                File.Delete(temp);
            }

            ContainerRecord? record;
            try
            {
                record = StateFile.Read<ContainerRecord>(Path.Combine(dir, "container.json"));
            }
            catch (System.Text.Json.JsonException e)
            {
                _logger.LogWarning(e, "Unreadable container record in {Directory}", dir);
                record = null;
            }

            if (record is null || record.Id != Path.GetFileName(dir) || !File.Exists(ScratchPath(record.Id)))
            {
                _logger.LogWarning("Removing half-made container directory {Directory}", dir);
                Directory.Delete(dir, recursive: true);
                continue;
            }

            _containers[record.Id] = new Entry(record);
        }

        foreach (var entry in _containers.Values)
        {
            await ReconcileAsync(entry, ct).ConfigureAwait(false);
        }

        var known = _containers.Keys.ToHashSet(StringComparer.Ordinal);
        foreach (var driver in _drivers.Values.OfType<IOrphanCleaner>())
        {
            await driver.RemoveOrphansAsync(known, ct).ConfigureAwait(false);
        }

        if (_switches is not null)
        {
            await _switches.RemoveOrphansAsync(_containers.Values.Where(e => e.Running is not null).Select(e => e.Record.Id).ToList(), ct).ConfigureAwait(false);
        }
    }

    private async Task ReconcileAsync(Entry entry, CancellationToken ct)
    {
        var record = entry.Record;
        var driver = Driver(record.RuntimeType);
        var context = Context(record);
        if (record.State is ContainerState.Running or ContainerState.Stopping)
        {
            switch (await driver.AdoptAsync(context, ct).ConfigureAwait(false))
            {
                case AdoptResult.Running running:
                    entry.Running = running.Container;
                    _logger.LogInformation("Re-adopted running container {Name} ({Id})", record.Name, record.Id);
                    _ = MonitorAsync(entry, running.Container);
                    await ResumeNetworkAsync(entry, ct).ConfigureAwait(false);
                    return;
                case AdoptResult.Exited exited:
                    _logger.LogInformation("Container {Name} exited with {Code} while the agent was down", record.Name, exited.Exit.ExitCode);
                    await driver.CleanupAsync(context, ct).ConfigureAwait(false);
                    await DetachNetworkAsync(record, ct).ConfigureAwait(false);
                    await SaveAsync(entry, Stopped(record, exited.Exit, null), ct).ConfigureAwait(false);
                    entry.Exit.TrySetResult(exited.Exit);
                    return;
            }
        }

        await driver.CleanupAsync(context, ct).ConfigureAwait(false);
        await DetachNetworkAsync(record, ct).ConfigureAwait(false);
        if (record.State != ContainerState.Created)
        {
            entry.Exit.TrySetResult(new ContainerExit(record.ExitCode ?? 0, record.StopReason));
        }
    }

    // ---- queries ----

    public IReadOnlyList<ContainerInfo> ListContainers() =>
        _containers.Values.Select(e => e.Record.ToInfo()).OrderBy(c => c.CreatedAt).ToList();

    public ContainerInfo GetContainer(string idOrName) => Find(idOrName).Record.ToInfo();

    /// <summary>Get-ComputeProcess: every container is a compute system of type Container; a VM-isolated one also owns its VM.</summary>
    public IReadOnlyList<ComputeSystemInfo> EnumerateComputeSystems(ComputeSystemQuery? query = null)
    {
        var systems = new List<ComputeSystemInfo>();
        foreach (var entry in _containers.Values.OrderBy(e => e.Record.CreatedAt))
        {
            var r = entry.Record;
            systems.Add(new ComputeSystemInfo
            {
                Id = r.Id,
                Name = r.Name,
                Owner = Owner(r),
                Type = ComputeSystemType.Container,
                RuntimeType = r.RuntimeType,
                State = r.State,
                HostPid = entry.Running?.HostPid,
            });
            if (entry.Running?.VirtualMachine is { } vm)
            {
                systems.Add(vm);
            }
        }

        if (query is null)
        {
            return systems;
        }

        return systems.Where(s =>
                (query.Ids.Count == 0 || query.Ids.Any(i => s.Id.StartsWith(i, StringComparison.OrdinalIgnoreCase))) &&
                (query.Names.Count == 0 || query.Names.Contains(s.Name, StringComparer.OrdinalIgnoreCase)) &&
                (query.Owners.Count == 0 || query.Owners.Contains(s.Owner, StringComparer.OrdinalIgnoreCase)) &&
                (query.Types.Count == 0 || query.Types.Contains(s.Type)))
            .ToList();
    }

    public Task<IReadOnlyList<ContainerProcessInfo>> GetProcessesAsync(string idOrName, CancellationToken ct = default) =>
        RunningOf(idOrName, ContainerOperation.Exec).ListProcessesAsync(ct);

    public Task<ContainerStatistics> GetStatisticsAsync(string idOrName, CancellationToken ct = default)
    {
        var entry = Find(idOrName);
        if (entry.Running is { } running)
        {
            return running.GetStatisticsAsync(ct);
        }

        return Task.FromResult(new ContainerStatistics
        {
            Timestamp = DateTimeOffset.UtcNow,
            CpuSeconds = 0,
            MemoryBytes = 0,
            MemoryLimitBytes = entry.Record.Limits.MemoryBytes,
            Pids = 0,
            PidsLimit = entry.Record.Limits.PidsLimit ?? _options.DefaultPidsLimit,
        });
    }

    /// <summary>
    /// Statistics of every running container by id, sampled concurrently: one call for a whole host's grid instead of one
    /// per container. A container that stops while it is sampled (or whose guest does not answer) is left out.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, ContainerStatistics>> GetAllStatisticsAsync(CancellationToken ct = default)
    {
        var running = _containers.Values.Select(e => (e.Record.Id, Container: e.Running)).Where(e => e.Container is not null).ToList();
        var samples = await Task.WhenAll(running.Select(async e =>
        {
            try
            {
                return (e.Id, Statistics: await e.Container!.GetStatisticsAsync(ct).ConfigureAwait(false));
            }
            catch (Exception x) when (x is ComputeException or IOException or UnauthorizedAccessException)
            {
                // Its cgroup went away with it, or its guest did not answer: the others still count.
                return (e.Id, Statistics: (ContainerStatistics?)null);
            }
        })).ConfigureAwait(false);
        return samples.Where(s => s.Statistics is not null).ToDictionary(s => s.Id, s => s.Statistics!);
    }

    /// <summary>The container's output, optionally only the last <paramref name="tail"/> entries, optionally following it while it runs.</summary>
    public IAsyncEnumerable<LogEntry> ReadLogsAsync(string idOrName, int? tail, bool follow, CancellationToken ct = default)
    {
        var entry = Find(idOrName);
        if (tail is < 0)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "tail must be zero or more lines.");
        }

        return ContainerLog.ReadAsync(LogPath(entry.Record.Id), tail, () => follow && entry.Record.State is ContainerState.Running or ContainerState.Stopping, ct);
    }

    /// <summary>
    /// Attaches to the container's first process: output (all of the attached run's when <paramref name="includeEarlierOutput"/>,
    /// else from now) until that run ends, stdin when asked for, and terminal resize. Attaching to a container that is not
    /// running attaches to its next run, so `docker run` sees everything from the first byte.
    /// </summary>
    public Task<ContainerAttachment> AttachAsync(string idOrName, bool includeEarlierOutput, bool stdin, CancellationToken ct = default)
    {
        var entry = Find(idOrName);
        if (stdin && !entry.Record.OpenStdin)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Container '{entry.Record.Name}' was created without an open stdin; create it with stdin open (docker run -i) to send it input.");
        }

        var running = entry.Record.State is ContainerState.Running or ContainerState.Stopping;
        var nextStart = running ? Task.CompletedTask : entry.NextStart.Task;
        var exit = running ? entry.Exit.Task : null;
        var nowOffset = File.Exists(LogPath(entry.Record.Id)) ? new FileInfo(LogPath(entry.Record.Id)).Length : 0;

        async Task<IContainer> RunningContainerAsync(CancellationToken token)
        {
            await nextStart.WaitAsync(token).ConfigureAwait(false);
            return entry.Running ?? throw new ComputeException(ComputeErrorCode.InvalidTransition, $"Container '{entry.Record.Name}' is not running.");
        }

        async IAsyncEnumerable<LogEntry> OutputAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken token = default)
        {
            await nextStart.WaitAsync(token).ConfigureAwait(false);
            var runEnded = exit ?? entry.Exit.Task;
            var offset = includeEarlierOutput || !running ? entry.Record.LogOffset : nowOffset;
            await foreach (var item in ContainerLog.ReadAsync(LogPath(entry.Record.Id), null, () => !runEnded.IsCompleted, token, offset).ConfigureAwait(false))
            {
                yield return item;
            }
        }

        var stdinStream = stdin ? new DeferredStdinStream(async token => await (await RunningContainerAsync(token).ConfigureAwait(false)).OpenStdinAsync(token).ConfigureAwait(false)) : null;
        return Task.FromResult(new ContainerAttachment(
            OutputAsync(ct),
            stdinStream,
            async (columns, rows, token) =>
            {
                if (columns is < 1 or > 1000 || rows is < 1 or > 1000)
                {
                    throw new ComputeException(ComputeErrorCode.InvalidArgument, "Terminal size must be 1 to 1000 columns and rows.");
                }

                entry.TerminalSize = (columns, rows);
                if (entry.Running is { } container && entry.Record.Tty)
                {
                    await container.ResizeAsync(columns, rows, token).ConfigureAwait(false);
                }
            }));
    }

    /// <summary>Completes when the container is stopped (at once if it is not running).</summary>
    public async Task<ContainerInfo> WaitAsync(string idOrName, CancellationToken ct = default)
    {
        var entry = Find(idOrName);
        if (entry.Record.State != ContainerState.Created)
        {
            await entry.Exit.Task.WaitAsync(ct).ConfigureAwait(false);
        }

        // The exit completes after the record is saved as stopped.
        return entry.Record.ToInfo();
    }

    // ---- commands ----

    public async Task<ContainerInfo> CreateContainerAsync(ContainerCreateSpec spec, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (string.IsNullOrWhiteSpace(spec.Image))
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "No image given: name an image (for example busybox) to create the container from.");
        }

        var runtimeType = spec.RuntimeType ?? _options.DefaultRuntimeType;
        if (!Enum.IsDefined(runtimeType))
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Unknown runtime type '{runtimeType}': use Default (process isolation) or HyperV (VM isolation).");
        }

        _ = Driver(runtimeType); // fail early when this host lacks the runtime type
        ValidateLimits(spec.Limits);
        var image = Images.Resolve(spec.Image);
        var entrypoint = spec.Entrypoint ?? image.Config.Entrypoint;
        var cmd = spec.Command ?? (spec.Entrypoint is null ? image.Config.Cmd : []);
        var command = entrypoint.Concat(cmd).ToList();
        if (command.Count == 0)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Image '{spec.Image}' has no default command and none was given: say which program the container runs.");
        }

        var invalidEnv = spec.Environment.FirstOrDefault(e => e.Length == 0 || e[0] == '=' || e.Contains('\0'));
        if (invalidEnv is not null)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Invalid environment entry '{invalidEnv}': use NAME=value.");
        }

        await _namesLock.WaitAsync(ct).ConfigureAwait(false);
        string id;
        ContainerRecord record;
        Entry entry;
        try
        {
            var name = spec.Name is null ? ContainerNames.Generate(NameTaken) : ContainerNames.Validate(spec.Name);
            if (NameTaken(name))
            {
                throw new ComputeException(ComputeErrorCode.NameInUse, $"The name '{name}' is already used by another container; remove that one or choose another name.");
            }

            id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
            var others = _containers.Values.Select(e => e.Record).ToList();
            var sw = ResolveSwitch(spec.SwitchName);
            var ports = SwitchManager.ValidatePorts(sw, spec.Ports ?? [], others);
            var (address, mac) = SwitchManager.Allocate(sw, id, others);
            record = new ContainerRecord
            {
                Id = id,
                Name = name,
                Image = spec.Image,
                ImageId = image.Id,
                RuntimeType = runtimeType,
                State = ContainerState.Created,
                Command = command,
                Environment = EnvironmentBuilder.Merge([EnvironmentBuilder.DefaultPath], image.Config.Env, [$"HOSTNAME={name}"], spec.Environment),
                WorkingDirectory = string.IsNullOrEmpty(spec.WorkingDirectory) ? (string.IsNullOrEmpty(image.Config.WorkingDir) ? "/" : image.Config.WorkingDir) : spec.WorkingDirectory,
                User = string.IsNullOrEmpty(spec.User) ? image.Config.User : spec.User,
                Tty = spec.Tty,
                OpenStdin = spec.OpenStdin,
                Limits = spec.Limits,
                Labels = spec.Labels,
                CreatedAt = DateTimeOffset.UtcNow,
                SwitchId = sw.Id,
                SwitchName = sw.Name,
                IpAddress = address,
                MacAddress = mac,
                Ports = ports,
            };
            if (!record.WorkingDirectory.StartsWith('/'))
            {
                throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Working directory '{record.WorkingDirectory}' must be an absolute path.");
            }

            entry = new Entry(record);
            _containers[id] = entry; // reserves the name; removed again if creation fails
        }
        finally
        {
            _namesLock.Release();
        }

        try
        {
            Directory.CreateDirectory(ContainerDirectory(id));
            await _scratch.CreateAsync(ScratchPath(id), ct).ConfigureAwait(false);
            await SaveAsync(entry, record, ct).ConfigureAwait(false);
        }
        catch
        {
            _containers.TryRemove(id, out _);
            Directory.Delete(ContainerDirectory(id), recursive: true);
            throw;
        }

        Raise(ContainerEventKind.Created, record);
        await RefreshHostsAsync(record.SwitchId, ct).ConfigureAwait(false);
        return record.ToInfo();
    }

    public async Task<ContainerInfo> StartContainerAsync(string idOrName, CancellationToken ct = default)
    {
        var entry = Find(idOrName);
        await entry.Lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var record = entry.Record;
            ContainerLifecycle.Ensure(record.State, ContainerOperation.Start, record.Name);
            var image = Images.Resolve(record.ImageId);
            var logOffset = File.Exists(LogPath(record.Id)) ? new FileInfo(LogPath(record.Id)).Length : 0;
            IContainer container;
            try
            {
                using var network = await AttachNetworkAsync(record, ct).ConfigureAwait(false);
                try
                {
                    container = await Driver(record.RuntimeType).StartAsync(Context(record) with { ImageDiskPath = image.DiskPath, Network = network }, ct).ConfigureAwait(false);
                }
                catch
                {
                    await DetachNetworkAsync(record, CancellationToken.None).ConfigureAwait(false);
                    throw;
                }
            }
            catch (ComputeException e)
            {
                Raise(ContainerEventKind.Failed, record, e.Message);
                throw;
            }

            entry.Running = container;
            entry.Exit = Entry.NewExit();
            if (record.Tty)
            {
                // A new terminal has no size; programs such as stty and editors need one.
                try
                {
                    await container.ResizeAsync(entry.TerminalSize.Columns, entry.TerminalSize.Rows, ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or ComputeException)
                {
                    _logger.LogWarning(e, "Could not size the terminal of container {Name}", record.Name);
                }
            }

            entry.PendingStopReason = null;
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
            await SaveAsync(entry, started, CancellationToken.None).ConfigureAwait(false);
            _ = MonitorAsync(entry, container);
            var nextStart = entry.NextStart;
            entry.NextStart = new(TaskCreationOptions.RunContinuationsAsynchronously);
            nextStart.SetResult();
            Raise(ContainerEventKind.Started, started);
            return started.ToInfo();
        }
        finally
        {
            entry.Lock.Release();
        }
    }

    /// <summary>Graceful shutdown: SIGTERM, then SIGKILL when the timeout passes. Returns the stopped container.</summary>
    public async Task<ContainerInfo> ShutdownContainerAsync(string idOrName, TimeSpan? timeout = null, CancellationToken ct = default)
    {
        var entry = Find(idOrName);
        if (!await SignalForStopAsync(entry, SigTerm, "stopped by request", ct).ConfigureAwait(false))
        {
            return entry.Record.ToInfo();
        }

        var grace = timeout ?? _options.DefaultStopTimeout;
        try
        {
            await entry.Exit.Task.WaitAsync(grace < TimeSpan.Zero ? TimeSpan.Zero : grace, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _logger.LogInformation("Container {Name} did not stop within {Timeout}; killing it", entry.Record.Name, grace);
            entry.PendingStopReason = $"stopped by request; killed after ignoring SIGTERM for {grace.TotalSeconds:0.#} s";
            await SignalForStopAsync(entry, SigKill, entry.PendingStopReason, ct).ConfigureAwait(false);
            await entry.Exit.Task.WaitAsync(ct).ConfigureAwait(false);
        }

        await ReleasedAsync(entry, ct).ConfigureAwait(false);
        return entry.Record.ToInfo();
    }

    /// <summary>Stops the container if it runs (graceful, then forced), then starts it again.</summary>
    public async Task<ContainerInfo> RestartContainerAsync(string idOrName, TimeSpan? timeout = null, CancellationToken ct = default)
    {
        var stopped = await ShutdownContainerAsync(idOrName, timeout, ct).ConfigureAwait(false);
        return await StartContainerAsync(stopped.Id, ct).ConfigureAwait(false);
    }

    /// <summary>Forced stop: SIGKILL and wait.</summary>
    public async Task<ContainerInfo> TerminateContainerAsync(string idOrName, CancellationToken ct = default)
    {
        var entry = Find(idOrName);
        if (await SignalForStopAsync(entry, SigKill, "terminated by request", ct).ConfigureAwait(false))
        {
            await entry.Exit.Task.WaitAsync(ct).ConfigureAwait(false);
            await ReleasedAsync(entry, ct).ConfigureAwait(false);
        }

        return entry.Record.ToInfo();
    }

    /// <summary>Sends any signal to the container's first process (docker kill -s).</summary>
    public async Task KillContainerAsync(string idOrName, int signal, CancellationToken ct = default)
    {
        if (signal is < 1 or > 64)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Signal {signal} does not exist; use 1 to 64 (for example 15 for TERM, 9 for KILL).");
        }

        var entry = Find(idOrName);
        ContainerLifecycle.Ensure(entry.Record.State, ContainerOperation.Kill, entry.Record.Name);
        await entry.Running!.SignalAsync(signal, ct).ConfigureAwait(false);
    }

    public async Task RemoveContainerAsync(string idOrName, bool force = false, CancellationToken ct = default)
    {
        var entry = Find(idOrName);
        ContainerLifecycle.Ensure(entry.Record.State, force ? ContainerOperation.ForceRemove : ContainerOperation.Remove, entry.Record.Name);
        if (entry.Record.State is ContainerState.Running or ContainerState.Stopping)
        {
            await TerminateContainerAsync(entry.Record.Id, ct).ConfigureAwait(false);
        }

        await entry.Lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var record = entry.Record;
            ContainerLifecycle.Ensure(record.State, ContainerOperation.Remove, record.Name);
            await Driver(record.RuntimeType).CleanupAsync(Context(record), ct).ConfigureAwait(false);
            await DetachNetworkAsync(record, ct).ConfigureAwait(false);
            Directory.Delete(ContainerDirectory(record.Id), recursive: true);
            _containers.TryRemove(record.Id, out _);
            Raise(ContainerEventKind.Removed, record);
        }
        finally
        {
            entry.Lock.Release();
        }

        await RefreshHostsAsync(entry.Record.SwitchId, ct).ConfigureAwait(false);
    }

    /// <summary>Starts another process in a running container.</summary>
    public Task<IContainerProcess> ExecAsync(string idOrName, ProcessSpec spec, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Columns is < 1 or > 1000 || spec.Rows is < 1 or > 1000)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "Terminal size must be 1 to 1000 columns and rows.");
        }

        return RunningOf(idOrName, ContainerOperation.Exec).ExecAsync(spec, ct);
    }

    /// <summary>
    /// Set-Container -RuntimeType: the same container, the same disks, another runtime. Only the record changes, so the
    /// time does not depend on the disk's size. A running container is refused unless <paramref name="restart"/> is set
    /// (then it is stopped, converted and started again).
    /// </summary>
    public async Task<ContainerInfo> ConvertContainerAsync(string idOrName, RuntimeType target, bool restart = false, IProgress<OperationStep>? progress = null, CancellationToken ct = default)
    {
        var entry = Find(idOrName);
        if (!Enum.IsDefined(target))
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Unknown runtime type '{target}': use Default (process isolation) or HyperV (VM isolation).");
        }

        _ = Driver(target);
        if (entry.Record.RuntimeType == target)
        {
            return entry.Record.ToInfo();
        }

        var wasRunning = entry.Record.State is ContainerState.Running or ContainerState.Stopping;
        var steps = wasRunning ? 3 : 1;
        if (wasRunning)
        {
            if (!restart)
            {
                ContainerLifecycle.Ensure(entry.Record.State, ContainerOperation.Convert, entry.Record.Name);
            }

            progress?.Report(new OperationStep(1, steps, $"Stopping {entry.Record.Name}"));
            await ShutdownContainerAsync(entry.Record.Id, null, ct).ConfigureAwait(false);
        }

        await entry.Lock.WaitAsync(ct).ConfigureAwait(false);
        ContainerRecord converted;
        try
        {
            var record = entry.Record;
            ContainerLifecycle.Ensure(record.State, ContainerOperation.Convert, record.Name);
            progress?.Report(new OperationStep(steps == 1 ? 1 : 2, steps, $"Converting {record.Name} from {record.RuntimeType} to {target}"));
            await Driver(record.RuntimeType).CleanupAsync(Context(record), ct).ConfigureAwait(false);
            converted = record with { RuntimeType = target };
            await SaveAsync(entry, converted, ct).ConfigureAwait(false);
        }
        finally
        {
            entry.Lock.Release();
        }

        Raise(ContainerEventKind.Converted, converted, $"converted to {target}");
        if (wasRunning)
        {
            progress?.Report(new OperationStep(3, steps, $"Starting {converted.Name} with {target}"));
            return await StartContainerAsync(converted.Id, ct).ConfigureAwait(false);
        }

        return converted.ToInfo();
    }

    /// <summary>
    /// The host's process table (optionally only processes whose name or command line contains <paramref name="match"/>),
    /// each marked with the container it belongs to where it is a process-isolated container's process or a VM worker.
    /// </summary>
    public IReadOnlyList<HostProcessInfo> FindHostProcesses(string? match = null)
    {
        var byNamespace = new Dictionary<ulong, ContainerRecord>();
        var byWorker = new Dictionary<int, ContainerRecord>();
        var hostNamespace = Linux.ProcessTable.PidNamespaceOf(Environment.ProcessId);
        foreach (var entry in _containers.Values)
        {
            if (entry.Running is not { } running)
            {
                continue;
            }

            if (running.HostPid is { } pid && Linux.ProcessTable.PidNamespaceOf(pid) is { } ns && ns != hostNamespace)
            {
                byNamespace[ns] = entry.Record;
            }

            if (running.VirtualMachine?.HostPid is { } worker)
            {
                byWorker[worker] = entry.Record;
            }
        }

        var userName = Linux.ProcessIsolation.ContainerUser.NameLookup("/");
        return Linux.ProcessTable.All()
            .Where(p => match is null || p.Name.Contains(match, StringComparison.OrdinalIgnoreCase) || p.CommandLine.Contains(match, StringComparison.OrdinalIgnoreCase))
            .Select(p =>
            {
                var container = byNamespace.GetValueOrDefault(p.PidNamespace);
                var vmOf = byWorker.GetValueOrDefault(p.Pid);
                return new HostProcessInfo
                {
                    Pid = p.Pid,
                    ParentPid = p.ParentPid,
                    User = userName(p.Uid),
                    Name = p.Name,
                    CommandLine = p.CommandLine,
                    CpuSeconds = p.CpuSeconds,
                    MemoryBytes = p.RssBytes,
                    ContainerId = (container ?? vmOf)?.Id,
                    ContainerName = (container ?? vmOf)?.Name,
                    ContainerPid = container is null ? null : p.NamespacePids[^1],
                    IsVmWorker = vmOf is not null,
                };
            })
            .OrderBy(p => p.Pid)
            .ToList();
    }

    /// <summary>The isolation demo for one running container: its processes inside, and what the host sees of it.</summary>
    public async Task<IsolationView> GetIsolationViewAsync(string idOrName, CancellationToken ct = default)
    {
        var entry = Find(idOrName);
        var inside = await RunningOf(idOrName, ContainerOperation.Exec).ListProcessesAsync(ct).ConfigureAwait(false);
        return new IsolationView
        {
            Container = entry.Record.ToInfo(),
            Inside = inside,
            SeenFromHost = FindHostProcesses().Where(p => p.ContainerId == entry.Record.Id).ToList(),
        };
    }

    // ---- virtual switches ----

    /// <summary>Every switch (the built-in none first) with the containers connected to it.</summary>
    public IReadOnlyList<SwitchInfo> ListSwitches()
    {
        var records = _containers.Values.Select(e => e.Record).ToList();
        return (_switches?.Switches ?? [SwitchManager.None]).Select(s => SwitchInfoOf(s, records)).ToList();
    }

    /// <summary>A switch by name, alias, id or unique id prefix.</summary>
    public SwitchInfo GetSwitch(string nameOrId) => SwitchInfoOf(ResolveSwitch(nameOrId ?? throw new ArgumentNullException(nameof(nameOrId))), _containers.Values.Select(e => e.Record).ToList());

    public async Task<SwitchInfo> CreateSwitchAsync(SwitchCreateSpec spec, CancellationToken ct = default)
    {
        var switches = _switches ?? throw new ComputeException(ComputeErrorCode.NotSupported, "Virtual switches are not available on this host.");
        var created = await switches.CreateAsync(spec, ct).ConfigureAwait(false);
        SwitchesChanged?.Invoke();
        return SwitchInfoOf(created, []);
    }

    /// <summary>Removes a switch no container uses (whatever their state): its bridge, rules and addresses go with it.</summary>
    public async Task RemoveSwitchAsync(string nameOrId, CancellationToken ct = default)
    {
        var switches = _switches ?? throw new ComputeException(ComputeErrorCode.NotSupported, "Virtual switches are not available on this host.");
        await _namesLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var sw = ResolveSwitch(nameOrId);
            var users = _containers.Values.Where(e => e.Record.SwitchId == sw.Id).Select(e => e.Record.Name).Order(StringComparer.Ordinal).ToList();
            if (sw.Type != SwitchType.None && users.Count > 0)
            {
                throw new ComputeException(ComputeErrorCode.SwitchInUse, $"Switch '{sw.Name}' is used by {users.Count} container(s) ({string.Join(", ", users.Take(10))}{(users.Count > 10 ? ", ..." : "")}): remove them first.");
            }

            await switches.RemoveAsync(sw, ct).ConfigureAwait(false);
        }
        finally
        {
            _namesLock.Release();
        }

        SwitchesChanged?.Invoke();
    }

    /// <summary>Raised after a switch was created or removed (container changes raise <see cref="Changed"/>).</summary>
    public event Action? SwitchesChanged;

    private SwitchInfo SwitchInfoOf(SwitchRecord sw, IReadOnlyList<ContainerRecord> records) => _switches is { } switches
        ? switches.ToInfo(sw, records)
        : new SwitchInfo { Id = sw.Id, Name = sw.Name, Type = sw.Type, IsBuiltIn = true, IsDefault = true, CreatedAt = sw.CreatedAt };

    private SwitchRecord ResolveSwitch(string? name) => _switches is { } switches
        ? switches.Resolve(name)
        : string.IsNullOrWhiteSpace(name) || string.Equals(name.Trim(), SwitchManager.NoneName, StringComparison.OrdinalIgnoreCase)
            ? SwitchManager.None
            : throw new ComputeException(ComputeErrorCode.SwitchNotFound, $"No such switch: '{name}'. This host has no virtual switches; use none.");

    private async Task<NetworkAttachment?> AttachNetworkAsync(ContainerRecord record, CancellationToken ct)
    {
        if (_switches is not { } switches)
        {
            return null;
        }

        var attachment = await switches.AttachAsync(record, switches.HostsFor(record, _containers.Values.Select(e => e.Record)), ct).ConfigureAwait(false);
        try
        {
            await switches.OpenPortsAsync(record).ConfigureAwait(false);
        }
        catch
        {
            attachment.Dispose();
            await switches.DetachAsync(record, CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        return attachment;
    }

    private async Task DetachNetworkAsync(ContainerRecord record, CancellationToken ct)
    {
        if (_switches is { } switches)
        {
            await switches.DetachAsync(record, ct).ConfigureAwait(false);
        }
    }

    /// <summary>After the agent re-adopted a running container: its ports listen again and its hosts file is current.</summary>
    private async Task ResumeNetworkAsync(Entry entry, CancellationToken ct)
    {
        if (_switches is not { } switches)
        {
            return;
        }

        try
        {
            await switches.OpenPortsAsync(entry.Record).ConfigureAwait(false);
        }
        catch (ComputeException e)
        {
            _logger.LogError(e, "Could not publish the ports of re-adopted container {Name} again", entry.Record.Name);
        }

        await RefreshHostsAsync(entry.Record.SwitchId, ct).ConfigureAwait(false);
    }

    /// <summary>A member of a switch came or went: every running container on it gets its hosts file rewritten.</summary>
    private async Task RefreshHostsAsync(string? switchId, CancellationToken ct)
    {
        if (_switches is not { } switches || switchId is null || switchId == SwitchManager.NoneName)
        {
            return;
        }

        var records = _containers.Values.Select(e => e.Record).ToList();
        foreach (var entry in _containers.Values.Where(e => e.Record.SwitchId == switchId && e.Running is not null))
        {
            var hosts = switches.HostsFor(entry.Record, records);
            try
            {
                await switches.WriteHostsAsync(entry.Record, hosts, ct).ConfigureAwait(false);
                if (entry.Running is { } running)
                {
                    await running.UpdateHostsAsync(hosts, ct).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is IOException or ComputeException)
            {
                _logger.LogWarning(e, "Could not update the hosts file of container {Name}", entry.Record.Name);
            }
        }
    }

    // ---- internals ----

    /// <summary>After the exit: waits until the monitor has released what the container held (it cleans up under the lock).</summary>
    private static async Task ReleasedAsync(Entry entry, CancellationToken ct)
    {
        await entry.Lock.WaitAsync(ct).ConfigureAwait(false);
        entry.Lock.Release();
    }

    private async Task<bool> SignalForStopAsync(Entry entry, int signal, string reason, CancellationToken ct)
    {
        await entry.Lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var record = entry.Record;
            if (record.State is ContainerState.Created or ContainerState.Stopped || entry.Running is not { } running)
            {
                return false;
            }

            entry.PendingStopReason ??= reason;
            if (record.State == ContainerState.Running)
            {
                var stopping = record with { State = ContainerState.Stopping };
                await SaveAsync(entry, stopping, ct).ConfigureAwait(false);
                Raise(ContainerEventKind.Stopping, stopping);
            }

            await running.SignalAsync(signal, ct).ConfigureAwait(false);
            return true;
        }
        finally
        {
            entry.Lock.Release();
        }
    }

    private async Task MonitorAsync(Entry entry, IContainer container)
    {
        ContainerExit exit;
        try
        {
            exit = await container.WaitAsync(_shutdown.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return; // the agent is stopping; the container runs on and is re-adopted next start
        }

        await entry.Lock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!ReferenceEquals(entry.Running, container))
            {
                return;
            }

            // Record the exit and tell waiters first; then release what it held. Holding the lock through the
            // clean-up keeps the next start or a removal from racing it.
            var record = entry.Record;
            entry.Running = null;
            var stopped = Stopped(record, exit, entry.PendingStopReason);
            if (_containers.ContainsKey(record.Id))
            {
                await SaveAsync(entry, stopped, CancellationToken.None).ConfigureAwait(false);
            }

            entry.Exit.TrySetResult(exit);
            Raise(ContainerEventKind.Stopped, stopped, exit.Reason);
            try
            {
                await Driver(record.RuntimeType).CleanupAsync(Context(record), CancellationToken.None).ConfigureAwait(false);
                await DetachNetworkAsync(record, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or ComputeException or UnauthorizedAccessException)
            {
                _logger.LogError(e, "Cleaning up container {Name} after it stopped failed", record.Name);
            }
        }
        finally
        {
            entry.Lock.Release();
            entry.Exit.TrySetResult(exit);
        }
    }

    private static ContainerRecord Stopped(ContainerRecord record, ContainerExit exit, string? pendingReason) => record with
    {
        State = ContainerState.Stopped,
        ExitCode = exit.ExitCode,
        FinishedAt = DateTimeOffset.UtcNow,
        StopReason = exit.Reason ?? pendingReason,
        HostPid = null,
    };

    private IContainer RunningOf(string idOrName, ContainerOperation operation)
    {
        var entry = Find(idOrName);
        ContainerLifecycle.Ensure(entry.Record.State, operation, entry.Record.Name);
        return entry.Running ?? throw new ComputeException(ComputeErrorCode.InvalidTransition, $"Container '{entry.Record.Name}' is not running.");
    }

    private Entry Find(string idOrName)
    {
        if (string.IsNullOrWhiteSpace(idOrName))
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "No container given: name a container by its name or id.");
        }

        var key = idOrName.TrimStart('/');
        if (_containers.TryGetValue(key, out var exact))
        {
            return exact;
        }

        var byName = _containers.Values.FirstOrDefault(e => string.Equals(e.Record.Name, key, StringComparison.Ordinal));
        if (byName is not null)
        {
            return byName;
        }

        var byPrefix = _containers.Values.Where(e => e.Record.Id.StartsWith(key, StringComparison.OrdinalIgnoreCase)).Take(2).ToList();
        return byPrefix.Count switch
        {
            1 => byPrefix[0],
            0 => throw new ComputeException(ComputeErrorCode.ContainerNotFound, $"No such container: '{idOrName}'. List containers to see their names and ids."),
            _ => throw new ComputeException(ComputeErrorCode.InvalidArgument, $"'{idOrName}' matches more than one container id; give more of the id."),
        };
    }

    private bool NameTaken(string name) => _containers.Values.Any(e => string.Equals(e.Record.Name, name, StringComparison.Ordinal));

    private IIsolationDriver Driver(RuntimeType runtimeType) => _drivers.TryGetValue(runtimeType, out var driver)
        ? driver
        : throw new ComputeException(ComputeErrorCode.NotSupported, $"Runtime type {runtimeType} is not available on this host (available: {string.Join(", ", _drivers.Keys)}).");

    private void ValidateLimits(ContainerLimits limits)
    {
        if (limits.MemoryBytes is < 6L << 20)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "Memory limit must be at least 6 MiB.");
        }

        if (limits.Cpus is { } cpus && (cpus <= 0 || cpus > Environment.ProcessorCount))
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"CPU limit must be more than 0 and at most {Environment.ProcessorCount} (this host's CPUs).");
        }

        if (limits.PidsLimit is < 1)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "Pids limit must be at least 1.");
        }
    }

    private ContainerContext Context(ContainerRecord record) => new()
    {
        Record = record,
        ImageDiskPath = Images.List().FirstOrDefault(i => i.Id == record.ImageId)?.DiskPath ?? "",
        ScratchDiskPath = ScratchPath(record.Id),
        LogPath = LogPath(record.Id),
    };

    private static string Owner(ContainerRecord record) => record.Labels.TryGetValue("owner", out var owner) ? owner : "portal";

    private string ContainerDirectory(string id) => Path.Combine(ContainersRoot, id);

    private string ScratchPath(string id) => Path.Combine(ContainerDirectory(id), "scratch.ext4");

    private string LogPath(string id) => Path.Combine(ContainerDirectory(id), "container.log");

    private async Task SaveAsync(Entry entry, ContainerRecord record, CancellationToken ct)
    {
        await StateFile.WriteAsync(Path.Combine(ContainerDirectory(record.Id), "container.json"), record, ct).ConfigureAwait(false);
        entry.Record = record;
    }

    private void Raise(ContainerEventKind kind, ContainerRecord record, string? message = null)
    {
        try
        {
            Changed?.Invoke(new ContainerEvent(kind, record.ToInfo(), DateTimeOffset.UtcNow, message));
        }
        catch (Exception e)
        {
            _logger.LogError(e, "A container event handler failed");
        }
    }

    /// <summary>Stops watching containers; they keep running and are re-adopted when the agent starts again.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return; // hosts may dispose twice (a singleton that is also a hosted service)
        }

        await _shutdown.CancelAsync().ConfigureAwait(false);
        foreach (var driver in _drivers.Values.OfType<IDisposable>())
        {
            driver.Dispose();
        }

        if (_switches is not null)
        {
            await _switches.DisposeAsync().ConfigureAwait(false);
        }

        _shutdown.Dispose();
    }
}

/// <summary>A driver that can find and remove run-time leftovers of containers nobody knows any more.</summary>
public interface IOrphanCleaner
{
    Task RemoveOrphansAsync(IReadOnlySet<string> knownIds, CancellationToken ct);
}
