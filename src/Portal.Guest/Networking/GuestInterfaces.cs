using System.Buffers.Binary;
using System.Net;
using System.Text;
using Portal.Contracts.Guest;
using Portal.Shared.Native;

namespace Portal.Guest.Networking;

/// <summary>
/// Configures the guest's interfaces with the classic socket ioctls (there is no `ip` in the initramfs, and the ioctls
/// are all a fixed IPv4 address needs): loopback up; the virtio-net interface, found by its MAC, gets its address and
/// netmask and comes up; a default route through the gateway when the switch has one.
/// </summary>
internal static class GuestInterfaces
{
    private const uint SIOCADDRT = 0x890B;
    private const uint SIOCGIFFLAGS = 0x8913;
    private const uint SIOCSIFFLAGS = 0x8914;
    private const uint SIOCSIFADDR = 0x8916;
    private const uint SIOCSIFNETMASK = 0x891C;
    private const short IFF_UP = 0x1;
    private const ushort RTF_UP = 0x1;
    private const ushort RTF_GATEWAY = 0x2;
    private const int IfreqSize = 40;
    private const int RtentrySize = 120;

    public static unsafe void BringUp(string name)
    {
        using var socket = new ControlSocket();
        var ifreq = stackalloc byte[IfreqSize];
        Name(ifreq, name);
        socket.Ioctl(SIOCGIFFLAGS, ifreq, $"read the flags of {name}");
        *(short*)(ifreq + 16) |= IFF_UP;
        socket.Ioctl(SIOCSIFFLAGS, ifreq, $"bring {name} up");
    }

    public static async Task ConfigureAsync(GuestNetwork network, TimeSpan timeout)
    {
        var name = await FindByMacAsync(network.MacAddress, timeout).ConfigureAwait(false);
        Configure(name, network);
        Boot.GuestLog.Info($"network: {name} {network.MacAddress} {network.Address}/{network.PrefixLength}{(network.Gateway is null ? "" : " via " + network.Gateway)}");
    }

    private static unsafe void Configure(string name, GuestNetwork network)
    {
        var address = Parse(network.Address);
        var mask = network.PrefixLength == 0 ? 0u : uint.MaxValue << (32 - network.PrefixLength);
        using (var socket = new ControlSocket())
        {
            var ifreq = stackalloc byte[IfreqSize];
            Name(ifreq, name);
            SockaddrIn(ifreq + 16, address);
            socket.Ioctl(SIOCSIFADDR, ifreq, $"set address {network.Address} on {name}");
            Name(ifreq, name);
            SockaddrIn(ifreq + 16, mask);
            socket.Ioctl(SIOCSIFNETMASK, ifreq, $"set the netmask /{network.PrefixLength} on {name}");
        }

        BringUp(name);
        if (network.Gateway is { } gateway)
        {
            using var socket = new ControlSocket();
            var route = stackalloc byte[RtentrySize];
            new Span<byte>(route, RtentrySize).Clear();
            SockaddrIn(route + 8, 0);                 // rt_dst: 0.0.0.0
            SockaddrIn(route + 24, Parse(gateway));   // rt_gateway
            SockaddrIn(route + 40, 0);                // rt_genmask: /0
            *(ushort*)(route + 56) = RTF_UP | RTF_GATEWAY;
            socket.Ioctl(SIOCADDRT, route, $"add the default route via {gateway}");
        }
    }

    /// <summary>The interface with this MAC (virtio_net probes asynchronously, so it may take a moment to appear).</summary>
    private static async Task<string> FindByMacAsync(string mac, TimeSpan timeout)
    {
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (true)
        {
            if (Directory.Exists("/sys/class/net"))
            {
                foreach (var dir in Directory.EnumerateFileSystemEntries("/sys/class/net"))
                {
                    try
                    {
                        if (string.Equals(File.ReadAllText(Path.Combine(dir, "address")).Trim(), mac, StringComparison.OrdinalIgnoreCase))
                        {
                            return Path.GetFileName(dir);
                        }
                    }
                    catch (IOException)
                    {
                        // Still being set up.
                    }
                }
            }

            if (Environment.TickCount64 > deadline)
            {
                throw new GuestException($"no network interface with MAC {mac} appeared within {timeout.TotalSeconds:F0} s (is virtio_net in the initramfs? rebuild it with deploy/guest/build)");
            }

            await Task.Delay(10).ConfigureAwait(false);
        }
    }

    private static uint Parse(string address) =>
        IPAddress.TryParse(address, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
            ? BinaryPrimitives.ReadUInt32BigEndian(ip.GetAddressBytes())
            : throw new GuestException($"'{address}' is not an IPv4 address");

    private static unsafe void Name(byte* ifreq, string name)
    {
        new Span<byte>(ifreq, IfreqSize).Clear();
        Encoding.ASCII.GetBytes(name, new Span<byte>(ifreq, 15));
    }

    /// <summary>struct sockaddr_in: family, port 0, the address in network byte order.</summary>
    private static unsafe void SockaddrIn(byte* at, uint address)
    {
        new Span<byte>(at, 16).Clear();
        *(ushort*)at = Libc.AF_INET;
        BinaryPrimitives.WriteUInt32BigEndian(new Span<byte>(at + 4, 4), address);
    }

    private readonly unsafe struct ControlSocket : IDisposable
    {
        private readonly int _fd;

        public ControlSocket()
        {
            _fd = Libc.socket(Libc.AF_INET, Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC, 0);
            if (_fd < 0)
            {
                throw new GuestException($"socket: {Libc.ErrorText(Libc.LastError)}");
            }
        }

        public void Ioctl(uint request, byte* arg, string what)
        {
            if (Libc.ioctl(_fd, request, arg) != 0)
            {
                throw new GuestException($"{what}: {Libc.ErrorText(Libc.LastError)}");
            }
        }

        public void Dispose() => Libc.close(_fd);
    }
}
