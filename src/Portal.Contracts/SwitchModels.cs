namespace Portal.Contracts;

/// <summary>
/// What a virtual switch connects (Hyper-V's switch types): Nat = containers, the host and, through masquerade, the
/// outside, with published ports; Internal = containers and the host; Private = containers only; None = no network
/// but loopback.
/// </summary>
public enum SwitchType
{
    Nat,
    Internal,
    Private,
    None,
}

/// <summary>What a caller asks for when creating a switch (New-VMSwitch, docker network create, POST /api/switches).</summary>
public sealed record SwitchCreateSpec
{
    public required string Name { get; init; }
    public SwitchType Type { get; init; } = SwitchType.Nat;
    /// <summary>An IPv4 subnet in CIDR form (10.89.3.0/24); null picks a free one from the host's address pool.</summary>
    public string? Subnet { get; init; }
    /// <summary>
    /// The team that owns the switch; null for the administrators' switches, which every team sees and may connect to.
    /// The agent sets it to the caller's team for a team caller; an administrator may set it to make a switch for a team.
    /// </summary>
    public string? Team { get; init; }
}

/// <summary>A virtual switch as every client sees it.</summary>
public sealed record SwitchInfo
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public required SwitchType Type { get; init; }
    /// <summary>The switch's IPv4 subnet (null for None).</summary>
    public string? Subnet { get; init; }
    /// <summary>The host's address on the switch and the containers' gateway (Nat and Internal only).</summary>
    public string? Gateway { get; init; }
    /// <summary>The Linux bridge behind the switch (null for None).</summary>
    public string? Bridge { get; init; }
    /// <summary>Other names that resolve to this switch ("Virtual Switch" for the default one).</summary>
    public IReadOnlyList<string> Aliases { get; init; } = [];
    /// <summary>Containers that ask for no switch are connected to this one.</summary>
    public bool IsDefault { get; init; }
    /// <summary>Built in (None): cannot be removed.</summary>
    public bool IsBuiltIn { get; init; }
    public IReadOnlyList<SwitchEndpoint> Containers { get; init; } = [];
    public DateTimeOffset CreatedAt { get; init; }
    /// <summary>The owning team; null for the administrators' switches (shared: every team may connect containers to them).</summary>
    public string? Team { get; init; }
}

/// <summary>A container's place on a switch: its address stays the same across restarts and runtime conversions.</summary>
public sealed record SwitchEndpoint
{
    public required string ContainerId { get; init; }
    public required string ContainerName { get; init; }
    public string? IpAddress { get; init; }
    public string? MacAddress { get; init; }
}

/// <summary>A published port: connections to the host's HostIp:HostPort reach the container's ContainerPort (NAT switches).</summary>
public sealed record PortMapping
{
    /// <summary>The host address to listen on; null or empty = every address (as docker's -p 8080:80).</summary>
    public string? HostIp { get; init; }
    /// <summary>The host port; 0 picks a free one when the container is created.</summary>
    public int HostPort { get; init; }
    public required int ContainerPort { get; init; }
    /// <summary>tcp (the only protocol published today).</summary>
    public string Protocol { get; init; } = "tcp";
}
