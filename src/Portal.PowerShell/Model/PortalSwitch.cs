using Portal.Contracts;
using Portal.Client;

namespace Portal.PowerShell.Model;

/// <summary>What Get-VMSwitch and New-VMSwitch emit (Hyper-V's Name and SwitchType, plus the agent's details).</summary>
public sealed record PortalSwitch
{
    public required string Name { get; init; }

    public required string Id { get; init; }

    public required SwitchType SwitchType { get; init; }

    public string? Subnet { get; init; }

    public string? Gateway { get; init; }

    public string? Bridge { get; init; }

    public IReadOnlyList<string> Aliases { get; init; } = [];

    public bool IsDefault { get; init; }

    /// <summary>The owning team; empty for the administrators' switches, which every team may connect containers to.</summary>
    public string? Team { get; init; }

    /// <summary>Connected containers as name (address).</summary>
    public IReadOnlyList<string> Containers { get; init; } = [];

    public required AgentEndpoint Agent { get; init; }

    public override string ToString() => Name;

    public static PortalSwitch From(SwitchInfo s, AgentEndpoint agent) => new()
    {
        Name = s.Name,
        Id = s.Id,
        SwitchType = s.Type,
        Subnet = s.Subnet,
        Gateway = s.Gateway,
        Bridge = s.Bridge,
        Aliases = s.Aliases,
        IsDefault = s.IsDefault,
        Team = s.Team,
        Containers = s.Containers.Select(c => c.IpAddress is null ? c.ContainerName : $"{c.ContainerName} ({c.IpAddress})").ToList(),
        Agent = agent,
    };
}
