using Portal.Contracts;
using Portal.Contracts.Hub;
using Portal.Client;

namespace Portal.PowerShell.Model;

/// <summary>What Get-Container and New-Container emit: the seed's properties (ContainerName, Name, RuntimeType, ContainerId) and the agent's.</summary>
public sealed record PortalContainer
{
    public required string Name { get; init; }

    /// <summary>The seed selects ContainerName; it is the Name.</summary>
    public string ContainerName => Name;

    public required string ContainerId { get; init; }

    public required RuntimeType RuntimeType { get; init; }

    public required ContainerState State { get; init; }

    public required string Image { get; init; }

    public required string ImageId { get; init; }

    /// <summary>The virtual switch ("none" without a network).</summary>
    public required string SwitchName { get; init; }

    /// <summary>The container's address on its switch: the same across restarts and Set-Container -RuntimeType.</summary>
    public string? IpAddress { get; init; }

    public string? MacAddress { get; init; }

    /// <summary>Published ports as [hostip:]hostport->port/tcp.</summary>
    public IReadOnlyList<string> Ports { get; init; } = [];

    public required IReadOnlyList<string> Command { get; init; }

    public required IReadOnlyList<string> Environment { get; init; }

    public long? MemoryBytes { get; init; }

    public double? Cpus { get; init; }

    public required DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset? StartedAt { get; init; }

    public DateTimeOffset? FinishedAt { get; init; }

    public int? ExitCode { get; init; }

    public string? StopReason { get; init; }

    /// <summary>The host PID of the container's first process while it runs under process isolation.</summary>
    public int? HostPid { get; init; }

    public required IReadOnlyDictionary<string, string> Labels { get; init; }

    /// <summary>The commands the agent allows now (start, stop, convert ...), with the reason when one is not.</summary>
    public IReadOnlyList<ContainerCommand> Commands { get; init; } = [];

    /// <summary>The agent this container lives on; pipeline commands on this object go there.</summary>
    public required AgentEndpoint Agent { get; init; }

    public override string ToString() => Name;

    public static PortalContainer From(ContainerInfo c, AgentEndpoint agent, IReadOnlyList<ContainerCommand>? commands = null) => new()
    {
        Name = c.Name,
        ContainerId = c.Id,
        RuntimeType = c.RuntimeType,
        State = c.State,
        Image = c.Image,
        ImageId = c.ImageId,
        SwitchName = c.SwitchName,
        IpAddress = c.IpAddress,
        MacAddress = c.MacAddress,
        Ports = c.Ports.Select(p => $"{(p.HostIp is null ? "" : p.HostIp + ":")}{p.HostPort}->{p.ContainerPort}/{p.Protocol}").ToList(),
        Command = c.Command,
        Environment = c.Environment,
        MemoryBytes = c.Limits.MemoryBytes,
        Cpus = c.Limits.Cpus,
        CreatedAt = c.CreatedAt,
        StartedAt = c.StartedAt,
        FinishedAt = c.FinishedAt,
        ExitCode = c.ExitCode,
        StopReason = c.StopReason,
        HostPid = c.HostPid,
        Labels = c.Labels,
        Commands = commands ?? [],
        Agent = agent,
    };

    public static PortalContainer From(ContainerView view, AgentEndpoint agent) => From(view.Container, agent, view.Commands);
}
