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
    public static partial int getrlimit(int resource, RLimit* limit);

    [LibraryImport(Libc.Lib, SetLastError = true)]
    public static partial int posix_openpt(int flags);

    [LibraryImport(Libc.Lib, SetLastError = true)]
    public static partial int grantpt(int fd);

    [LibraryImport(Libc.Lib, SetLastError = true)]
    public static partial int unlockpt(int fd);

    [LibraryImport(Libc.Lib, SetLastError = true)]
    public static partial int ptsname_r(int fd, byte* buf, nuint buflen);

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
