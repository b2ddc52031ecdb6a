using Portal.Contracts;

namespace Portal.Compute;

/// <summary>What the host sees: compute systems (Get-ComputeProcess), its process table, and the isolation demo's two views.</summary>
public interface IHostProcessView
{
    /// <summary>Every container is a compute system of type Container; a VM-isolated one also owns its VirtualMachine.</summary>
    IReadOnlyList<ComputeSystemInfo> EnumerateComputeSystems(ComputeSystemQuery? query = null);

    /// <summary>The host's processes (optionally those whose name or command line contains <paramref name="match"/>), each marked with its container.</summary>
    IReadOnlyList<HostProcessInfo> FindHostProcesses(string? match = null);

    /// <summary>One running container's processes inside, and what the host sees of it.</summary>
    Task<IsolationView> GetIsolationViewAsync(string idOrName, CancellationToken ct = default);
}
