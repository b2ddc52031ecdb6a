using System.Runtime.InteropServices;
using Portal.Compute.Linux;
using Portal.Shared.Native;

namespace Portal.Compute.Storage;

/// <summary>mount(2)/umount2(2) and the mount table, without spawning mount(8).</summary>
internal static class Mounts
{
    public static void Mount(string source, string target, string fsType, ulong flags, string? data)
    {
        if (Libc.mount(source, target, fsType, flags, data) != 0)
        {
            throw Libc.Fail($"mount {fsType} {source} on {target}");
        }
    }

    /// <summary>Mounts a disk file through an autoclear loop device.</summary>
    public static void MountDisk(string diskFile, string target, string fsType, bool readOnly, string? data = null)
    {
        using var loop = LoopDevice.Attach(diskFile, readOnly);
        Mount(loop.Device, target, fsType, (readOnly ? Libc.MS_RDONLY : 0) | Libc.MS_NODEV, data);
    }

    /// <summary>Unmounts; a busy mount is detached lazily so cleanup never wedges. Missing mounts are fine.</summary>
    public static void Unmount(string target)
    {
        if (Libc.umount2(target, 0) == 0)
        {
            return;
        }

        var errno = Marshal.GetLastPInvokeError();
        if (errno == Libc.EINVAL || errno == Libc.ENOENT)
        {
            return; // not a mount point (any more)
        }

        if (Libc.umount2(target, Libc.MNT_DETACH) != 0)
        {
            throw Libc.Fail($"umount {target}");
        }
    }

    /// <summary>Mount points at or below <paramref name="prefix"/>, deepest first (the order to unmount them).</summary>
    public static IReadOnlyList<string> Under(string prefix)
    {
        var root = prefix.TrimEnd('/');
        var result = new List<string>();
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var fields = line.Split(' ');
            if (fields.Length < 5)
            {
                continue;
            }

            var mountPoint = Unescape(fields[4]);
            if (mountPoint == root || mountPoint.StartsWith(root + "/", StringComparison.Ordinal))
            {
                result.Add(mountPoint);
            }
        }

        result.Reverse();
        return result;
    }

    /// <summary>Unmounts everything at or below <paramref name="prefix"/>.</summary>
    public static void UnmountAll(string prefix)
    {
        foreach (var mountPoint in Under(prefix))
        {
            Unmount(mountPoint);
        }
    }

    private static string Unescape(string field) =>
        field.Contains('\\') ? System.Text.RegularExpressions.Regex.Replace(field, @"\\([0-7]{3})", m => ((char)Convert.ToInt32(m.Groups[1].Value, 8)).ToString()) : field;
}
