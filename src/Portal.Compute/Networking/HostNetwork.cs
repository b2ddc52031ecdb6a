using System.Globalization;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Portal.Compute.Linux;
using Portal.Shared.Native;

namespace Portal.Compute.Networking;

/// <summary>
/// The host side of virtual switches: bridges, veth pairs, taps, network namespace files and nftables, through
/// iproute2's `ip` (batched: one process per step), util-linux's `unshare`/`nsenter` and `nft`. Nothing here touches an
/// interface, route or table that is not ours: every name passed in carries the agent's prefix or table name.
/// </summary>
internal static class HostNetwork
{
    private const string SysNet = "/sys/class/net";

    public static bool LinkExists(string name) => Directory.Exists(Path.Combine(SysNet, name));

    /// <summary>The host's interfaces whose names start with <paramref name="prefix"/>.</summary>
    public static IReadOnlyList<string> LinksWithPrefix(string prefix) => Directory.Exists(SysNet)
        ? Directory.EnumerateFileSystemEntries(SysNet).Select(Path.GetFileName).Where(n => n!.StartsWith(prefix, StringComparison.Ordinal)).Select(n => n!).ToList()
        : [];

    /// <summary>Runs `ip -batch -` (inside the network namespace file <paramref name="netns"/> when given); -force goes on after a failed line only when asked.</summary>
    public static async Task BatchAsync(IEnumerable<string> lines, string? netns = null, bool force = false, CancellationToken ct = default)
    {
        var script = string.Join('\n', lines) + "\n";
        string[] ipArgs = force ? ["-force", "-batch", "-"] : ["-batch", "-"];
        var result = netns is null
            ? await HostCommand.RunAsync("ip", ipArgs, ct, script).ConfigureAwait(false)
            : await HostCommand.RunAsync("nsenter", [$"--net={netns}", "--", "ip", .. ipArgs], ct, script).ConfigureAwait(false);
        if (!result.Succeeded && !force)
        {
            throw new ComputeException(ComputeErrorCode.RuntimeFailure, $"Configuring the network failed: ip: {result.Error.Trim()} (commands: {script.Replace('\n', ';')})");
        }
    }

    /// <summary>Creates the bridge if missing, gives it its address (none on Private switches), no IPv6, and brings it up.</summary>
    public static async Task EnsureBridgeAsync(string bridge, string? addressCidr, CancellationToken ct)
    {
        var lines = new List<string>();
        if (!LinkExists(bridge))
        {
            lines.Add($"link add {bridge} type bridge");
        }

        await BatchAsync(lines, ct: ct).ConfigureAwait(false);
        // No IPv6 on our bridges: a link-local address would let Private switches' containers reach the host.
        WriteSysctl($"/proc/sys/net/ipv6/conf/{bridge}/disable_ipv6", "1");
        lines.Clear();
        if (addressCidr is not null)
        {
            lines.Add($"addr replace {addressCidr} dev {bridge}");
        }

        lines.Add($"link set {bridge} up");
        await BatchAsync(lines, ct: ct).ConfigureAwait(false);
    }

    public static async Task DeleteLinkAsync(string name, CancellationToken ct)
    {
        if (LinkExists(name))
        {
            await BatchAsync([$"link del {name}"], force: true, ct: ct).ConfigureAwait(false);
        }
    }

    /// <summary>A persistent network namespace: an nsfs bind mount on <paramref name="path"/> (as `ip netns add` does under /run/netns).</summary>
    public static async Task CreateNamespaceAsync(string path, CancellationToken ct)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllBytesAsync(path, [], ct).ConfigureAwait(false);
        var result = await HostCommand.RunAsync("unshare", [$"--net={path}", "true"], ct).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            File.Delete(path);
            throw new ComputeException(ComputeErrorCode.RuntimeFailure, $"Creating the container's network namespace failed: {result.Error.Trim()}");
        }
    }

    public static void DeleteNamespace(string path)
    {
        if (File.Exists(path))
        {
            Libc.umount2(path, Libc.MNT_DETACH);
            File.Delete(path);
        }
    }

    /// <summary>
    /// Opens a tap named <paramref name="name"/> (created by the open, gone when the last descriptor closes: it lives as
    /// long as the VM worker that is handed the descriptor), with virtio-net headers.
    /// </summary>
    public static unsafe SafeFileHandle OpenTap(string name)
    {
        const uint TUNSETIFF = 0x400454ca;
        const short IFF_TAP = 0x0002, IFF_NO_PI = 0x1000, IFF_VNET_HDR = 0x4000;
        var fd = Libc.open("/dev/net/tun", Libc.O_RDWR | Libc.O_CLOEXEC, 0);
        if (fd < 0)
        {
            throw new ComputeException(ComputeErrorCode.RuntimeFailure, $"Cannot open /dev/net/tun (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}): VM-isolated containers on a switch need the tun driver.");
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        var ifreq = stackalloc byte[40];
        new Span<byte>(ifreq, 40).Clear();
        Encoding.ASCII.GetBytes(name, new Span<byte>(ifreq, 15));
        *(short*)(ifreq + 16) = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
        if (Libc.ioctl(fd, TUNSETIFF, ifreq) != 0)
        {
            var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            handle.Dispose();
            throw new ComputeException(ComputeErrorCode.RuntimeFailure, $"Cannot create the tap {name} (errno {errno}).");
        }

        return handle;
    }

    /// <summary>Runs an nft script as one transaction (all of it applies, or none).</summary>
    public static async Task ApplyNftAsync(string script, CancellationToken ct)
    {
        var result = await HostCommand.RunAsync("nft", ["-f", "-"], ct, script).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            throw new ComputeException(ComputeErrorCode.RuntimeFailure, $"Applying the switches' firewall rules failed: nft: {result.Error.Trim()}");
        }
    }

    public static async Task<bool> NftTableExistsAsync(string table, CancellationToken ct) =>
        (await HostCommand.RunAsync("nft", ["list", "table", "ip", table], ct).ConfigureAwait(false)).Succeeded;

    /// <summary>The host's IPv4 routes other than default routes (from /proc/net/route): subnets a switch must not overlap.</summary>
    public static IReadOnlyList<(Ipv4Subnet Subnet, string Device)> HostRoutes()
    {
        var routes = new List<(Ipv4Subnet, string)>();
        if (!File.Exists("/proc/net/route"))
        {
            return routes;
        }

        foreach (var line in File.ReadLines("/proc/net/route").Skip(1))
        {
            var f = line.Split('\t', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (f.Length < 8 || !uint.TryParse(f[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var dest)
                || !uint.TryParse(f[7], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var mask) || mask == 0)
            {
                continue;
            }

            // /proc/net/route is in host (little-endian) byte order.
            var network = System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(dest);
            var length = System.Numerics.BitOperations.PopCount(mask);
            routes.Add((new Ipv4Subnet(network, length), f[0]));
        }

        return routes;
    }

    public static string? ReadSysctl(string path) => File.Exists(path) ? File.ReadAllText(path).Trim() : null;

    public static void WriteSysctl(string path, string value)
    {
        if (File.Exists(path))
        {
            File.WriteAllText(path, value);
        }
    }
}
