using System.Text;
using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Compute.Networking;

/// <summary>
/// A container's /etc/hosts: localhost, then every container on its switch by name (itself first). This is how names
/// resolve within a switch, whatever its type (a Private switch has no host address a DNS server could listen on).
/// </summary>
internal static class HostsFile
{
    private const UnixFileMode HostsFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>The hosts file of <paramref name="self"/> on <paramref name="sw"/>: every other container on that switch that has an address.</summary>
    public static string For(ContainerRecord self, SwitchRecord sw, IEnumerable<ContainerRecord> containers)
    {
        var others = sw.Type == SwitchType.None
            ? []
            : containers.Where(c => c.Id != self.Id && c.SwitchId == sw.Id && c.IpAddress is not null).Select(c => (c.Name, c.IpAddress!));
        return Build(self.Name, sw.Type == SwitchType.None ? null : self.IpAddress, others);
    }

    public static string Build(string selfName, string? selfAddress, IEnumerable<(string Name, string Address)> others)
    {
        var text = new StringBuilder();
        text.Append("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        text.Append(selfAddress ?? "127.0.1.1").Append('\t').Append(selfName).Append('\n');
        foreach (var (name, address) in others.OrderBy(o => o.Name, StringComparer.Ordinal))
        {
            text.Append(address).Append('\t').Append(name).Append('\n');
        }

        return text.ToString();
    }

    /// <summary>Rewrites the file in place: it is bind-mounted into a running container, so its inode must stay.</summary>
    public static async Task WriteInPlaceAsync(string path, string content, CancellationToken ct)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await using var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite);
        // Every user in the container reads it (name resolution): 0644 whatever the agent's umask (077) made of the new file.
        File.SetUnixFileMode(stream.SafeFileHandle, HostsFileMode);
        var bytes = Encoding.UTF8.GetBytes(content);
        await stream.WriteAsync(bytes, ct).ConfigureAwait(false);
        stream.SetLength(bytes.Length);
    }
}
