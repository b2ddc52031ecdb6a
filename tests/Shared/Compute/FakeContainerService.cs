using System.Collections.Concurrent;
using Portal.Compute;
using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Tests.Shared.Compute;

/// <summary>
/// Containers as records: create resolves the image and the switch and refuses taken names; start, stop, kill,
/// restart and remove follow the lifecycle with the real service's error codes. Streams (attach, exec, logs,
/// statistics) are not faked: those are the integration tier's.
/// </summary>
public sealed class FakeContainerService(FakeImageService images, FakeSwitchService switches, RuntimeType defaultRuntimeType) : IContainerService
{
    private readonly ConcurrentDictionary<string, ContainerInfo> _containers = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<ContainerCreateSpec> _specs = new();

    public event Action<ContainerEvent>? Changed;

    public IReadOnlyCollection<RuntimeType> RuntimeTypes { get; } = [RuntimeType.Default, RuntimeType.HyperV];

    public RuntimeType DefaultRuntimeType { get; } = defaultRuntimeType;

    /// <summary>Every spec the docker API asked to create, in order.</summary>
    public IReadOnlyList<ContainerCreateSpec> CreatedSpecs => [.. _specs];

    /// <summary>When set, <see cref="ListContainers"/> throws it (an unexpected failure inside the host).</summary>
    public Exception? ListFailure { get; set; }

    /// <summary>Runs in the create call's flow before it creates (a policy layer's work, such as a warning for the caller).</summary>
    public Action<ContainerCreateSpec>? BeforeCreate { get; set; }

    public IReadOnlyList<ContainerInfo> ListContainers() => ListFailure is { } failure ? throw failure : [.. _containers.Values];

    public ContainerInfo GetContainer(string idOrName)
    {
        var matches = _containers.Values.Where(c => c.Id == idOrName || c.Name == idOrName).ToList();
        if (matches.Count == 0 && idOrName.Length > 0)
        {
            matches = _containers.Values.Where(c => c.Id.StartsWith(idOrName, StringComparison.Ordinal)).ToList();
        }

        return matches.Count == 1
            ? matches[0]
            : throw new ComputeException(ComputeErrorCode.ContainerNotFound, $"No such container: {idOrName}");
    }

    public Task<ContainerInfo> CreateContainerAsync(ContainerCreateSpec spec, CancellationToken ct = default)
    {
        BeforeCreate?.Invoke(spec);
        _specs.Enqueue(spec);
        var image = images.Resolve(spec.Image);
        var sw = switches.GetSwitch(spec.SwitchName ?? "nat");
        var id = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var name = spec.Name ?? "fake_" + id[..8];
        var runtimeType = spec.RuntimeType ?? DefaultRuntimeType;
        if (!RuntimeTypes.Contains(runtimeType))
        {
            throw new ComputeException(ComputeErrorCode.NotSupported, $"This host cannot run {runtimeType} containers.");
        }

        var container = new ContainerInfo
        {
            Id = id,
            Name = name,
            Image = spec.Image,
            ImageId = image.Id,
            RuntimeType = runtimeType,
            State = ContainerState.Created,
            Command = [.. spec.Entrypoint ?? image.Config.Entrypoint, .. spec.Command ?? image.Config.Cmd],
            Environment = [.. image.Config.Env, .. spec.Environment],
            WorkingDirectory = spec.WorkingDirectory,
            User = spec.User,
            Tty = spec.Tty,
            OpenStdin = spec.OpenStdin,
            Limits = spec.Limits,
            Labels = spec.Labels,
            CreatedAt = DateTimeOffset.UtcNow,
            SwitchName = sw.Name,
            SwitchId = sw.Id,
            Ports = spec.Ports,
        };
        if (_containers.Values.Any(c => c.Name == name) || !_containers.TryAdd(id, container))
        {
            throw new ComputeException(ComputeErrorCode.NameInUse, $"The name '{name}' is already in use by another container.");
        }

        return Task.FromResult(Raise(ContainerEventKind.Created, container));
    }

