using Portal.Compute.Containers;
using Portal.Compute.Linux;
using Portal.Compute.Linux.ProcessIsolation;
using Portal.Contracts;

namespace Portal.Compute;

/// <summary>
/// What the host sees of its containers: compute systems (a container, and a VM-isolated one's utility VM), the host's
/// process table with each process marked by its container (by PID namespace) or as a VM worker, and the isolation demo.
/// </summary>
public sealed class HostProcessView(ContainerStore store, ContainerRuns runs) : IHostProcessView
{
    public IReadOnlyList<ComputeSystemInfo> EnumerateComputeSystems(ComputeSystemQuery? query = null)
    {
        var systems = new List<ComputeSystemInfo>();
        foreach (var r in store.List())
        {
            var running = runs.RunningOf(r.Id);
            systems.Add(new ComputeSystemInfo
            {
                Id = r.Id,
                Name = r.Name,
                Owner = r.Labels.TryGetValue("owner", out var owner) ? owner : "portal",
                Type = ComputeSystemType.Container,
                RuntimeType = r.RuntimeType,
                State = r.State,
                HostPid = running?.HostPid,
            });
            if (running?.VirtualMachine is { } vm)
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

    public IReadOnlyList<HostProcessInfo> FindHostProcesses(string? match = null)
    {
        var byNamespace = new Dictionary<ulong, ContainerRecord>();
        var byWorker = new Dictionary<int, ContainerRecord>();
        var hostNamespace = ProcessTable.PidNamespaceOf(Environment.ProcessId);
        foreach (var (id, running) in runs.Running())
        {
            if (store.Get(id) is not { } record)
            {
                continue;
            }

            if (running.HostPid is { } pid && ProcessTable.PidNamespaceOf(pid) is { } ns && ns != hostNamespace)
            {
                byNamespace[ns] = record;
            }

            if (running.VirtualMachine?.HostPid is { } worker)
            {
                byWorker[worker] = record;
            }
        }

        var userName = ContainerUser.NameLookup("/");
        return ProcessTable.All()
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

    public async Task<IsolationView> GetIsolationViewAsync(string idOrName, CancellationToken ct = default)
    {
        var record = store.Find(idOrName);
        ContainerLifecycle.Ensure(record.State, ContainerOperation.Exec, record.Name);
        var running = runs.RunningOf(record.Id) ?? throw new ComputeException(ComputeErrorCode.InvalidTransition, $"Container '{record.Name}' is not running.");
        var inside = await running.ListProcessesAsync(ct).ConfigureAwait(false);
        return new IsolationView
        {
            Container = record.ToInfo(),
            Inside = inside,
            SeenFromHost = FindHostProcesses().Where(p => p.ContainerId == record.Id).ToList(),
        };
    }
}
