using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Compute.Networking;

/// <summary>A container's place on a switch, chosen at create and kept in its record until removal.</summary>
public sealed record NetworkReservation(string SwitchId, string SwitchName, string? IpAddress, string? MacAddress, IReadOnlyList<PortMapping> Ports);

/// <summary>
/// What the container lifecycle asks of networking (HNS endpoints, in Windows' words). Nothing in Containers/ knows a
/// bridge, a firewall or an address pool; the isolation drivers plumb their own devices from the attachment.
/// </summary>
public interface IContainerNetwork
{
    /// <summary>At agent start: switches loaded, bridges and firewall state as the switches say.</summary>
    Task InitializeAsync(CancellationToken ct);

    /// <summary>
    /// At create (inside the store's reservation): resolves the switch (name, alias, id; null = the default), checks the
    /// ports to publish and allocates the address and MAC, against every other container's record.
    /// </summary>
    NetworkReservation Reserve(string containerId, string? switchName, IReadOnlyList<PortMapping> ports, IReadOnlyList<ContainerRecord> others);

    /// <summary>Before the driver starts a run: the run's hosts file and its place on the switch, from which the driver plumbs its own device; ports published (null: no network but loopback).</summary>
    Task<NetworkAttachment?> AttachAsync(ContainerRecord record, IReadOnlyList<ContainerRecord> all, CancellationToken ct);

    /// <summary>After a run ended (or its start failed): ports closed, hosts file gone (the driver removed its device in its clean-up). Idempotent.</summary>
    Task DetachAsync(ContainerRecord record, CancellationToken ct);

    /// <summary>After the agent re-adopted a running container: its published ports listen again.</summary>
    Task ResumeAsync(ContainerRecord record, CancellationToken ct);

    /// <summary>A member of the container's switch came or went: rewrites its hosts file in place and returns the content (null: no switch).</summary>
    Task<string?> RewriteHostsAsync(ContainerRecord record, IReadOnlyList<ContainerRecord> all, CancellationToken ct);

    /// <summary>Sweeps devices, namespaces and hosts files of containers that are not running (a crash or a reboot left them).</summary>
    Task RemoveOrphansAsync(IReadOnlyCollection<string> runningIds, CancellationToken ct);
}
