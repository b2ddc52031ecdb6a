using System.Text;
using Portal.Contracts;

namespace Portal.Compute.Networking;

/// <summary>
/// The agent's nftables table, built from the switches alone and replaced whole in one transaction whenever they change,
/// so a removed switch's rules go with it and a table of an older agent is corrected at start. Without bridged
/// switches the table is deleted: nothing of ours remains.
/// </summary>
internal static class NftRuleset
{
    /// <param name="bridges">Each switch with a bridge, and its bridge's name.</param>
    public static string Build(string table, string interfacePrefix, IReadOnlyList<(SwitchRecord Switch, string Bridge)> bridges)
    {
        var script = new StringBuilder();
        // Declaring the table first makes the delete succeed when it does not exist yet.
        script.Append("table ip ").Append(table).Append('\n');
        script.Append("delete table ip ").Append(table).Append('\n');
        if (bridges.Count == 0)
        {
            return script.ToString();
        }

        script.Append("table ip ").Append(table).Append(" {\n");
        script.Append("  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
        foreach (var (sw, bridge) in bridges)
        {
            // Within a switch (bridged traffic passes here too when br_netfilter is loaded).
            script.Append($"    iifname \"{bridge}\" oifname \"{bridge}\" accept\n");
            if (sw.Type == SwitchType.Nat)
            {
                script.Append($"    iifname \"{bridge}\" oifname != \"{interfacePrefix}*\" accept\n");
                script.Append($"    oifname \"{bridge}\" ct state established,related accept\n");
            }

            // Nothing crosses between switches, and nothing from outside enters an Internal or Private one.
            script.Append($"    iifname \"{bridge}\" drop\n");
            script.Append($"    oifname \"{bridge}\" drop\n");
        }

        script.Append("  }\n");
        var privateBridges = bridges.Where(b => b.Switch.Type == SwitchType.Private).ToList();
        if (privateBridges.Count > 0)
        {
            // Private: containers only; the host has no address there and accepts nothing from it.
            script.Append("  chain input {\n    type filter hook input priority filter; policy accept;\n");
            foreach (var (_, bridge) in privateBridges)
            {
                script.Append($"    iifname \"{bridge}\" drop\n");
            }

            script.Append("  }\n");
        }

        var nat = bridges.Where(b => b.Switch.Type == SwitchType.Nat).ToList();
        if (nat.Count > 0)
        {
            script.Append("  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n");
            foreach (var (sw, bridge) in nat)
            {
                script.Append($"    ip saddr {sw.Subnet} oifname != \"{bridge}\" masquerade\n");
            }

            script.Append("  }\n");
        }

        script.Append("}\n");
        return script.ToString();
    }
}
