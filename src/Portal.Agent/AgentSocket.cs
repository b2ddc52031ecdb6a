using System.Runtime.InteropServices;
using Microsoft.Extensions.Options;

namespace Portal.Agent;

/// <summary>The local API socket, authorized the way dockerd's is: by its owner (root), group and mode 0660.</summary>
public static partial class AgentSocket
{
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int chown(string path, int owner, int group);

    [LibraryImport("libc")]
    private static partial int umask(int mask);

    /// <summary>Before listening: a private umask so the socket is never reachable by others, not even for a moment; a stale socket is removed.</summary>
    public static void Prepare(string path)
    {
        umask(0x3F); // 077: everything the agent creates is private unless opened up on purpose
        var directory = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(directory);
        if (File.Exists(path))
        {
            File.Delete(path);
        }
    }

    /// <summary>After listening: open the socket to its group (root only when no group is configured).</summary>
    public static void Secure(IServiceProvider services)
    {
        var options = services.GetRequiredService<IOptions<AgentOptions>>().Value;
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var gid = 0;
        if (!string.IsNullOrEmpty(options.SocketGroup))
        {
            var entry = File.ReadLines("/etc/group").Select(l => l.Split(':')).FirstOrDefault(f => f.Length > 2 && f[0] == options.SocketGroup)
                ?? throw new InvalidOperationException($"Agent:SocketGroup '{options.SocketGroup}' does not exist; create it (groupadd {options.SocketGroup}) or leave the setting empty.");
            gid = int.Parse(entry[2], System.Globalization.CultureInfo.InvariantCulture);
        }

        chown(options.Socket, 0, gid);
        File.SetUnixFileMode(options.Socket, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
        File.SetUnixFileMode(Path.GetDirectoryName(options.Socket)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.GroupRead | UnixFileMode.OtherExecute | UnixFileMode.OtherRead);
    }
}
