using Microsoft.Extensions.Logging;
using Portal.Contracts;

namespace Portal.Compute.Networking;

/// <summary>
/// The host's firewall state for the switches: the agent's own nftables table (rebuilt and replaced in one transaction)
/// and net.ipv4.ip_forward, turned on for NAT switches and off again only if the agent turned it on.
/// </summary>
internal sealed class HostFirewall(NetworkOptions options, string runRoot, ILogger logger)
{
    private const string IpForward = "/proc/sys/net/ipv4/ip_forward";

    private string IpForwardMarker => Path.Combine(runRoot, "ip_forward.enabled");

    /// <summary>The firewall table and ip_forward, from the switches as they are now.</summary>
    public async Task ApplyAsync(IReadOnlyList<(SwitchRecord Switch, string Bridge)> bridged, CancellationToken ct)
    {
        await HostNetwork.ApplyNftAsync(NftRuleset.Build(options.NftTable, options.InterfacePrefix, bridged), ct).ConfigureAwait(false);
        if (!options.EnableIpForward)
        {
            return;
        }

        var anyNat = bridged.Any(b => b.Switch.Type == SwitchType.Nat);
        if (anyNat && HostNetwork.ReadSysctl(IpForward) == "0")
        {
            HostNetwork.WriteSysctl(IpForward, "1");
            await File.WriteAllTextAsync(IpForwardMarker, "", ct).ConfigureAwait(false);
            logger.LogInformation("Turned on net.ipv4.ip_forward for NAT switches");
        }
        else if (!anyNat && File.Exists(IpForwardMarker))
        {
            HostNetwork.WriteSysctl(IpForward, "0");
            File.Delete(IpForwardMarker);
            logger.LogInformation("Turned net.ipv4.ip_forward off again: no NAT switch is left");
        }
    }
}
