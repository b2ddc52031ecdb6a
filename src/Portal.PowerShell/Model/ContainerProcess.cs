using Portal.Contracts;

namespace Portal.PowerShell.Model;

/// <summary>
/// A process inside a container, shaped like Get-Process's objects (ProcessName, Id, CPU, WS) plus HostId: the same
/// process's PID on the host, which the built-in Get-Process reports as Id; null under VM isolation, where the host
/// cannot see it.
/// </summary>
public sealed record ContainerProcess
{
    public required string ProcessName { get; init; }

    /// <summary>The PID inside the container.</summary>
    public required int Id { get; init; }

    public int? HostId { get; init; }

    public int? ParentId { get; init; }

    /// <summary>CPU time in seconds, as Get-Process's CPU.</summary>
    public required double CPU { get; init; }

    /// <summary>Resident memory in bytes, as Get-Process's WS.</summary>
    public required long WS { get; init; }

    public required string UserName { get; init; }

    public required string CommandLine { get; init; }

    public required string ContainerName { get; init; }

    public required string ContainerId { get; init; }

    public override string ToString() => ProcessName;

    public static ContainerProcess From(ContainerProcessInfo p, PortalContainer container) => new()
    {
        ProcessName = p.Name,
        Id = p.Pid,
        HostId = p.HostPid,
        ParentId = p.ParentPid,
        CPU = p.CpuSeconds,
        WS = p.MemoryBytes,
        UserName = p.User,
        CommandLine = p.CommandLine,
        ContainerName = container.Name,
        ContainerId = container.ContainerId,
    };
}
