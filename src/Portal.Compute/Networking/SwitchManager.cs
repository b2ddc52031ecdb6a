using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Compute.Networking;

/// <summary>
/// Virtual switches (HNS networks) on this host: keeps the <see cref="SwitchCatalog"/>, the bridges and the
/// <see cref="HostFirewall"/> in step, and gives each run of a container its place on its switch (hosts file, published
/// ports, a <see cref="SwitchPort"/>). The isolation drivers plumb their own devices from that; this sweeps what a crash left.
/// </summary>
public sealed partial class SwitchManager : IAsyncDisposable
{
    public const string NoneName = SwitchCatalog.NoneName;

    private readonly NetworkOptions _options;
    private readonly SwitchCatalog _catalog;
    private readonly HostFirewall _firewall;
    private readonly SwitchPortGuard _guard;
    private readonly string _runRoot;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _lock = new(1, 1);

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
        _catalog = new SwitchCatalog(options, Path.Combine(stateRoot, "network"));
        _runRoot = Path.Combine(runRoot, "net");
        _firewall = new HostFirewall(options, _runRoot, logger);
        _guard = new SwitchPortGuard(options.NftTable, options.InterfacePrefix);
        _logger = logger;
        Ports = new PublishedPorts(logger, options.PublishedPortMaxConnections, options.PublishedPortsMaxConnections);
    }

    public NetworkOptions Options => _options;

    public SwitchCatalog Catalog => _catalog;

    public PublishedPorts Ports { get; }

    /// <summary>Every switch, the built-in None first.</summary>
    public IReadOnlyList<SwitchRecord> Switches => [SwitchCatalog.None, .. _catalog.Records];

    public string BridgeName(SwitchRecord sw) => $"{_options.InterfacePrefix}br{sw.Id[..6]}";

    public string NamespacePath(string containerId) => Path.Combine(_runRoot, "ns", containerId);

    public string HostsPath(string containerId) => Path.Combine(_runRoot, "hosts", containerId);

    /// <summary>
    /// Loads the switches (making the default NAT switch at the first start), recreates missing bridges, removes bridges of
    /// ours nobody knows, and applies the firewall table; the ports of <paramref name="mayRun"/> (containers whose run the
    /// agent may re-adopt) stay guarded against spoofing meanwhile.
    /// </summary>
    public async Task InitializeAsync(CancellationToken ct, IEnumerable<ContainerRecord>? mayRun = null)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            Directory.CreateDirectory(_runRoot);
            if (await _catalog.LoadAsync(ct).ConfigureAwait(false) is { } made)
            {
                _logger.LogInformation("Created the default NAT switch '{Name}' ({Subnet})", made.Name, made.Subnet);
            }

            foreach (var sw in _catalog.Records.Where(s => s.HasBridge))
            {
                await HostNetwork.EnsureBridgeAsync(BridgeName(sw), GatewayCidr(sw), ct).ConfigureAwait(false);
            }

            var bridges = Bridges().Select(b => b.Bridge).ToHashSet(StringComparer.Ordinal);
            foreach (var stale in HostNetwork.LinksWithPrefix(_options.InterfacePrefix + "br").Where(b => !bridges.Contains(b)))
            {
                _logger.LogWarning("Removing bridge {Bridge} of a switch that no longer exists", stale);
                await HostNetwork.DeleteLinkAsync(stale, ct).ConfigureAwait(false);
            }

            await _firewall.ApplyAsync(Bridges(), ct).ConfigureAwait(false);
            await _guard.ResetAsync(mayRun ?? [], ct).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>A re-adopted container's port stays guarded against spoofing.</summary>
    public Task GuardAsync(ContainerRecord record, CancellationToken ct) => _guard.GuardAsync(record, ct);

    /// <summary>A switch by name, alias, id or unique id prefix; null or empty is the default switch.</summary>
    public SwitchRecord Resolve(string? name) => _catalog.Resolve(name);

    /// <summary>The switch a container is connected to (None for containers made before switches existed).</summary>
    public SwitchRecord SwitchOf(ContainerRecord record) => _catalog.SwitchOf(record);

    public async Task<SwitchRecord> CreateAsync(SwitchCreateSpec spec, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var record = _catalog.Plan(spec, Bridges().Select(b => b.Bridge).ToHashSet(StringComparer.Ordinal));
            try
            {
                await HostNetwork.EnsureBridgeAsync(BridgeName(record), GatewayCidr(record), ct).ConfigureAwait(false);
                await _firewall.ApplyAsync([.. Bridges(), (record, BridgeName(record))], ct).ConfigureAwait(false);
                await _catalog.AddAsync(record, ct).ConfigureAwait(false);
            }
            catch
            {
                // Nothing changed: the bridge and the rules go again.
                await HostNetwork.DeleteLinkAsync(BridgeName(record), CancellationToken.None).ConfigureAwait(false);
                await _firewall.ApplyAsync(Bridges(), CancellationToken.None).ConfigureAwait(false);
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
            await _catalog.RemoveAsync(sw, ct).ConfigureAwait(false);
            await _firewall.ApplyAsync(Bridges(), ct).ConfigureAwait(false);
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
        Team = sw.Team,
        Containers = containers.Where(c => SwitchOf(c).Id == sw.Id).OrderBy(c => c.Name, StringComparer.Ordinal)
            .Select(c => new SwitchEndpoint { ContainerId = c.Id, ContainerName = c.Name, IpAddress = c.IpAddress, MacAddress = c.MacAddress })
            .ToList(),
    };

    /// <summary>The hosts file of <paramref name="self"/>: every container on its switch that has an address.</summary>
    public string HostsFor(ContainerRecord self, IEnumerable<ContainerRecord> containers) => HostsFile.For(self, SwitchOf(self), containers);

    /// <summary>One run's place on the container's switch (before the driver starts it): its hosts file written, its port described.</summary>
    public async Task<NetworkAttachment> AttachAsync(ContainerRecord record, string hosts, CancellationToken ct)
    {
        var sw = SwitchOf(record);
        var hostsPath = HostsPath(record.Id);
        await HostsFile.WriteInPlaceAsync(hostsPath, hosts, ct).ConfigureAwait(false);
        if (!sw.HasBridge || sw.ParsedSubnet is not { } subnet || record.IpAddress is null || record.MacAddress is null)
        {
            // Switch none: the runtime's own new network namespace (process) or no network device (VM), loopback only.
            return new NetworkAttachment { HostsPath = hostsPath, Hosts = hosts };
        }

        // Before the driver plugs its device into the bridge: no frame of it passes unchecked.
        await _guard.GuardAsync(record, ct).ConfigureAwait(false);
        var p = _options.InterfacePrefix;
        var id8 = record.Id[..8];
        return new NetworkAttachment
        {
            HostsPath = hostsPath,
            Hosts = hosts,
            Port = new SwitchPort
            {
                Bridge = BridgeName(sw),
                Address = record.IpAddress,
                PrefixLength = subnet.PrefixLength,
                Gateway = sw.Type == SwitchType.Nat ? subnet.Gateway.ToString() : null,
                MacAddress = record.MacAddress,
                VethName = $"{p}v{id8}",
                PeerName = $"{p}p{id8}",
                TapName = $"{p}t{id8}",
                NamespacePath = NamespacePath(record.Id),
            },
        };
    }

    /// <summary>Rewrites a running container's hosts file in place (process isolation reads it through its bind mount).</summary>
    public Task WriteHostsAsync(ContainerRecord record, string hosts, CancellationToken ct) =>
        File.Exists(HostsPath(record.Id)) ? HostsFile.WriteInPlaceAsync(HostsPath(record.Id), hosts, ct) : Task.CompletedTask;

    /// <summary>Ends one run's place on the switch: published ports closed, hosts file gone (the driver removed its device). Idempotent.</summary>
    public async Task DetachAsync(ContainerRecord record)
    {
        await Ports.CloseAsync(record.Id).ConfigureAwait(false);
        await _guard.ReleaseAsync(record.Id, CancellationToken.None).ConfigureAwait(false);
        if (File.Exists(HostsPath(record.Id)))
        {
            File.Delete(HostsPath(record.Id));
        }
    }

    /// <summary>Removes veths, taps, namespaces and hosts files of ours that belong to no running container (a crash or reboot left them).</summary>
    public async Task RemoveOrphansAsync(IReadOnlyCollection<string> runningIds, CancellationToken ct)
    {
        await _guard.KeepAsync(runningIds, ct).ConfigureAwait(false);
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

    private List<(SwitchRecord Switch, string Bridge)> Bridges() =>
        _catalog.Records.Where(s => s.HasBridge).Select(s => (s, BridgeName(s))).ToList();

    private static string? GatewayCidr(SwitchRecord sw) =>
        sw.HostHasAddress && sw.ParsedSubnet is { } s ? $"{s.Gateway}/{s.PrefixLength}" : null;

    [GeneratedRegex("^[a-z][a-z0-9]{0,5}$")]
    private static partial Regex InterfacePrefixPattern();

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_]{0,63}$")]
    private static partial Regex TableNamePattern();

    /// <summary>Closes the published ports; bridges, rules and running containers' plumbing stay for the next agent.</summary>
    public ValueTask DisposeAsync() => Ports.DisposeAsync();
}
