using System.Runtime.InteropServices;

// The guest's part of the shared bindings (src/Shared/Native/Libc.cs): the calls only PID 1 of a VM makes.
namespace Portal.Shared.Native;

/// <summary>The libc calls only the guest agent makes (linked directly: see DirectPInvoke in the project).</summary>
internal static unsafe partial class Libc
{
    public const short POLLIN = 0x1;
    public const short POLLOUT = 0x4;
    public const short POLLERR = 0x8;
    public const short POLLHUP = 0x10;
    public const short POLLNVAL = 0x20;

    public const int SIGKILL = 9;
    public const int SIGTERM = 15;

    public const int RB_POWER_OFF = 0x4321fedc;
    public const int RB_AUTOBOOT = 0x01234567;

    public const long SYS_setgroups = 116;
    public const long SYS_setresuid = 117;
    public const long SYS_setresgid = 119;
    public const long SYS_finit_module = 313;

    public const int AF_INET = 2;
    public const int SOCK_DGRAM = 2;
    public const int SOCK_CLOEXEC = 0x80000;

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int poll(PollFd* fds, nuint nfds, int timeout);

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mknod(string path, uint mode, ulong dev);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int chown(string path, uint owner, uint group);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int chroot(string path);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int chdir(string path);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fchdir(int fd);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int sethostname(byte* name, nuint length);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int reboot(int howto);

    [LibraryImport(Lib)]
    public static partial void sync();

    [LibraryImport(Lib)]
    private static partial nint signal(int signal, nint handler);

    public static void IgnoreSigpipe() => signal(13, 1);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial long syscall(long number, long a1, long a2, long a3);

    /// <summary>Writes all of a buffer to a blocking fd; false when the reader went away.</summary>
    public static bool WriteAll(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            var done = 0;
            while (done < data.Length)
            {
                var n = write(fd, p + done, (nuint)(data.Length - done));
                if (n < 0)
                {
                    if (LastError == EINTR)
                    {
                        continue;
                    }

                    return false;
                }

                done += (int)n;
            }
        }

        return true;
    }
}
