using Portal.Compute.Audit;
using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Compute.Teams;

/// <summary>The container service as a team caller may see and use it (see <see cref="TeamScopedComputeHost"/>).</summary>
internal sealed class TeamScopedContainerService(IComputeHost host, AuditTrail trail) : IContainerService
{
    private const string Type = "container";
    // Handlers by value (a method group makes a new delegate each time, equal but not the same), with their filtered wrappers.
    private readonly List<(Action<ContainerEvent> Handler, Action<ContainerEvent> Filtered)> _filtered = [];
    private readonly Lock _lock = new();

    private IContainerService Inner => host.Containers;

    /// <summary>A subscriber acting for a team gets only its team's containers' events (the caller at subscription decides).</summary>
    public event Action<ContainerEvent>? Changed
    {
        add
        {
            if (value is null)
            {
                return;
            }

            if (TeamScopedComputeHost.TeamCaller() is { } caller)
            {
                var team = caller.Team!;
                Action<ContainerEvent> filtered = e =>
                {
                    if (TeamScopedComputeHost.Owns(team, e.Container))
                    {
                        value(e);
                    }
                };
                lock (_lock)
                {
                    _filtered.Add((value, filtered));
                }

                Inner.Changed += filtered;
            }
            else
            {
                Inner.Changed += value;
            }
        }

        remove
        {
            if (value is null)
            {
                return;
            }

            Action<ContainerEvent>? filtered = null;
            lock (_lock)
            {
                var index = _filtered.FindLastIndex(f => f.Handler.Equals(value));
                if (index >= 0)
                {
                    filtered = _filtered[index].Filtered;
                    _filtered.RemoveAt(index);
                }
            }

            Inner.Changed -= filtered ?? value;
        }
    }

    public IReadOnlyCollection<RuntimeType> RuntimeTypes => Inner.RuntimeTypes;

    public RuntimeType DefaultRuntimeType => Inner.DefaultRuntimeType;

    public IReadOnlyList<ContainerInfo> ListContainers() => TeamScopedComputeHost.TeamCaller() is { } caller
        ? Inner.ListContainers().Where(c => TeamScopedComputeHost.Owns(caller.Team!, c)).ToList()
        : Inner.ListContainers();

    public ContainerInfo GetContainer(string idOrName) => Check(idOrName, TeamAction.Read, null);

    public Task<ContainerInfo> CreateContainerAsync(ContainerCreateSpec spec, CancellationToken ct = default)
    {
        if (TeamScopedComputeHost.TeamCaller() is not { } caller)
        {
            return Inner.CreateContainerAsync(spec, ct);
        }

        TeamScopedComputeHost.Demand(trail, caller, TeamAction.Create, AuditActions.ContainerCreate, trail.Target(Type, null, spec.Name));

        // The owner is the caller's team, whatever label the caller sent.
        var labels = new Dictionary<string, string>(spec.Labels, StringComparer.Ordinal) { [TeamRules.OwnerLabel] = caller.Team! };
        return Inner.CreateContainerAsync(spec with { Labels = labels }, ct);
    }

    public Task<ContainerInfo> StartContainerAsync(string idOrName, CancellationToken ct = default) =>
        Inner.StartContainerAsync(Id(idOrName, TeamAction.Operate, AuditActions.ContainerStart), ct);

    public Task<ContainerInfo> ShutdownContainerAsync(string idOrName, TimeSpan? timeout = null, CancellationToken ct = default) =>
        Inner.ShutdownContainerAsync(Id(idOrName, TeamAction.Operate, AuditActions.ContainerStop), timeout, ct);

    public Task<ContainerInfo> RestartContainerAsync(string idOrName, TimeSpan? timeout = null, CancellationToken ct = default) =>
        Inner.RestartContainerAsync(Id(idOrName, TeamAction.Operate, AuditActions.ContainerRestart), timeout, ct);

    public Task<ContainerInfo> TerminateContainerAsync(string idOrName, CancellationToken ct = default) =>
        Inner.TerminateContainerAsync(Id(idOrName, TeamAction.Operate, AuditActions.ContainerTerminate), ct);

    public Task KillContainerAsync(string idOrName, int signal, CancellationToken ct = default) =>
        Inner.KillContainerAsync(Id(idOrName, TeamAction.Operate, AuditActions.ContainerKill), signal, ct);

    public Task RemoveContainerAsync(string idOrName, bool force = false, CancellationToken ct = default) =>
        Inner.RemoveContainerAsync(Id(idOrName, TeamAction.Remove, AuditActions.ContainerRemove), force, ct);

