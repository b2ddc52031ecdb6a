using Portal.Contracts;

namespace Portal.Compute.Containers;

/// <summary>
/// The HCS-shaped container API: compute systems are created from a spec, started, shut down, terminated, converted
/// between isolation levels, enumerated and queried. Errors are <see cref="ComputeException"/>s with a stable code.
/// </summary>
public interface IContainerService
{
    /// <summary>Raised after every container change is persisted; handlers must be quick (they run on the changing thread).</summary>
    event Action<ContainerEvent>? Changed;

    /// <summary>The isolation levels this host can run.</summary>
    IReadOnlyCollection<RuntimeType> RuntimeTypes { get; }

    /// <summary>The runtime type a container gets when its spec names none.</summary>
    RuntimeType DefaultRuntimeType { get; }

    IReadOnlyList<ContainerInfo> ListContainers();

    /// <summary>A container by id, name or unique id prefix.</summary>
    ContainerInfo GetContainer(string idOrName);

    Task<ContainerInfo> CreateContainerAsync(ContainerCreateSpec spec, CancellationToken ct = default);

    Task<ContainerInfo> StartContainerAsync(string idOrName, CancellationToken ct = default);

    /// <summary>Graceful shutdown: SIGTERM, then SIGKILL when the timeout passes. Returns the stopped container.</summary>
    Task<ContainerInfo> ShutdownContainerAsync(string idOrName, TimeSpan? timeout = null, CancellationToken ct = default);

    /// <summary>Stops the container if it runs (graceful, then forced), then starts it again.</summary>
    Task<ContainerInfo> RestartContainerAsync(string idOrName, TimeSpan? timeout = null, CancellationToken ct = default);

    /// <summary>Forced stop: SIGKILL and wait.</summary>
    Task<ContainerInfo> TerminateContainerAsync(string idOrName, CancellationToken ct = default);

    /// <summary>Sends any signal to the container's first process (docker kill -s).</summary>
    Task KillContainerAsync(string idOrName, int signal, CancellationToken ct = default);

    Task RemoveContainerAsync(string idOrName, bool force = false, CancellationToken ct = default);

    /// <summary>Set-Container -RuntimeType: the same container and disks, another runtime (a running one only with <paramref name="restart"/>).</summary>
    Task<ContainerInfo> ConvertContainerAsync(string idOrName, RuntimeType target, bool restart = false, IProgress<OperationStep>? progress = null, CancellationToken ct = default);

    /// <summary>Starts another process in a running container.</summary>
    Task<IContainerProcess> ExecAsync(string idOrName, ProcessSpec spec, CancellationToken ct = default);

    /// <summary>Completes when the container is stopped (at once if it is not running).</summary>
    Task<ContainerInfo> WaitAsync(string idOrName, CancellationToken ct = default);

    /// <summary>The container's output, optionally only the last <paramref name="tail"/> entries, optionally following it while it runs.</summary>
    IAsyncEnumerable<LogEntry> ReadLogsAsync(string idOrName, int? tail, bool follow, CancellationToken ct = default);

    /// <summary>Attaches to the container's first process (or to its next run when it is not running).</summary>
    Task<ContainerAttachment> AttachAsync(string idOrName, bool includeEarlierOutput, bool stdin, CancellationToken ct = default);

    Task<IReadOnlyList<ContainerProcessInfo>> GetProcessesAsync(string idOrName, CancellationToken ct = default);

    Task<ContainerStatistics> GetStatisticsAsync(string idOrName, CancellationToken ct = default);

    /// <summary>Statistics of every running container by id, in one call.</summary>
    Task<IReadOnlyDictionary<string, ContainerStatistics>> GetAllStatisticsAsync(CancellationToken ct = default);
}
