using Portal.Contracts.Guest;

namespace Portal.Compute.Networking;

/// <summary>
/// A container's place on a bridged switch for one run: the bridge to plug into, its address, MAC and gateway, and the
/// names its devices must have (the switch's orphan sweep and the firewall rules recognise them by name). Which device
/// to make is the isolation driver's business: a veth into a network namespace, or a tap for a VM.
/// </summary>
public sealed record SwitchPort
{
    /// <summary>The switch's bridge on the host.</summary>
    public required string Bridge { get; init; }
    public required string Address { get; init; }
    public required int PrefixLength { get; init; }
    /// <summary>The default route (NAT switches only).</summary>
    public string? Gateway { get; init; }
    public required string MacAddress { get; init; }
    /// <summary>Process isolation: the host end of the veth pair.</summary>
    public required string VethName { get; init; }
    /// <summary>Process isolation: the container end's name until it is renamed eth0 inside the namespace.</summary>
    public required string PeerName { get; init; }
    /// <summary>VM isolation: the tap handed to the VM worker.</summary>
    public required string TapName { get; init; }
    /// <summary>Process isolation: where the persistent network namespace file goes.</summary>
    public required string NamespacePath { get; init; }

    /// <summary>What the guest agent configures its virtio-net interface with.</summary>
    public GuestNetwork ToGuest() => new() { MacAddress = MacAddress, Address = Address, PrefixLength = PrefixLength, Gateway = Gateway };
}
