using System.Globalization;
using System.Runtime.InteropServices;

namespace Portal.Docker;

/// <summary>
/// The docker socket's authorization, as dockerd's: owned by root and an optional group, mode 0660. It is created
/// under a private umask, so it is never reachable by others, not even between bind and chmod.
/// </summary>
internal static partial class DockerSocket
{
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int chown(string path, int owner, int group);

    [LibraryImport("libc")]
    private static partial int umask(int mask);

    /// <summary>Makes the directory, removes a stale socket and sets the private umask. True when the directory was created here.</summary>
    public static bool Prepare(string path)
    {
        umask(0x3F); // 077, as the agent's own socket: nothing the agent creates is open to others by accident
        var directory = Path.GetDirectoryName(path) ?? throw new InvalidOperationException($"Agent:DockerSocket '{path}' has no directory.");
        var created = !Directory.Exists(directory);
        Directory.CreateDirectory(directory);
        if (File.Exists(path))
        {
            if ((File.GetAttributes(path) & FileAttributes.Directory) != 0)
            {
                throw new InvalidOperationException($"Agent:DockerSocket '{path}' is a directory.");
            }

            File.Delete(path); // a socket left by an agent that died: nobody listens on it any more
        }

        return created;
    }

    /// <summary>After listening: root and the configured group may connect (mode 0660); with no group, root only.</summary>
    public static void Secure(string path, string group, bool createdDirectory)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("The docker socket is served on Linux hosts.");
        }

        var gid = 0;
        if (!string.IsNullOrEmpty(group))
        {
            var entry = File.ReadLines("/etc/group").Select(l => l.Split(':')).FirstOrDefault(f => f.Length > 2 && f[0] == group)
                ?? throw new InvalidOperationException($"Agent:DockerSocketGroup '{group}' does not exist; create it (groupadd {group}) or leave the setting empty.");
            gid = int.Parse(entry[2], CultureInfo.InvariantCulture);
        }

        if (chown(path, 0, gid) != 0)
        {
            throw new InvalidOperationException($"Could not give {path} to root:{gid} (errno {Marshal.GetLastPInvokeError()}); the agent runs as root.");
        }

        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
        if (createdDirectory)
        {
            // Only a directory made here is opened for traversal; an existing one (/run, /tmp) keeps its mode.
            File.SetUnixFileMode(Path.GetDirectoryName(path)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }
    }
}
