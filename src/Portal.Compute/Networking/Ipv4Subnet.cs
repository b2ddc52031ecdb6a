using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Portal.Compute.Networking;

/// <summary>An IPv4 subnet in CIDR form (10.89.0.0/24): parsing, overlap, and its host addresses.</summary>
public readonly record struct Ipv4Subnet(uint Network, int PrefixLength)
{
    public uint Mask => PrefixLength == 0 ? 0 : uint.MaxValue << (32 - PrefixLength);

    public uint Broadcast => Network | ~Mask;

    /// <summary>Usable host addresses: the network and broadcast addresses excluded.</summary>
    public long HostCount => (1L << (32 - PrefixLength)) - 2;

    /// <summary>The host's address on the switch (and the containers' gateway): the first host address.</summary>
    public IPAddress Gateway => Host(1);

    public IPAddress Host(long index) => ToAddress(Network + (uint)index);

    public bool Contains(IPAddress address) => address.AddressFamily == AddressFamily.InterNetwork && (ToUInt32(address) & Mask) == Network;

    public bool Overlaps(Ipv4Subnet other)
    {
        var mask = PrefixLength < other.PrefixLength ? Mask : other.Mask;
        return (Network & mask) == (other.Network & mask);
    }

    public override string ToString() => $"{ToAddress(Network)}/{PrefixLength.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Parses "a.b.c.d/n"; host bits must be zero and the subnet must hold at least two containers besides the gateway (/8 to /29).</summary>
    public static Ipv4Subnet Parse(string text)
    {
        var parts = text.Trim().Split('/');
        if (parts.Length != 2 || !IPAddress.TryParse(parts[0], out var address) || address.AddressFamily != AddressFamily.InterNetwork
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var length))
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"'{text}' is not an IPv4 subnet: write it in CIDR form, for example 10.89.5.0/24.");
        }

        if (length is < 8 or > 29)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Subnet '{text}' has a /{length} prefix: use /8 to /29 (a /29 holds the gateway and five containers).");
        }

        var subnet = new Ipv4Subnet(ToUInt32(address), length);
        if ((subnet.Network & ~subnet.Mask) != 0)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"'{text}' has host bits set: did you mean {new Ipv4Subnet(subnet.Network & subnet.Mask, length)}?");
        }

        return subnet;
    }

    public static uint ToUInt32(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[4];
        address.TryWriteBytes(bytes, out _);
        return BinaryPrimitives.ReadUInt32BigEndian(bytes);
    }

    public static IPAddress ToAddress(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return new IPAddress(bytes);
    }
}
