using Portal.Contracts;

namespace Portal.PowerShell.Model;

/// <summary>A row of Get-ComputeProcess: a container's compute system, or the VirtualMachine of a VM-isolated one.</summary>
public sealed record ComputeProcess
{
    public required string Id { get; init; }

    public required string Name { get; init; }

    public required string Owner { get; init; }

    public required ComputeSystemType Type { get; init; }

    public required RuntimeType RuntimeType { get; init; }

    public required ContainerState State { get; init; }

    /// <summary>The container's first process on the host, or the VM worker's PID for a VirtualMachine.</summary>
    public int? HostPid { get; init; }

    public override string ToString() => Id;

    public static ComputeProcess From(ComputeSystemInfo s) => new()
    {
        Id = s.Id,
        Name = s.Name,
        Owner = s.Owner,
        Type = s.Type,
        RuntimeType = s.RuntimeType,
        State = s.State,
        HostPid = s.HostPid,
    };
}