    public Task<ContainerInfo> StartContainerAsync(string idOrName, CancellationToken ct = default)
    {
        var container = GetContainer(idOrName);
        if (container.State is ContainerState.Running or ContainerState.Stopping)
        {
            throw new ComputeException(ComputeErrorCode.InvalidTransition, $"Container {container.Name} is already running.");
        }

        return Task.FromResult(Update(container with { State = ContainerState.Running, StartedAt = DateTimeOffset.UtcNow, ExitCode = null }, ContainerEventKind.Started));
    }

    public Task<ContainerInfo> ShutdownContainerAsync(string idOrName, TimeSpan? timeout = null, CancellationToken ct = default) => StopAsync(idOrName, 143);

    public async Task<ContainerInfo> RestartContainerAsync(string idOrName, TimeSpan? timeout = null, CancellationToken ct = default)
    {
        if (GetContainer(idOrName).State == ContainerState.Running)
        {
            await StopAsync(idOrName, 143);
        }

        return await StartContainerAsync(idOrName, ct);
    }

    public Task<ContainerInfo> TerminateContainerAsync(string idOrName, CancellationToken ct = default) => StopAsync(idOrName, 137);

    public async Task KillContainerAsync(string idOrName, int signal, CancellationToken ct = default) => await StopAsync(idOrName, 128 + signal);

    public Task RemoveContainerAsync(string idOrName, bool force = false, CancellationToken ct = default)
    {
        var container = GetContainer(idOrName);
        if (container.State == ContainerState.Running && !force)
        {
            throw new ComputeException(ComputeErrorCode.InvalidTransition, $"Container {container.Name} is running: stop it first, or remove it with force.");
        }

        _containers.TryRemove(container.Id, out _);
        Raise(ContainerEventKind.Removed, container);
        return Task.CompletedTask;
    }

    public Task<ContainerInfo> WaitAsync(string idOrName, CancellationToken ct = default) => Task.FromResult(GetContainer(idOrName));

    public Task<ContainerInfo> ConvertContainerAsync(string idOrName, RuntimeType target, bool restart = false, IProgress<OperationStep>? progress = null, CancellationToken ct = default) =>
        Task.FromResult(Update(GetContainer(idOrName) with { RuntimeType = target }, ContainerEventKind.Converted));

    public Task<IContainerProcess> ExecAsync(string idOrName, ProcessSpec spec, CancellationToken ct = default) => throw NotFaked();

    public IAsyncEnumerable<LogEntry> ReadLogsAsync(string idOrName, int? tail, bool follow, CancellationToken ct = default) => throw NotFaked();

    public Task<ContainerAttachment> AttachAsync(string idOrName, bool includeEarlierOutput, bool stdin, CancellationToken ct = default) => throw NotFaked();

    public Task<IReadOnlyList<ContainerProcessInfo>> GetProcessesAsync(string idOrName, CancellationToken ct = default) => throw NotFaked();

    public Task<ContainerStatistics> GetStatisticsAsync(string idOrName, CancellationToken ct = default) => throw NotFaked();

    public Task<IReadOnlyDictionary<string, ContainerStatistics>> GetAllStatisticsAsync(CancellationToken ct = default) => throw NotFaked();

    private Task<ContainerInfo> StopAsync(string idOrName, int exitCode)
    {
        var container = GetContainer(idOrName);
        if (container.State is not (ContainerState.Running or ContainerState.Stopping))
        {
            throw new ComputeException(ComputeErrorCode.InvalidTransition, $"Container {container.Name} is not running.");
        }

        return Task.FromResult(Update(container with { State = ContainerState.Stopped, FinishedAt = DateTimeOffset.UtcNow, ExitCode = exitCode }, ContainerEventKind.Stopped));
    }

    private ContainerInfo Update(ContainerInfo container, ContainerEventKind kind)
    {
        _containers[container.Id] = container;
        return Raise(kind, container);
    }

    private ContainerInfo Raise(ContainerEventKind kind, ContainerInfo container)
    {
        Changed?.Invoke(new ContainerEvent(kind, container, DateTimeOffset.UtcNow));
        return container;
    }

    private static NotSupportedException NotFaked([System.Runtime.CompilerServices.CallerMemberName] string member = "") =>
        new($"{member} is not part of the fake: the integration tier covers it against the real host.");
}
