namespace Portal.Compute.Networking;

/// <summary>Virtual switch settings (appsettings.json section "Compute:Networking").</summary>
public sealed record NetworkOptions
{
    /// <summary>
    /// Starts the name of every interface the agent makes (bridges "&lt;prefix&gt;br&lt;6 hex&gt;", veths "&lt;prefix&gt;v&lt;8 hex&gt;",
    /// taps "&lt;prefix&gt;t&lt;8 hex&gt;"): at most 6 characters, so names stay within Linux's 15. Interfaces with this prefix
    /// that the agent does not know are removed at start, so every agent (and test sandbox) needs its own.
    /// </summary>
    public string InterfacePrefix { get; init; } = "ptl";

    /// <summary>The agent's own nftables table (family ip): every firewall rule of ours lives there and nowhere else.</summary>
    public string NftTable { get; init; } = "portal";

    /// <summary>Where switches without an explicit subnet get theirs, one /SubnetPrefixLength at a time.</summary>
    public string AddressPool { get; init; } = "10.89.0.0/16";

    public int SubnetPrefixLength { get; init; } = 24;

    /// <summary>
    /// The default switch's size: a /22 holds 1021 containers (a /24 would stop a busy host at 253, all of which
    /// land on the default switch unless they name another).
    /// </summary>
    public int DefaultSwitchPrefixLength { get; init; } = 22;

    /// <summary>The NAT switch made at the first start; containers that ask for no switch are connected to it.</summary>
    public string DefaultSwitch { get; init; } = "NAT";

    /// <summary>Names that stand for switches (case-insensitive), so the seed's and docker's names work unchanged.</summary>
    public IReadOnlyDictionary<string, string> SwitchAliases { get; init; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["Virtual Switch"] = "NAT",
        ["Default Switch"] = "NAT",
        ["bridge"] = "NAT",
        ["default"] = "NAT",
    };

    /// <summary>
    /// Turns on net.ipv4.ip_forward while a NAT switch exists (masquerade needs it to reach the outside) and turns it off
    /// again with the last one if the agent turned it on. Off: NAT containers reach the host and each other, not beyond.
    /// </summary>
    public bool EnableIpForward { get; init; } = true;

    public const int DefaultPublishedPortMaxConnections = 1024;

    public const int DefaultPublishedPortsMaxConnections = 8192;

    /// <summary>
    /// The most connections one published port relays at once; each holds two of the agent's descriptors. One more is
    /// reset at once and logged.
    /// </summary>
    public int PublishedPortMaxConnections { get; init; } = DefaultPublishedPortMaxConnections;

    /// <summary>The most connections all published ports together relay at once (16,384 descriptors at the default).</summary>
    public int PublishedPortsMaxConnections { get; init; } = DefaultPublishedPortsMaxConnections;
}
