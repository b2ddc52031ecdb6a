namespace Portal.Compute.Networking;

/// <summary>
/// What one run of a container gets from its switch, handed to the isolation driver: the hosts file, and (on a bridged
/// switch) its <see cref="SwitchPort"/> and the <see cref="LinkPlumbing"/> to plug its own device with. The driver makes
/// the device (veth + namespace, or tap) and removes it in its clean-up; the switch only sweeps orphans after a crash.
/// </summary>
public sealed record NetworkAttachment
{
    /// <summary>The container's /etc/hosts on the host, rewritten in place when its switch's members change.</summary>
    public required string HostsPath { get; init; }

    /// <summary>The content of the hosts file now.</summary>
    public required string Hosts { get; init; }

    /// <summary>The place on the switch (null with switch None: loopback only).</summary>
    public SwitchPort? Port { get; init; }

    public LinkPlumbing Plumbing { get; init; } = LinkPlumbing.Host;
}
