using Portal.Compute;
using Portal.Contracts;

namespace Portal.Tests.Shared.Compute;

/// <summary>A host with no process table to show: the docker API does not use this view.</summary>
public sealed class FakeHostProcessView : IHostProcessView
{
    public IReadOnlyList<ComputeSystemInfo> EnumerateComputeSystems(ComputeSystemQuery? query = null) => [];

    public IReadOnlyList<HostProcessInfo> FindHostProcesses(string? match = null) => [];

    public Task<IsolationView> GetIsolationViewAsync(string idOrName, CancellationToken ct = default) =>
        throw new ComputeException(ComputeErrorCode.ContainerNotFound, $"No such container: {idOrName}");
}
