using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Compute.Networking;

/// <summary>
/// The switches as records: loaded from and saved to <see cref="SwitchStore"/>, found by name, alias or id, and checked
/// before one is made (name, type, a subnet that overlaps no other switch and no network the host routes). Knows no bridge.
/// </summary>
public sealed partial class SwitchCatalog
{
    public const string NoneName = "none";

    /// <summary>The built-in switch of containers without a network (loopback only).</summary>
    public static readonly SwitchRecord None = new() { Id = NoneName, Name = NoneName, Type = SwitchType.None, CreatedAt = DateTimeOffset.UnixEpoch };

    private readonly NetworkOptions _options;
    private readonly SwitchStore? _store;
    private readonly Func<IReadOnlyList<HostRoute>> _hostRoutes;
    private volatile IReadOnlyList<SwitchRecord> _switches;

    /// <summary>A catalog persisted under <paramref name="directory"/> (null: in memory only, as the unit tests use it).</summary>
    public SwitchCatalog(NetworkOptions options, string? directory, IEnumerable<SwitchRecord>? switches = null, Func<IReadOnlyList<HostRoute>>? hostRoutes = null)
    {
        _options = options;
        _store = directory is null ? null : new SwitchStore(directory);
        _hostRoutes = hostRoutes ?? HostRouteTable.Read;
        _switches = switches?.ToList() ?? [];
    }

    /// <summary>The switches made by users (and the default one), without the built-in None.</summary>
    public IReadOnlyList<SwitchRecord> Records => _switches;

    /// <summary>Loads the switches; at the first start (nothing saved yet) makes the default NAT switch. Returns it when it was made.</summary>
    public async Task<SwitchRecord?> LoadAsync(CancellationToken ct)
    {
        if (_store is null)
        {
            return null;
        }

        var firstStart = !_store.Exists;
        var switches = _store.Load().ToList();
        SwitchRecord? made = null;
        if (firstStart)
        {
            made = NewRecord(_options.DefaultSwitch, SwitchType.Nat, FreeSubnet(switches, _options.DefaultSwitchPrefixLength), switches);
            switches.Add(made);
            await _store.SaveAsync(switches, ct).ConfigureAwait(false);
        }

        _switches = switches;
        return made;
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
            : throw NotFound(name);
    }

    /// <summary>The answer for a switch that does not exist (or that the caller's team may not see: the same words).</summary>
    public static ComputeException NotFound(string name) =>
        new(ComputeErrorCode.SwitchNotFound, $"No such switch: '{name}'. List the switches to see their names (Get-VMSwitch, docker network ls, GET /api/switches).");

    /// <summary>The switch a container is connected to (None for containers made before switches existed).</summary>
    public SwitchRecord SwitchOf(ContainerRecord record) =>
        record.SwitchId is null or NoneName ? None : _switches.FirstOrDefault(s => s.Id == record.SwitchId) ?? None;

    /// <summary>
    /// Checks a new switch against the others and gives it its record (not added yet). <paramref name="ours"/> are the
    /// host devices of our own bridges, whose routes are no clash.
    /// </summary>
    public SwitchRecord Plan(SwitchCreateSpec spec, IReadOnlySet<string> ours)
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

        var switches = _switches;
        if (string.Equals(name, NoneName, StringComparison.OrdinalIgnoreCase) || string.Equals(name, "host", StringComparison.OrdinalIgnoreCase)
            || switches.Any(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase)))
        {
            throw new ComputeException(ComputeErrorCode.NameInUse, $"A switch named '{name}' already exists: choose another name, or remove that switch first.");
        }

        if (_options.SwitchAliases.Keys.FirstOrDefault(a => string.Equals(a, name, StringComparison.OrdinalIgnoreCase)) is { } alias)
        {
            throw new ComputeException(ComputeErrorCode.NameInUse, $"'{name}' is an alias of switch '{_options.SwitchAliases[alias]}' (Compute:Networking:SwitchAliases): choose another name.");
        }

        Ipv4Subnet subnet;
        if (spec.Subnet is { Length: > 0 } text)
        {
            subnet = Ipv4Subnet.Parse(text);
            EnsureFree(subnet, switches, ours);
        }
        else
        {
            subnet = FreeSubnet(switches, _options.SubnetPrefixLength);
        }

        return NewRecord(name, spec.Type, subnet, switches) with { Team = string.IsNullOrWhiteSpace(spec.Team) ? null : spec.Team.Trim() };
    }

    /// <summary>Adds a planned switch and saves the list; on failure nothing changed.</summary>
    public async Task AddAsync(SwitchRecord record, CancellationToken ct)
    {
        var before = _switches;
        _switches = [.. before, record];
        try
        {
            await SaveAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            _switches = before;
            throw;
        }
    }

    public Task RemoveAsync(SwitchRecord sw, CancellationToken ct)
    {
        _switches = _switches.Where(s => s.Id != sw.Id).ToList();
        return SaveAsync(ct);
    }

    private Task SaveAsync(CancellationToken ct) => _store?.SaveAsync(_switches, ct) ?? Task.CompletedTask;

    private static SwitchRecord NewRecord(string name, SwitchType type, Ipv4Subnet subnet, IReadOnlyList<SwitchRecord> existing)
    {
        string id;
        do
        {
            id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        }
        while (existing.Any(s => s.Id[..6] == id[..6])); // bridges are named by the first 6

        return new SwitchRecord { Id = id, Name = name, Type = type, Subnet = subnet.ToString(), CreatedAt = DateTimeOffset.UtcNow };
    }

    /// <summary>
    /// Refuses a subnet that overlaps another switch's or anything the host's traffic goes to (<see cref="HostRouteTable"/>:
    /// its routes, gateways, addresses, DNS resolvers, link-local metadata): the switch's bridge would capture it.
    /// </summary>
    private void EnsureFree(Ipv4Subnet subnet, IReadOnlyList<SwitchRecord> switches, IReadOnlySet<string> ours)
    {
        if (switches.FirstOrDefault(s => s.ParsedSubnet is { } other && other.Overlaps(subnet)) is { } clash)
        {
            throw new ComputeException(ComputeErrorCode.SubnetOverlap, $"Subnet {subnet} overlaps switch '{clash.Name}' ({clash.Subnet}): choose another subnet, or give none to get a free one.");
        }

        if (_hostRoutes().FirstOrDefault(r => !ours.Contains(r.Device) && r.Subnet.Overlaps(subnet)) is { } route)
        {
            throw new ComputeException(
                ComputeErrorCode.SubnetOverlap,
                $"Subnet {subnet} overlaps {route.What}: a switch there would capture the host's traffic to it. Choose another subnet, or give none to get a free one.");
        }
    }

    /// <summary>The first /<paramref name="prefixLength"/> of the pool (the whole pool when it is smaller) that no switch or host route uses.</summary>
    private Ipv4Subnet FreeSubnet(IReadOnlyList<SwitchRecord> switches, int prefixLength)
    {
        var pool = Ipv4Subnet.Parse(_options.AddressPool);
        var length = Math.Max(prefixLength, pool.PrefixLength);
        var count = 1L << (length - pool.PrefixLength);
        var routes = _hostRoutes();
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

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")]
    private static partial Regex SwitchNamePattern();
}
