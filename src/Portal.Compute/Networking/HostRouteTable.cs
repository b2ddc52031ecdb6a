using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Portal.Compute.Networking;

/// <summary>One network the host already uses, which a switch's subnet must not overlap; <see cref="What"/> names it in errors.</summary>
public sealed record HostRoute(Ipv4Subnet Subnet, string Device, string What);

/// <summary>
/// Everything a switch subnet could capture host traffic from, read from the kernel when a switch is planned: the
/// main table's routes and their gateways (/proc/net/route), every address on every interface with its network
/// (getifaddrs, i.e. netlink), the DNS resolvers (/etc/resolv.conf and systemd-resolved's upstream list), and the
/// ranges no switch may take whatever the host routes: link-local 169.254.0.0/16 (cloud metadata at
/// 169.254.169.254), loopback, "this network", multicast and the reserved block.
/// </summary>
public static class HostRouteTable
{
    private static readonly HostRoute[] Reserved =
    [
        new(Range("169.254.0.0", 16), "", "the link-local range 169.254.0.0/16 (cloud metadata services such as 169.254.169.254 live there)"),
        new(Range("127.0.0.0", 8), "lo", "the loopback range 127.0.0.0/8"),
        new(Range("0.0.0.0", 8), "", "the range 0.0.0.0/8 (\"this network\")"),
        new(Range("224.0.0.0", 4), "", "the multicast range 224.0.0.0/4"),
        new(Range("240.0.0.0", 4), "", "the reserved range 240.0.0.0/4"),
    ];

    private static readonly string[] ResolverFiles = ["/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"];

    /// <summary>The host's networks now (see the type's summary).</summary>
    public static IReadOnlyList<HostRoute> Read()
    {
        var routes = new List<HostRoute>(Reserved);
        routes.AddRange(KernelRoutes("/proc/net/route"));
        routes.AddRange(Addresses());
        foreach (var file in ResolverFiles.Where(File.Exists))
        {
            routes.AddRange(Resolvers(File.ReadLines(file), file));
        }

        return routes;
    }

    /// <summary>Routes (not default routes) and every gateway, from /proc/net/route's format.</summary>
    internal static IEnumerable<HostRoute> KernelRoutes(string path)
    {
        if (!File.Exists(path))
        {
            yield break;
        }

        foreach (var line in File.ReadLines(path).Skip(1))
        {
            var f = line.Split('\t', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (f.Length < 8 || !uint.TryParse(f[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var dest)
                || !uint.TryParse(f[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var gateway)
                || !uint.TryParse(f[7], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var mask))
            {
                continue;
            }

            // /proc/net/route is in host (little-endian) byte order.
            if (mask != 0)
            {
                var subnet = new Ipv4Subnet(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(dest), System.Numerics.BitOperations.PopCount(mask));
                yield return new HostRoute(subnet, f[0], $"the host's route {subnet} on {f[0]}");
            }

            if (gateway != 0)
            {
                var address = Ipv4Subnet.ToAddress(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(gateway));
                var what = mask == 0 ? $"the host's default gateway {address} on {f[0]}" : $"the gateway {address} on {f[0]}";
                yield return new HostRoute(new Ipv4Subnet(Ipv4Subnet.ToUInt32(address), 32), f[0], what);
            }
        }
    }

    /// <summary>The nameserver lines of a resolv.conf: a switch holding a resolver would capture the host's DNS.</summary>
    internal static IEnumerable<HostRoute> Resolvers(IEnumerable<string> lines, string file)
    {
        foreach (var line in lines)
        {
            var f = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 2 && f[0] == "nameserver" && IPAddress.TryParse(f[1], out var address)
                && address.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(address))
            {
                yield return new HostRoute(new Ipv4Subnet(Ipv4Subnet.ToUInt32(address), 32), "", $"the host's DNS resolver {address} ({file})");
            }
        }
    }

    private static Ipv4Subnet Range(string network, int length) => new(Ipv4Subnet.ToUInt32(IPAddress.Parse(network)), length);

    private static IEnumerable<HostRoute> Addresses()
    {
        NetworkInterface[] interfaces;
        try
        {
            interfaces = NetworkInterface.GetAllNetworkInterfaces();
        }
        catch (NetworkInformationException)
        {
            yield break;
        }

        foreach (var nic in interfaces)
        {
            foreach (var unicast in nic.GetIPProperties().UnicastAddresses.Where(u => u.Address.AddressFamily == AddressFamily.InterNetwork))
            {
                var length = Math.Clamp(unicast.PrefixLength, 0, 32);
                var value = Ipv4Subnet.ToUInt32(unicast.Address);
                var mask = length == 0 ? 0 : uint.MaxValue << (32 - length);
                yield return new HostRoute(new Ipv4Subnet(value & mask, length), nic.Name, $"the address {unicast.Address}/{length} on {nic.Name}");
            }
        }
    }
}
