using System.Collections.Concurrent;

namespace Portal.Compute.Containers;

/// <summary>The run state of every known container by id, shared by the lifecycle, the streams and the host's process view.</summary>
public sealed class ContainerRuns
{
    private readonly ConcurrentDictionary<string, ContainerRun> _runs = new(StringComparer.Ordinal);

    public ContainerRun Of(string id) => _runs.GetOrAdd(id, _ => new ContainerRun());

    /// <summary>The container's started compute system, or null; reading makes no run state.</summary>
    public IContainer? RunningOf(string id) => _runs.TryGetValue(id, out var run) ? run.Running : null;

    public void Forget(string id) => _runs.TryRemove(id, out _);

    /// <summary>Every running compute system by container id.</summary>
    public IReadOnlyList<(string Id, IContainer Container)> Running() =>
        _runs.Where(r => r.Value.Running is not null).Select(r => (r.Key, r.Value.Running!)).ToList();
}
