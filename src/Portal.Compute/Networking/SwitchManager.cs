using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Portal.Compute.Containers;
using Portal.Contracts;
using Portal.Contracts.Guest;

namespace Portal.Compute.Networking;

/// <summary>
/// Virtual switches (HNS networks): the store of switches, their bridges and the agent's nftables table; addresses
/// (stable per container: allocated at create, kept in the container's record, released with it); and each run's
/// plumbing: a veth into a network namespace for process isolation, a tap for VM isolation, published ports, hosts files.
/// The compute service calls it; callers of the service never see a bridge.
/// </summary>
public sealed partial class SwitchManager : IAsyncDisposable
{
    public const string NoneName = "none";

    /// <summary>The built-in switch of containers without a network (loopback only).</summary>
    public static readonly SwitchRecord None = new() { Id = NoneName, Name = NoneName, Type = SwitchType.None, CreatedAt = DateTimeOffset.UnixEpoch };

    private readonly NetworkOptions _options;
    private readonly SwitchStore _store;
    private readonly string _runRoot;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly ConcurrentDictionary<string, IReadOnlyList<PortProxy>> _proxies = new(StringComparer.Ordinal);
    private volatile IReadOnlyList<SwitchRecord> _switches = [];

    public SwitchManager(NetworkOptions options, string stateRoot, string runRoot, ILogger logger)
    {
        if (!InterfacePrefixPattern().IsMatch(options.InterfacePrefix))
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Compute:Networking:InterfacePrefix '{options.InterfacePrefix}' must be 1 to 6 lower-case letters or digits, starting with a letter (interface names are at most 15 characters).");
        }

