using System.Text.Json.Serialization;
using Portal.Contracts;

namespace Portal.Compute.Networking;

/// <summary>The persisted state of one virtual switch (in switches.json under StateRoot/network).</summary>
public sealed record SwitchRecord
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public required SwitchType Type { get; init; }
    /// <summary>CIDR; null only for None.</summary>
    public string? Subnet { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    /// <summary>The owning team; null for the administrators' switches (records from before teams read as those).</summary>
    public string? Team { get; init; }

    [JsonIgnore]
    public Ipv4Subnet? ParsedSubnet => Subnet is null ? null : Ipv4Subnet.Parse(Subnet);

    /// <summary>The host has an address on Nat and Internal switches (the containers' gateway), none on Private ones.</summary>
    [JsonIgnore]
    public bool HostHasAddress => Type is SwitchType.Nat or SwitchType.Internal;

    [JsonIgnore]
    public bool HasBridge => Type != SwitchType.None;
}

/// <summary>The file behind the switch store.</summary>
public sealed record SwitchStoreDocument
{
    public IReadOnlyList<SwitchRecord> Switches { get; init; } = [];
}
