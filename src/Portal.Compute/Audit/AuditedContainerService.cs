using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Compute.Audit;

/// <summary>The container service with every lifecycle call recorded (see <see cref="AuditedComputeHost"/>).</summary>
internal sealed class AuditedContainerService(IComputeHost host, AuditTrail trail) : IContainerService
{
    private const string Type = "container";

    // The inner host may not be ready yet (the agent's host answers Unavailable until it is): look it up per call.
    private IContainerService Inner => host.Containers;

    public event Action<ContainerEvent>? Changed
    {
        add => Inner.Changed += value;
        remove => Inner.Changed -= value;
    }

    public IReadOnlyCollection<RuntimeType> RuntimeTypes => Inner.RuntimeTypes;

    public RuntimeType DefaultRuntimeType => Inner.DefaultRuntimeType;

    public IReadOnlyList<ContainerInfo> ListContainers() => Inner.ListContainers();

    public ContainerInfo GetContainer(string idOrName) => Inner.GetContainer(idOrName);

    public Task<ContainerInfo> CreateContainerAsync(ContainerCreateSpec spec, CancellationToken ct = default) =>
        trail.RecordAsync(AuditActions.ContainerCreate, trail.Target(Type, null, spec.Name),
            () => Inner.CreateContainerAsync(spec, ct), Target, spec.RuntimeType, c => c.RuntimeType, Details(("image", spec.Image)));

    public Task<ContainerInfo> StartContainerAsync(string idOrName, CancellationToken ct = default) =>
        trail.RecordAsync(AuditActions.ContainerStart, Before(idOrName), () => Inner.StartContainerAsync(idOrName, ct), Target);

    public Task<ContainerInfo> ShutdownContainerAsync(string idOrName, TimeSpan? timeout = null, CancellationToken ct = default) =>
        trail.RecordAsync(AuditActions.ContainerStop, Before(idOrName), () => Inner.ShutdownContainerAsync(idOrName, timeout, ct), Target);

    public Task<ContainerInfo> RestartContainerAsync(string idOrName, TimeSpan? timeout = null, CancellationToken ct = default) =>
        trail.RecordAsync(AuditActions.ContainerRestart, Before(idOrName), () => Inner.RestartContainerAsync(idOrName, timeout, ct), Target);

    public Task<ContainerInfo> TerminateContainerAsync(string idOrName, CancellationToken ct = default) =>
        trail.RecordAsync(AuditActions.ContainerTerminate, Before(idOrName), () => Inner.TerminateContainerAsync(idOrName, ct), Target);

    public Task KillContainerAsync(string idOrName, int signal, CancellationToken ct = default) =>
        trail.RecordAsync(AuditActions.ContainerKill, Before(idOrName), () => Inner.KillContainerAsync(idOrName, signal, ct),
            Details(("signal", signal.ToString(System.Globalization.CultureInfo.InvariantCulture))));

    public Task RemoveContainerAsync(string idOrName, bool force = false, CancellationToken ct = default) =>
        trail.RecordAsync(AuditActions.ContainerRemove, Before(idOrName), () => Inner.RemoveContainerAsync(idOrName, force, ct),
            force ? Details(("force", "true")) : null);

    public Task<ContainerInfo> ConvertContainerAsync(string idOrName, RuntimeType target, bool restart = false, IProgress<OperationStep>? progress = null, CancellationToken ct = default) =>
        trail.RecordAsync(AuditActions.ContainerConvert, Before(idOrName), () => Inner.ConvertContainerAsync(idOrName, target, restart, progress, ct),
            Target, target, c => c.RuntimeType, restart ? Details(("restart", "true")) : null);

    public Task<IContainerProcess> ExecAsync(string idOrName, ProcessSpec spec, CancellationToken ct = default) =>
        // The executable only: arguments and the environment may carry secrets.
        trail.RecordAsync(AuditActions.ContainerExec, Before(idOrName), () => Inner.ExecAsync(idOrName, spec, ct),
            details: Details(("command", spec.Command.FirstOrDefault() ?? ""), ("tty", spec.Tty ? "true" : "false")));

    public Task<ContainerInfo> WaitAsync(string idOrName, CancellationToken ct = default) => Inner.WaitAsync(idOrName, ct);

    public IAsyncEnumerable<LogEntry> ReadLogsAsync(string idOrName, int? tail, bool follow, CancellationToken ct = default) => Inner.ReadLogsAsync(idOrName, tail, follow, ct);

    /// <summary>Attaching with input can drive the container's first process (a shell), like an exec: recorded; a read-only attach is not.</summary>
    public Task<ContainerAttachment> AttachAsync(string idOrName, bool includeEarlierOutput, bool stdin, CancellationToken ct = default) => stdin
        ? trail.RecordAsync(AuditActions.ContainerAttach, Before(idOrName), () => Inner.AttachAsync(idOrName, includeEarlierOutput, stdin, ct))
        : Inner.AttachAsync(idOrName, includeEarlierOutput, stdin, ct);

    public Task<IReadOnlyList<ContainerProcessInfo>> GetProcessesAsync(string idOrName, CancellationToken ct = default) => Inner.GetProcessesAsync(idOrName, ct);

    public Task<ContainerStatistics> GetStatisticsAsync(string idOrName, CancellationToken ct = default) => Inner.GetStatisticsAsync(idOrName, ct);

    public Task<IReadOnlyDictionary<string, ContainerStatistics>> GetAllStatisticsAsync(CancellationToken ct = default) => Inner.GetAllStatisticsAsync(ct);

    /// <summary>The container a reference names now (its id and name), or the reference itself when none does.</summary>
    private AuditTarget Before(string idOrName)
    {
        try
        {
            var container = Inner.GetContainer(idOrName);
            return trail.Target(Type, container.Id, container.Name);
        }
        catch (ComputeException)
        {
            return trail.Target(Type, null, idOrName);
        }
    }

    private AuditTarget Target(ContainerInfo container) => trail.Target(Type, container.Id, container.Name);

    private static Dictionary<string, string> Details(params (string Key, string Value)[] items) =>
        items.ToDictionary(i => i.Key, i => AuditTrail.Clip(i.Value)!, StringComparer.Ordinal);
}