        if (!TableNamePattern().IsMatch(options.NftTable))
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Compute:Networking:NftTable '{options.NftTable}' must be letters, digits and underscores, starting with a letter.");
        }

        _options = options;
        _store = new SwitchStore(Path.Combine(stateRoot, "network"));
        _runRoot = Path.Combine(runRoot, "net");
        _logger = logger;
    }

    public NetworkOptions Options => _options;

    /// <summary>Every switch, the built-in None first.</summary>
    public IReadOnlyList<SwitchRecord> Switches => [None, .. _switches];

    public string BridgeName(SwitchRecord sw) => $"{_options.InterfacePrefix}br{sw.Id[..6]}";

    private string VethName(string containerId) => $"{_options.InterfacePrefix}v{containerId[..8]}";

    private string PeerName(string containerId) => $"{_options.InterfacePrefix}p{containerId[..8]}";

    private string TapName(string containerId) => $"{_options.InterfacePrefix}t{containerId[..8]}";

    public string NamespacePath(string containerId) => Path.Combine(_runRoot, "ns", containerId);

    public string HostsPath(string containerId) => Path.Combine(_runRoot, "hosts", containerId);

    private string IpForwardMarker => Path.Combine(_runRoot, "ip_forward.enabled");

    // ---- switches ----

    /// <summary>Loads the switches (making the default NAT switch at the first start), recreates missing bridges, removes bridges of ours nobody knows, and applies the firewall table.</summary>
    public async Task InitializeAsync(CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            Directory.CreateDirectory(_runRoot);
            var firstStart = !_store.Exists;
            var switches = _store.Load().ToList();
            if (firstStart)
            {
                switches.Add(NewRecord(_options.DefaultSwitch, SwitchType.Nat, FreeSubnet(switches, _options.DefaultSwitchPrefixLength)));
                await _store.SaveAsync(switches, ct).ConfigureAwait(false);
                _logger.LogInformation("Created the default NAT switch '{Name}' ({Subnet})", switches[^1].Name, switches[^1].Subnet);
            }

            _switches = switches;
            foreach (var sw in switches.Where(s => s.HasBridge))
            {
                await HostNetwork.EnsureBridgeAsync(BridgeName(sw), GatewayCidr(sw), ct).ConfigureAwait(false);
            }

            var bridges = switches.Where(s => s.HasBridge).Select(BridgeName).ToHashSet(StringComparer.Ordinal);
            foreach (var stale in HostNetwork.LinksWithPrefix(_options.InterfacePrefix + "br").Where(b => !bridges.Contains(b)))
            {
                _logger.LogWarning("Removing bridge {Bridge} of a switch that no longer exists", stale);
                await HostNetwork.DeleteLinkAsync(stale, ct).ConfigureAwait(false);
            }

            await ApplyHostStateAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>A switch by name, alias, id or unique id prefix; null or empty is the default switch.</summary>
    public SwitchRecord Resolve(string? name)
    {
        var switches = _switches;
        if (string.IsNullOrWhiteSpace(name))
        {
            return switches.FirstOrDefault(s => string.Equals(s.Name, _options.DefaultSwitch, StringComparison.OrdinalIgnoreCase))
                ?? throw new ComputeException(ComputeErrorCode.SwitchNotFound, $"The default switch '{_options.DefaultSwitch}' was removed: create it again, or name the switch to connect the container to (for example none).");
        }

        var key = name.Trim();
        if (string.Equals(key, NoneName, StringComparison.OrdinalIgnoreCase))
        {
            return None;
        }

        if (string.Equals(key, "host", StringComparison.OrdinalIgnoreCase))
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "Containers cannot share the host's network: connect them to a NAT switch and publish the ports they serve.");
        }

        var byName = switches.FirstOrDefault(s => string.Equals(s.Name, key, StringComparison.OrdinalIgnoreCase));
        if (byName is null && _options.SwitchAliases.FirstOrDefault(a => string.Equals(a.Key, key, StringComparison.OrdinalIgnoreCase)).Value is { } target)
        {
            byName = switches.FirstOrDefault(s => string.Equals(s.Name, target, StringComparison.OrdinalIgnoreCase));
        }

        if (byName is not null)
        {
            return byName;
        }

        var byId = key.Length >= 4 ? switches.Where(s => s.Id.StartsWith(key, StringComparison.OrdinalIgnoreCase)).Take(2).ToList() : [];
        return byId.Count == 1
            ? byId[0]
            : throw new ComputeException(ComputeErrorCode.SwitchNotFound, $"No such switch: '{name}'. List the switches to see their names (Get-VMSwitch, docker network ls, GET /api/switches).");
    }

    /// <summary>The switch a container is connected to (None for containers made before switches existed).</summary>
    public SwitchRecord SwitchOf(ContainerRecord record) =>
        record.SwitchId is null or NoneName ? None : _switches.FirstOrDefault(s => s.Id == record.SwitchId) ?? None;

    public async Task<SwitchRecord> CreateAsync(SwitchCreateSpec spec, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var name = spec.Name?.Trim() ?? "";
        if (!SwitchNamePattern().IsMatch(name))
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Invalid switch name '{spec.Name}': use 1 to 64 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit.");
        }

        if (!Enum.IsDefined(spec.Type) || spec.Type == SwitchType.None)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Switch type '{spec.Type}' cannot be created: use Nat, Internal or Private (the built-in switch 'none' stands for no network).");
        }

        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var switches = _switches.ToList();
            if (string.Equals(name, NoneName, StringComparison.OrdinalIgnoreCase) || string.Equals(name, "host", StringComparison.OrdinalIgnoreCase)
                || switches.Any(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase)))
            {
                throw new ComputeException(ComputeErrorCode.NameInUse, $"A switch named '{name}' already exists: choose another name, or remove that switch first.");
            }

            if (_options.SwitchAliases.Keys.FirstOrDefault(a => string.Equals(a, name, StringComparison.OrdinalIgnoreCase)) is { } alias)
            {
                throw new ComputeException(ComputeErrorCode.NameInUse, $"'{name}' is an alias of switch '{_options.SwitchAliases[alias]}' (Compute:Networking:SwitchAliases): choose another name.");
            }

            var subnet = spec.Subnet is { Length: > 0 } text ? Ipv4Subnet.Parse(text) : FreeSubnet(switches, _options.SubnetPrefixLength);
            if (spec.Subnet is { Length: > 0 })
            {
                EnsureFree(subnet, switches);
            }

            var record = NewRecord(name, spec.Type, subnet, switches);
            try
            {
                await HostNetwork.EnsureBridgeAsync(BridgeName(record), GatewayCidr(record), ct).ConfigureAwait(false);
                _switches = [.. switches, record];
                await ApplyHostStateAsync(ct).ConfigureAwait(false);
                await _store.SaveAsync(_switches, ct).ConfigureAwait(false);
            }
            catch
            {
                // Nothing changed: the bridge and the rules go again.
                _switches = switches;
                await HostNetwork.DeleteLinkAsync(BridgeName(record), CancellationToken.None).ConfigureAwait(false);
                await ApplyHostStateAsync(CancellationToken.None).ConfigureAwait(false);
                throw;
            }

            _logger.LogInformation("Created {Type} switch '{Name}' ({Subnet}) on bridge {Bridge}", record.Type, record.Name, record.Subnet, BridgeName(record));
            return record;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Removes a switch, its bridge and its rules. The caller has checked no container uses it.</summary>
    public async Task RemoveAsync(SwitchRecord sw, CancellationToken ct)
    {
        if (sw.Type == SwitchType.None)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "The switch 'none' is built in and cannot be removed.");
        }

        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            _switches = _switches.Where(s => s.Id != sw.Id).ToList();
            await _store.SaveAsync(_switches, ct).ConfigureAwait(false);
            await ApplyHostStateAsync(ct).ConfigureAwait(false);
            await HostNetwork.DeleteLinkAsync(BridgeName(sw), ct).ConfigureAwait(false);
            _logger.LogInformation("Removed switch '{Name}'", sw.Name);
        }
        finally
        {
            _lock.Release();
        }
    }

    public SwitchInfo ToInfo(SwitchRecord sw, IEnumerable<ContainerRecord> containers) => new()
    {
        Id = sw.Id,
        Name = sw.Name,
        Type = sw.Type,
        Subnet = sw.Subnet,
        Gateway = sw.HostHasAddress ? sw.ParsedSubnet?.Gateway.ToString() : null,
        Bridge = sw.HasBridge ? BridgeName(sw) : null,
        Aliases = _options.SwitchAliases.Where(a => string.Equals(a.Value, sw.Name, StringComparison.OrdinalIgnoreCase)).Select(a => a.Key).Order(StringComparer.OrdinalIgnoreCase).ToList(),
        IsDefault = string.Equals(sw.Name, _options.DefaultSwitch, StringComparison.OrdinalIgnoreCase),
        IsBuiltIn = sw.Type == SwitchType.None,
        CreatedAt = sw.CreatedAt,
        Containers = containers.Where(c => SwitchOf(c).Id == sw.Id).OrderBy(c => c.Name, StringComparer.Ordinal)
            .Select(c => new SwitchEndpoint { ContainerId = c.Id, ContainerName = c.Name, IpAddress = c.IpAddress, MacAddress = c.MacAddress })
            .ToList(),
    };

    // ---- addresses, ports and names ----

    /// <summary>The lowest free address on the switch (the gateway is .1) and a MAC derived from the container id; both stay with the container.</summary>
    public static (string? Address, string? Mac) Allocate(SwitchRecord sw, string containerId, IEnumerable<ContainerRecord> containers)
    {
        if (sw.ParsedSubnet is not { } subnet)
        {
            return (null, null);
        }

        var used = containers.Where(c => c.SwitchId == sw.Id && c.IpAddress is not null).Select(c => c.IpAddress!).ToHashSet(StringComparer.Ordinal);
        for (long i = 2; i <= subnet.HostCount; i++)
        {
            var address = subnet.Host(i).ToString();
            if (!used.Contains(address))
            {
                return (address, MacFor(containerId));
            }
        }

        throw new ComputeException(ComputeErrorCode.SubnetOverlap, $"Switch '{sw.Name}' ({sw.Subnet}) has no free address left: remove a container from it, or use a switch with a larger subnet.");
    }

    /// <summary>A locally administered unicast MAC from the container id: the same whichever runtime runs the container.</summary>
    public static string MacFor(string containerId) =>
        "02:" + string.Join(':', Enumerable.Range(0, 5).Select(i => containerId.Substring(i * 2, 2)));

    /// <summary>Checks the ports a new container wants to publish: NAT switch, valid numbers, not published by another container, not held by another program (port 0 gets a free port now).</summary>
    public static IReadOnlyList<PortMapping> ValidatePorts(SwitchRecord sw, IReadOnlyList<PortMapping> ports, IEnumerable<ContainerRecord> containers)
    {
        if (ports.Count == 0)
        {
            return [];
        }

        if (sw.Type != SwitchType.Nat)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Ports are published only on NAT switches; '{sw.Name}' is {sw.Type}: connect the container to a NAT switch, or publish nothing.");
        }

        var result = new List<PortMapping>();
        var taken = containers.SelectMany(c => c.Ports.Select(p => (Container: c.Name, Port: p))).ToList();
        foreach (var port in ports)
        {
            var protocol = string.IsNullOrEmpty(port.Protocol) ? "tcp" : port.Protocol.ToLowerInvariant();
            if (protocol != "tcp")
            {
                throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Publishing {port.Protocol} ports is not supported: only tcp ports are published.");
            }

            if (port.ContainerPort is < 1 or > 65535 || port.HostPort is < 0 or > 65535)
            {
                throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Invalid port mapping {port.HostPort}:{port.ContainerPort}: ports are 1 to 65535 (host port 0 picks a free one).");
            }

            var hostIp = string.IsNullOrEmpty(port.HostIp) ? IPAddress.Any : IPAddress.TryParse(port.HostIp, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
                ? ip
                : throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Invalid host address '{port.HostIp}' for a published port: give an IPv4 address of this host (or none for every address).");
            var mapping = port with { HostIp = hostIp.Equals(IPAddress.Any) ? null : hostIp.ToString(), Protocol = protocol };
            foreach (var other in taken.Concat(result.Select(r => (Container: "(this container)", Port: r))))
            {
                if (mapping.HostPort != 0 && other.Port.HostPort == mapping.HostPort && Overlap(other.Port.HostIp, mapping.HostIp))
                {
                    throw new ComputeException(ComputeErrorCode.PortInUse, $"Host port {mapping.HostPort} is already published by container '{other.Container}': choose another host port, or remove that container.");
                }
            }

            // Bind now: a port another program holds is refused at create, and port 0 gets its number.
            using (var probe = PortProxy.Bind(new IPEndPoint(hostIp, mapping.HostPort)))
            {
                mapping = mapping with { HostPort = ((IPEndPoint)probe.LocalEndpoint).Port };
                probe.Stop();
            }

            result.Add(mapping);
        }

        return result;
    }

    private static bool Overlap(string? a, string? b) => a is null || b is null || a == b;

    /// <summary>The hosts file of <paramref name="self"/>: every container on its switch that has an address.</summary>
    public string HostsFor(ContainerRecord self, IEnumerable<ContainerRecord> containers)
    {
        var sw = SwitchOf(self);
        var others = sw.Type == SwitchType.None
            ? []
            : containers.Where(c => c.Id != self.Id && c.SwitchId == sw.Id && c.IpAddress is not null).Select(c => (c.Name, c.IpAddress!));
        return HostsFile.Build(self.Name, sw.Type == SwitchType.None ? null : self.IpAddress, others);
    }

    // ---- a container's run ----

    /// <summary>Plumbs one run of the container into its switch (before the driver starts it).</summary>
    public async Task<NetworkAttachment> AttachAsync(ContainerRecord record, string hosts, CancellationToken ct)
    {
        var sw = SwitchOf(record);
        var hostsPath = HostsPath(record.Id);
        await DetachAsync(record, ct).ConfigureAwait(false); // whatever an earlier run left
        await HostsFile.WriteInPlaceAsync(hostsPath, hosts, ct).ConfigureAwait(false);
        var subnet = sw.ParsedSubnet;
        if (!sw.HasBridge || subnet is null || record.IpAddress is null || record.MacAddress is null)
        {
            // Switch none: the runtime's own new network namespace (process) or no network device (VM), loopback only.
            return new NetworkAttachment { HostsPath = hostsPath, Hosts = hosts };
        }

        var gateway = sw.Type == SwitchType.Nat ? subnet.Value.Gateway.ToString() : null;
        try
        {
            if (record.RuntimeType == RuntimeType.HyperV)
            {
                var tapName = TapName(record.Id);
                var tap = HostNetwork.OpenTap(tapName);
                try
                {
                    await HostNetwork.BatchAsync([$"link set {tapName} master {BridgeName(sw)}", $"link set {tapName} up"], ct: ct).ConfigureAwait(false);
                }
                catch
                {
                    tap.Dispose();
                    throw;
                }

                return new NetworkAttachment
                {
                    HostsPath = hostsPath,
                    Hosts = hosts,
                    Tap = tap,
                    Guest = new GuestNetwork { MacAddress = record.MacAddress, Address = record.IpAddress, PrefixLength = subnet.Value.PrefixLength, Gateway = gateway },
                };
            }

            var ns = NamespacePath(record.Id);
            var veth = VethName(record.Id);
            var peer = PeerName(record.Id);
            await HostNetwork.CreateNamespaceAsync(ns, ct).ConfigureAwait(false);
            await HostNetwork.BatchAsync(
                [$"link add {veth} type veth peer name {peer}", $"link set {peer} netns {ns}", $"link set {veth} master {BridgeName(sw)}", $"link set {veth} up"],
                ct: ct).ConfigureAwait(false);
            var inside = new List<string>
            {
                "link set lo up",
                $"link set {peer} name eth0",
                $"link set eth0 address {record.MacAddress}",
                $"addr add {record.IpAddress}/{subnet.Value.PrefixLength} dev eth0",
                "link set eth0 up",
            };
            if (gateway is not null)
            {
                inside.Add($"route add default via {gateway}");
            }

            await HostNetwork.BatchAsync(inside, ns, ct: ct).ConfigureAwait(false);
            return new NetworkAttachment { NamespacePath = ns, HostsPath = hostsPath, Hosts = hosts };
        }
        catch
        {
            await DetachAsync(record, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Opens the container's published ports (after it started, or after the agent re-adopted it).</summary>
    public async Task OpenPortsAsync(ContainerRecord record)
    {
        await ClosePortsAsync(record.Id).ConfigureAwait(false);
        if (record.Ports.Count == 0 || record.IpAddress is null)
        {
            return;
        }

        var target = IPAddress.Parse(record.IpAddress);
        var proxies = new List<PortProxy>();
        try
        {
            foreach (var port in record.Ports)
            {
                var listen = new IPEndPoint(port.HostIp is null ? IPAddress.Any : IPAddress.Parse(port.HostIp), port.HostPort);
                proxies.Add(PortProxy.Start(listen, new IPEndPoint(target, port.ContainerPort), _logger));
            }
        }
        catch
        {
            foreach (var proxy in proxies)
            {
                await proxy.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }

        _proxies[record.Id] = proxies;
    }

    private async Task ClosePortsAsync(string containerId)
    {
        if (_proxies.TryRemove(containerId, out var proxies))
        {
            foreach (var proxy in proxies)
            {
                await proxy.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Rewrites a running container's hosts file in place (process isolation reads it through its bind mount).</summary>
    public Task WriteHostsAsync(ContainerRecord record, string hosts, CancellationToken ct) =>
        File.Exists(HostsPath(record.Id)) ? HostsFile.WriteInPlaceAsync(HostsPath(record.Id), hosts, ct) : Task.CompletedTask;

    /// <summary>Undoes one run's plumbing: ports, veth, tap, namespace, hosts file. Idempotent.</summary>
    public async Task DetachAsync(ContainerRecord record, CancellationToken ct)
    {
        await ClosePortsAsync(record.Id).ConfigureAwait(false);
        foreach (var link in new[] { VethName(record.Id), PeerName(record.Id), TapName(record.Id) })
        {
            await HostNetwork.DeleteLinkAsync(link, ct).ConfigureAwait(false);
        }

        HostNetwork.DeleteNamespace(NamespacePath(record.Id));
        if (File.Exists(HostsPath(record.Id)))
        {
            File.Delete(HostsPath(record.Id));
        }
    }

    /// <summary>Removes veths, taps, namespaces and hosts files of ours that belong to no running container (a crash or reboot left them).</summary>
    public async Task RemoveOrphansAsync(IReadOnlyCollection<string> runningIds, CancellationToken ct)
    {
        var prefixes = runningIds.Select(id => id[..8]).ToHashSet(StringComparer.Ordinal);
        var p = _options.InterfacePrefix;
        foreach (var link in HostNetwork.LinksWithPrefix(p))
        {
            var rest = link[p.Length..];
            if (rest.Length == 9 && rest[0] is 'v' or 'p' or 't' && !prefixes.Contains(rest[1..]))
            {
                _logger.LogWarning("Removing interface {Link} of a container that is not running", link);
                await HostNetwork.DeleteLinkAsync(link, ct).ConfigureAwait(false);
            }
        }

        var running = runningIds.ToHashSet(StringComparer.Ordinal);
        foreach (var dir in new[] { Path.Combine(_runRoot, "ns"), Path.Combine(_runRoot, "hosts") }.Where(Directory.Exists))
        {
            foreach (var file in Directory.EnumerateFiles(dir).Where(f => !running.Contains(Path.GetFileName(f))))
            {
                HostNetwork.DeleteNamespace(file);
                File.Delete(file);
            }
        }
    }

    // ---- internals ----

    private static SwitchRecord NewRecord(string name, SwitchType type, Ipv4Subnet subnet, IReadOnlyList<SwitchRecord>? existing = null)
    {
        string id;
        do
        {
            id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        }
        while (existing?.Any(s => s.Id[..6] == id[..6]) == true);

        return new SwitchRecord { Id = id, Name = name, Type = type, Subnet = subnet.ToString(), CreatedAt = DateTimeOffset.UtcNow };
    }

    private static string? GatewayCidr(SwitchRecord sw) =>
        sw.HostHasAddress && sw.ParsedSubnet is { } s ? $"{s.Gateway}/{s.PrefixLength}" : null;

    /// <summary>Refuses a subnet that overlaps another switch's or a network the host already routes (its own LAN, VPNs, other bridges).</summary>
    private void EnsureFree(Ipv4Subnet subnet, IReadOnlyList<SwitchRecord> switches)
    {
        if (switches.FirstOrDefault(s => s.ParsedSubnet is { } other && other.Overlaps(subnet)) is { } clash)
        {
            throw new ComputeException(ComputeErrorCode.SubnetOverlap, $"Subnet {subnet} overlaps switch '{clash.Name}' ({clash.Subnet}): choose another subnet, or give none to get a free one.");
        }

        var ours = switches.Where(s => s.HasBridge).Select(BridgeName).ToHashSet(StringComparer.Ordinal);
        foreach (var (route, device) in HostNetwork.HostRoutes().Where(r => !ours.Contains(r.Device)))
        {
            if (route.Overlaps(subnet))
            {
                throw new ComputeException(ComputeErrorCode.SubnetOverlap, $"Subnet {subnet} overlaps the host's network {route} on {device}: choose another subnet, or give none to get a free one.");
            }
        }
    }

    /// <summary>The first /<paramref name="prefixLength"/> of the pool (the whole pool when it is smaller) that no switch or host route uses.</summary>
    private Ipv4Subnet FreeSubnet(IReadOnlyList<SwitchRecord> switches, int prefixLength)
    {
        var pool = Ipv4Subnet.Parse(_options.AddressPool);
        var length = Math.Max(prefixLength, pool.PrefixLength);
        var count = 1L << (length - pool.PrefixLength);
        var routes = HostNetwork.HostRoutes();
        for (long i = 0; i < count; i++)
        {
            var candidate = new Ipv4Subnet(pool.Network + (uint)(i << (32 - length)), length);
            if (!switches.Any(s => s.ParsedSubnet is { } other && other.Overlaps(candidate)) && !routes.Any(r => r.Subnet.Overlaps(candidate)))
            {
                return candidate;
            }
        }

        throw new ComputeException(ComputeErrorCode.SubnetOverlap, $"The address pool {_options.AddressPool} has no free /{length} left: give the switch a subnet, or widen Compute:Networking:AddressPool.");
    }

    /// <summary>The firewall table and ip_forward, from the switches as they are now.</summary>
    private async Task ApplyHostStateAsync(CancellationToken ct)
    {
        var bridges = _switches.Where(s => s.HasBridge).Select(s => (s, BridgeName(s))).ToList();
        await HostNetwork.ApplyNftAsync(NftRuleset.Build(_options.NftTable, _options.InterfacePrefix, bridges), ct).ConfigureAwait(false);
        if (!_options.EnableIpForward)
        {
            return;
        }

        const string forward = "/proc/sys/net/ipv4/ip_forward";
        var anyNat = _switches.Any(s => s.Type == SwitchType.Nat);
        if (anyNat && HostNetwork.ReadSysctl(forward) == "0")
        {
            HostNetwork.WriteSysctl(forward, "1");
            await File.WriteAllTextAsync(IpForwardMarker, "", ct).ConfigureAwait(false);
            _logger.LogInformation("Turned on net.ipv4.ip_forward for NAT switches");
        }
        else if (!anyNat && File.Exists(IpForwardMarker))
        {
            HostNetwork.WriteSysctl(forward, "0");
            File.Delete(IpForwardMarker);
            _logger.LogInformation("Turned net.ipv4.ip_forward off again: no NAT switch is left");
        }
    }

    [GeneratedRegex("^[a-z][a-z0-9]{0,5}$")]
    private static partial Regex InterfacePrefixPattern();

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_]{0,63}$")]
    private static partial Regex TableNamePattern();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")]
    private static partial Regex SwitchNamePattern();

    /// <summary>Closes the published ports; bridges, rules and running containers' plumbing stay for the next agent.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var id in _proxies.Keys.ToList())
        {
            await ClosePortsAsync(id).ConfigureAwait(false);
        }
    }
}
