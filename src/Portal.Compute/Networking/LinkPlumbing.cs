using Microsoft.Win32.SafeHandles;

namespace Portal.Compute.Networking;

/// <summary>
/// The few host operations an isolation driver needs to plug its own device into a switch (hcsshim's uvm.AddNIC, in
/// spirit): a network namespace with a veth into the bridge, or a tap on the bridge; and removing them again.
/// Stateless: every name comes from the <see cref="SwitchPort"/>.
/// </summary>
public sealed class LinkPlumbing
{
    public static LinkPlumbing Host { get; } = new();

    private LinkPlumbing()
    {
    }

    /// <summary>
    /// Makes the persistent network namespace <see cref="SwitchPort.NamespacePath"/> and a veth pair: the host end plugged
    /// into the bridge, the other end inside as eth0 with the MAC, address and default route; lo up.
    /// </summary>
    public async Task AddVethNamespaceAsync(SwitchPort port, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(port);
        await HostNetwork.CreateNamespaceAsync(port.NamespacePath, ct).ConfigureAwait(false);
        await HostNetwork.BatchAsync(
            [$"link add {port.VethName} type veth peer name {port.PeerName}", $"link set {port.PeerName} netns {port.NamespacePath}", $"link set {port.VethName} master {port.Bridge}", $"link set {port.VethName} up"],
            ct: ct).ConfigureAwait(false);
        var inside = new List<string>
        {
            "link set lo up",
            $"link set {port.PeerName} name eth0",
            $"link set eth0 address {port.MacAddress}",
            $"addr add {port.Address}/{port.PrefixLength} dev eth0",
            "link set eth0 up",
        };
        if (port.Gateway is not null)
        {
            inside.Add($"route add default via {port.Gateway}");
        }

        await HostNetwork.BatchAsync(inside, port.NamespacePath, ct: ct).ConfigureAwait(false);
    }

    /// <summary>Removes the veth (both ends) and unmounts the namespace file. Idempotent.</summary>
    public async Task RemoveVethNamespaceAsync(string vethName, string peerName, string namespacePath, CancellationToken ct)
    {
        await HostNetwork.DeleteLinkAsync(vethName, ct).ConfigureAwait(false);
        await HostNetwork.DeleteLinkAsync(peerName, ct).ConfigureAwait(false);
        HostNetwork.DeleteNamespace(namespacePath);
    }

    /// <summary>Opens the tap <see cref="SwitchPort.TapName"/> (gone when its last descriptor closes) and plugs it into the bridge.</summary>
    public async Task<SafeFileHandle> OpenTapAsync(SwitchPort port, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(port);
        var tap = HostNetwork.OpenTap(port.TapName);
        try
        {
            await HostNetwork.BatchAsync([$"link set {port.TapName} master {port.Bridge}", $"link set {port.TapName} up"], ct: ct).ConfigureAwait(false);
            return tap;
        }
        catch
        {
            tap.Dispose();
            throw;
        }
    }

    /// <summary>Deletes a link by name if it exists (a tap whose VM is gone goes by itself; this is for certainty).</summary>
    public Task RemoveLinkAsync(string name, CancellationToken ct) => HostNetwork.DeleteLinkAsync(name, ct);
}
