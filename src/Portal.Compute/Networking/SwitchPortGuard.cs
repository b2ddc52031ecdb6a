using System.Text;
using Portal.Compute.Containers;

namespace Portal.Compute.Networking;

/// <summary>
/// Anti-spoofing on the switches (Hyper-V's switch blocks MAC spoofing by default): in the agent's own bridge-family
/// table, every frame a container's port (its veth's host end or its tap) puts on the bridge must carry the container's
/// own MAC; it may only be IPv4 from the container's own address or ARP for it, nothing else (no IPv6, no VLAN tags, no
/// other ethertypes). The rules exist while the container is attached: added before its device is plugged, removed when
/// its run ends, so nothing of a removed container or switch remains; without guarded ports the table is deleted.
/// The table is replaced whole in one transaction at every change.
/// </summary>
internal sealed class SwitchPortGuard(string table, string interfacePrefix)
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly Dictionary<string, GuardedPort> _ports = new(StringComparer.Ordinal);

    /// <summary>The rules of one container's port: its device names and its own MAC and address.</summary>
    internal sealed record GuardedPort(string Chain, IReadOnlyList<string> Devices, string MacAddress, string Address);

    /// <summary>Guards the container's port (before its device is plugged into the bridge).</summary>
    public Task GuardAsync(ContainerRecord record, CancellationToken ct) => ChangeAsync(ports =>
    {
        if (PortOf(record) is { } port)
        {
            ports[record.Id] = port;
        }
    }, ct);

    /// <summary>Drops the container's rules (its run ended). Idempotent.</summary>
    public Task ReleaseAsync(string containerId, CancellationToken ct) => ChangeAsync(ports => ports.Remove(containerId), ct);

    /// <summary>At agent start: guards exactly these containers (those that may still run).</summary>
    public Task ResetAsync(IEnumerable<ContainerRecord> records, CancellationToken ct) => ChangeAsync(force: true, ports =>
    {
        ports.Clear();
        foreach (var record in records)
        {
            if (PortOf(record) is { } port)
            {
                ports[record.Id] = port;
            }
        }
    }, ct: ct);

    /// <summary>Keeps only the containers in <paramref name="runningIds"/>.</summary>
    public Task KeepAsync(IReadOnlyCollection<string> runningIds, CancellationToken ct) => ChangeAsync(ports =>
    {
        foreach (var id in ports.Keys.Where(id => !runningIds.Contains(id)).ToList())
        {
            ports.Remove(id);
        }
    }, ct);

    internal GuardedPort? PortOf(ContainerRecord record) =>
        record.IpAddress is { } address && record.MacAddress is { } mac && record.SwitchId is not (null or SwitchCatalog.NoneName)
            ? new GuardedPort($"port_{record.Id[..8]}", [$"{interfacePrefix}v{record.Id[..8]}", $"{interfacePrefix}t{record.Id[..8]}"], mac, address)
            : null;

    internal static string Build(string table, IReadOnlyCollection<GuardedPort> ports)
    {
        var script = new StringBuilder();
        script.Append("table bridge ").Append(table).Append('\n');
        script.Append("delete table bridge ").Append(table).Append('\n');
        if (ports.Count == 0)
        {
            return script.ToString();
        }

        script.Append("table bridge ").Append(table).Append(" {\n");
        script.Append("  chain prerouting {\n    type filter hook prerouting priority filter; policy accept;\n");
        foreach (var port in ports)
        {
            script.Append($"    iifname {{ {string.Join(", ", port.Devices.Select(d => $"\"{d}\""))} }} jump {port.Chain}\n");
        }

        script.Append("  }\n");
        foreach (var port in ports)
        {
            script.Append($"  chain {port.Chain} {{\n");
            script.Append($"    ether saddr != {port.MacAddress} drop\n");
            script.Append("    ether type != { ip, arp } drop\n");
            script.Append($"    arp saddr ether != {port.MacAddress} drop\n");
            script.Append($"    arp saddr ip != {port.Address} drop\n");
            script.Append($"    ip saddr != {port.Address} drop\n");
            script.Append("  }\n");
        }

        script.Append("}\n");
        return script.ToString();
    }

    private static bool Same(GuardedPort a, GuardedPort b) =>
        a.Chain == b.Chain && a.MacAddress == b.MacAddress && a.Address == b.Address && a.Devices.SequenceEqual(b.Devices);

    private Task ChangeAsync(Action<Dictionary<string, GuardedPort>> change, CancellationToken ct) => ChangeAsync(false, change, ct);

    /// <param name="force">Apply even when the set did not change (at start: an older agent's table is replaced).</param>
    private async Task ChangeAsync(bool force, Action<Dictionary<string, GuardedPort>> change, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var before = new Dictionary<string, GuardedPort>(_ports, StringComparer.Ordinal);
            change(_ports);
            if (!force && before.Count == _ports.Count && before.All(p => _ports.TryGetValue(p.Key, out var now) && Same(now, p.Value)))
            {
                return; // nothing changed
            }

            try
            {
                await HostNetwork.ApplyNftAsync(Build(table, _ports.Values), ct).ConfigureAwait(false);
            }
            catch
            {
                _ports.Clear();
                foreach (var (id, port) in before)
                {
                    _ports[id] = port;
                }

                throw;
            }
        }
        finally
        {
            _lock.Release();
        }
    }
}