    public Task<ContainerInfo> ConvertContainerAsync(string idOrName, RuntimeType target, bool restart = false, IProgress<OperationStep>? progress = null, CancellationToken ct = default) =>
        Inner.ConvertContainerAsync(Id(idOrName, TeamAction.Convert, AuditActions.ContainerConvert), target, restart, progress, ct);

    public Task<IContainerProcess> ExecAsync(string idOrName, ProcessSpec spec, CancellationToken ct = default) =>
        Inner.ExecAsync(Id(idOrName, TeamAction.Terminal, AuditActions.ContainerExec), spec, ct);

    public Task<ContainerInfo> WaitAsync(string idOrName, CancellationToken ct = default) =>
        Inner.WaitAsync(Id(idOrName, TeamAction.Read, null), ct);

    public IAsyncEnumerable<LogEntry> ReadLogsAsync(string idOrName, int? tail, bool follow, CancellationToken ct = default) =>
        Inner.ReadLogsAsync(Id(idOrName, TeamAction.Logs, null), tail, follow, ct);

    public Task<ContainerAttachment> AttachAsync(string idOrName, bool includeEarlierOutput, bool stdin, CancellationToken ct = default) =>
        Inner.AttachAsync(stdin ? Id(idOrName, TeamAction.Terminal, AuditActions.ContainerAttach) : Id(idOrName, TeamAction.Logs, null), includeEarlierOutput, stdin, ct);

    public Task<IReadOnlyList<ContainerProcessInfo>> GetProcessesAsync(string idOrName, CancellationToken ct = default) =>
        Inner.GetProcessesAsync(Id(idOrName, TeamAction.Read, null), ct);

    public Task<ContainerStatistics> GetStatisticsAsync(string idOrName, CancellationToken ct = default) =>
        Inner.GetStatisticsAsync(Id(idOrName, TeamAction.Read, null), ct);

    public async Task<IReadOnlyDictionary<string, ContainerStatistics>> GetAllStatisticsAsync(CancellationToken ct = default)
    {
        var all = await Inner.GetAllStatisticsAsync(ct).ConfigureAwait(false);
        if (TeamScopedComputeHost.TeamCaller() is not { } caller)
        {
            return all;
        }

        var owned = Inner.ListContainers().Where(c => TeamScopedComputeHost.Owns(caller.Team!, c)).Select(c => c.Id).ToHashSet(StringComparer.Ordinal);
        return all.Where(s => owned.Contains(s.Key)).ToDictionary(s => s.Key, s => s.Value, StringComparer.Ordinal);
    }

    /// <summary>
    /// The container's id once the caller may do <paramref name="action"/> to it: acting on the id keeps a reference
    /// that means another container (a name reused meanwhile) from slipping past the check.
    /// </summary>
    private string Id(string idOrName, TeamAction action, string? auditAction) =>
        TeamScopedComputeHost.TeamCaller() is null ? idOrName : Check(idOrName, action, auditAction).Id;

    private ContainerInfo Check(string idOrName, TeamAction action, string? auditAction)
    {
        if (TeamScopedComputeHost.TeamCaller() is not { } caller)
        {
            return Inner.GetContainer(idOrName);
        }

        var container = Resolve(caller.Team!, idOrName);
        TeamScopedComputeHost.Demand(trail, caller, action, auditAction ?? $"container.{action.ToString().ToLowerInvariant()}", trail.Target(Type, container.Id, container.Name));
        return container;
    }

    /// <summary>
    /// A reference resolved among the team's containers only (exact id, name, then unique id prefix, as the store does):
    /// another team's container answers exactly as a missing one, and an id prefix is never ambiguous because of one, so
    /// nothing of other teams' containers leaks.
    /// </summary>
    private ContainerInfo Resolve(string team, string idOrName)
    {
        if (string.IsNullOrWhiteSpace(idOrName))
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "No container given: name a container by its name or id.");
        }

        var key = idOrName.TrimStart('/');
        var owned = Inner.ListContainers().Where(c => TeamScopedComputeHost.Owns(team, c)).ToList();
        var match = owned.FirstOrDefault(c => c.Id == key) ?? owned.FirstOrDefault(c => c.Name == key);
        if (match is not null)
        {
            return match;
        }

        var byPrefix = owned.Where(c => c.Id.StartsWith(key, StringComparison.OrdinalIgnoreCase)).Take(2).ToList();
        return byPrefix.Count switch
        {
            1 => byPrefix[0],
            0 => throw new ComputeException(ComputeErrorCode.ContainerNotFound, $"No such container: '{idOrName}'. List containers to see their names and ids."),
            _ => throw new ComputeException(ComputeErrorCode.InvalidArgument, $"'{idOrName}' matches more than one container id; give more of the id."),
        };
    }
}
