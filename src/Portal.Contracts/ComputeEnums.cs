namespace Portal.Contracts;

/// <summary>The seed's isolation terms: Default is process isolation, HyperV is VM isolation.</summary>
public enum RuntimeType
{
    Default,
    HyperV,
}

/// <summary>HCS compute system types: every container is a Container; a VM-isolated one also owns a VirtualMachine.</summary>
public enum ComputeSystemType
{
    Container,
    VirtualMachine,
}

public enum ContainerState
{
    Created,
    Running,
    Stopping,
    Stopped,
}
