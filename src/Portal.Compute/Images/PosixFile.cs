using System.Runtime.InteropServices;
using Portal.Compute.Linux;
using Portal.Shared.Native;

namespace Portal.Compute.Images;

/// <summary>
/// The few POSIX file calls the BCL lacks (lchown, link, mkfifo, chmod with all 12 bits, utimensat without
/// following links), and a tree removal that follows no link. Every call here acts on the named path itself and
/// never follows a final symlink.
/// </summary>
internal static partial class PosixFile
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;

    /// <summary>What sits at a path, looked at without following a final symlink.</summary>
    internal enum Kind
    {
        Missing,
        Directory,
        Symlink,
        Other,
    }

    /// <summary>lstat-like: a symlink is reported as a symlink, never as what it points to.</summary>
    public static Kind Lstat(string path)
    {
        // readlink first: it never follows, so a symlink (even to a directory, even dangling) is seen as one.
        if (new FileInfo(path).LinkTarget is not null)
        {
            return Kind.Symlink;
        }

        if (Directory.Exists(path))
        {
            return Kind.Directory;
        }

        return File.Exists(path) ? Kind.Other : Kind.Missing;
    }

    public static void LChown(string path, int uid, int gid)
    {
        Check(NativeLChown(path, (uint)uid, (uint)gid), "lchown", path);
    }

    public static void Chmod(string path, int mode)
    {
        Check(NativeChmod(path, (uint)(mode & 0xFFF)), "chmod", path);
    }

    public static void Link(string existing, string newPath)
    {
        Check(NativeLink(existing, newPath), "link", newPath);
    }

    public static void Symlink(string target, string linkPath)
    {
        Check(NativeSymlink(target, linkPath), "symlink", linkPath);
    }

    /// <summary>The inode of <paramref name="path"/> (not following a final symlink), or null when it does not exist (statx).</summary>
    public static unsafe ulong? Inode(string path)
    {
        const int AtFdCwd = -100, AtSymlinkNoFollow = 0x100;
        const uint StatxIno = 0x100;
        var buffer = stackalloc byte[256];
        if (NativeStatx(AtFdCwd, path, AtSymlinkNoFollow, StatxIno, buffer) != 0)
        {
            return null;
        }

        return *(ulong*)(buffer + 32); // struct statx: stx_ino, the same offset on every architecture
    }

    public static void MkFifo(string path, int mode)
    {
        Check(NativeMkFifo(path, (uint)(mode & 0xFFF)), "mkfifo", path);
    }

    public static unsafe void SetMTime(string path, DateTimeOffset time)
    {
        var ticks = time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        var seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out var rest);
        if (rest < 0)
        {
            seconds--;
            rest += TimeSpan.TicksPerSecond;
        }

        var times = stackalloc Timespec[2];
        times[0] = new Timespec { Seconds = seconds, Nanoseconds = rest * 100 };
        times[1] = times[0];
        Check(NativeUtimensat(AtFdCwd, path, times, AtSymlinkNoFollow), "utimensat", path);
    }

    /// <summary>Deletes a tree without following any symlink in it (an image tree holds links such as bin/sh -&gt; /bin/busybox).</summary>
    public static void RemoveTree(string full)
    {
        var kind = Lstat(full);
        if (kind == Kind.Missing)
        {
            return;
        }

        if (kind != Kind.Directory)
        {
            File.Delete(full);
            return;
        }

        foreach (var child in Directory.EnumerateFileSystemEntries(full))
        {
            RemoveTree(child);
        }

        Directory.Delete(full, recursive: false);
    }

    /// <summary>Makes a rename or create inside <paramref name="directory"/> durable.</summary>
    public static void FsyncDirectory(string directory)
    {
        var fd = Libc.open(directory, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        if (fd < 0)
        {
            Check(fd, "open", directory);
        }

        try
        {
            Check(Native.fsync(fd), "fsync", directory);
        }
        finally
        {
            _ = Libc.close(fd);
        }
    }

    private static void Check(int result, string call, string path)
    {
        if (result != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"{call}({path}) failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})", errno);
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int NativeLChown(string path, uint owner, uint group);

    [LibraryImport("libc", EntryPoint = "chmod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int NativeChmod(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int NativeStatx(int dirFd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int NativeLink(string oldPath, string newPath);

    [LibraryImport("libc", EntryPoint = "symlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int NativeSymlink(string target, string linkPath);

    [LibraryImport("libc", EntryPoint = "mkfifo", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int NativeMkFifo(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "utimensat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int NativeUtimensat(int dirFd, string path, Timespec* times, int flags);
}
