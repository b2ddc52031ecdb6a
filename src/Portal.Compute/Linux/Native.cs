using System.Runtime.InteropServices;
using Portal.Shared.Native;

namespace Portal.Compute.Linux;

/// <summary>
/// The libc calls of the host's Linux drivers: the ones the guest agent makes too come from the shared
/// <see cref="Libc"/>, the host-only ones (terminals, files, limits) are here.
/// </summary>
internal static unsafe partial class Native
{
    public const int SEEK_SET = 0;
    public const int SEEK_DATA = 3;
    public const int SEEK_HOLE = 4;

    public const int O_APPEND = 0x400;
    public const int O_PATH = 0x200000;
    public const int AT_EMPTY_PATH = 0x1000;
    public const int ENOTDIR = 20;
    public const int ELOOP = 40;
    public const int ENOSYS = 38;
    public const int EXDEV = 18;

    /// <summary>openat2(2) resolve flags: no /proc magic links; absolute symlinks and ".." stay inside the directory fd.</summary>
    public const ulong RESOLVE_NO_MAGICLINKS = 0x02;
    public const ulong RESOLVE_IN_ROOT = 0x10;

    public const uint S_IFMT = 0xF000;
    public const uint S_IFREG = 0x8000;
    public const uint S_IFDIR = 0x4000;
    public const uint S_IFIFO = 0x1000;
    public const uint S_IFCHR = 0x2000;
    public const uint S_IFBLK = 0x6000;
    public const uint S_IFSOCK = 0xC000;
    public const uint S_IFLNK = 0xA000;

    private const nint SYS_openat2 = 437; // the same number on every architecture (added after the tables were unified)
    private const uint STATX_TYPE = 0x1;
    private const uint STATX_SIZE = 0x200;

    public const int RLIMIT_NPROC = 6;
    public const int RLIMIT_NOFILE = 7;

    [LibraryImport(Libc.Lib, SetLastError = true)]
    public static partial int dup(int fd);

    [LibraryImport(Libc.Lib, SetLastError = true)]
    public static partial long lseek(int fd, long offset, int whence);

    [LibraryImport(Libc.Lib, SetLastError = true)]
    public static partial nint pwrite(int fd, void* buf, nuint count, long offset);

    [LibraryImport(Libc.Lib, SetLastError = true)]
    public static partial int ftruncate(int fd, long length);

    [LibraryImport(Libc.Lib, SetLastError = true)]
    public static partial int fsync(int fd);

    [LibraryImport(Libc.Lib, SetLastError = true)]
    public static partial int fdatasync(int fd);

    [LibraryImport(Libc.Lib, SetLastError = true)]
    public static partial int getrlimit(int resource, RLimit* limit);

    [LibraryImport(Libc.Lib, SetLastError = true)]
    public static partial int posix_openpt(int flags);

    [LibraryImport(Libc.Lib, SetLastError = true)]
    public static partial int grantpt(int fd);

    [LibraryImport(Libc.Lib, SetLastError = true)]
    public static partial int unlockpt(int fd);

    [LibraryImport(Libc.Lib, SetLastError = true)]
    public static partial int ptsname_r(int fd, byte* buf, nuint buflen);

    [LibraryImport(Libc.Lib, SetLastError = true)]
    private static partial nint syscall(nint number, int dirfd, byte* path, OpenHow* how, nuint size);

    [LibraryImport(Libc.Lib, SetLastError = true)]
    private static partial int statx(int dirfd, byte* path, int flags, uint mask, byte* buffer);

    [StructLayout(LayoutKind.Sequential)]
    private struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    /// <summary>openat2(2): a path resolved relative to <paramref name="dirfd"/> with the kernel's <paramref name="resolve"/> rules. -1 with errno on failure.</summary>
    public static int OpenAt2(int dirfd, string path, int flags, ulong resolve)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        var how = new OpenHow { Flags = (ulong)(uint)flags, Resolve = resolve };
        fixed (byte* p = bytes)
        {
            return (int)syscall(SYS_openat2, dirfd, p, &how, (nuint)sizeof(OpenHow));
        }
    }

    /// <summary>The file type bits and size of an open fd (statx: one layout on every architecture, works on O_PATH fds).</summary>
    public static (uint Mode, long Size) Stat(int fd)
    {
        var buffer = stackalloc byte[256];
        byte empty = 0;
        if (statx(fd, &empty, AT_EMPTY_PATH, STATX_TYPE | STATX_SIZE, buffer) != 0)
        {
            throw Libc.Fail("statx");
        }

        return (*(ushort*)(buffer + 28), *(long*)(buffer + 40));
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct RLimit
    {
        public ulong Current;
        public ulong Max;
    }

    public static (ulong Soft, ulong Hard) GetRLimit(int resource)
    {
        RLimit limit;
        if (getrlimit(resource, &limit) != 0)
        {
            throw Libc.Fail("getrlimit");
        }

        return (limit.Current, limit.Max);
    }
}
