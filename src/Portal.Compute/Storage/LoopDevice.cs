using System.Runtime.InteropServices;
using Portal.Compute.Linux;
using Portal.Shared.Native;

namespace Portal.Compute.Storage;

/// <summary>
/// Attaches a disk file to a free loop device with autoclear, so the device goes away by itself
/// when its last mount is unmounted: a crash can never leak a loop device that is no longer mounted.
/// </summary>
internal static unsafe class LoopDevice
{
    private const nuint LoopSetFd = 0x4C00;
    private const nuint LoopClrFd = 0x4C01;
    private const nuint LoopSetStatus64 = 0x4C04;
    private const nuint LoopConfigure = 0x4C0A;
    private const nuint LoopCtlGetFree = 0x4C82;
    private const uint FlagsReadOnly = 1;
    private const uint FlagsAutoClear = 4;

    [StructLayout(LayoutKind.Sequential)]
    private struct LoopInfo64
    {
        public ulong Device;
        public ulong Inode;
        public ulong RDevice;
        public ulong Offset;
        public ulong SizeLimit;
        public uint Number;
        public uint EncryptType;
        public uint EncryptKeySize;
        public uint Flags;
        public fixed byte FileName[64];
        public fixed byte CryptName[64];
        public fixed byte EncryptKey[32];
        public fixed ulong Init[2];
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct LoopConfig
    {
        public uint Fd;
        public uint BlockSize;
        public LoopInfo64 Info;
        public fixed ulong Reserved[8];
    }

    /// <summary>Attaches <paramref name="file"/> and returns the device path; the caller mounts it, then the device lives as long as the mount.</summary>
    public static LoopAttachment Attach(string file, bool readOnly)
    {
        var fileFd = Libc.open(file, (readOnly ? Libc.O_RDONLY : Libc.O_RDWR) | Libc.O_CLOEXEC, 0);
        if (fileFd < 0)
        {
            throw Libc.Fail($"open {file}");
        }

        try
        {
            for (var attempt = 0; attempt < 64; attempt++)
            {
                var control = Libc.open("/dev/loop-control", Libc.O_RDWR | Libc.O_CLOEXEC, 0);
                if (control < 0)
                {
                    throw Libc.Fail("open /dev/loop-control");
                }

                int number;
                try
                {
                    number = Libc.ioctl(control, LoopCtlGetFree, 0);
                    if (number < 0)
                    {
                        throw Libc.Fail("LOOP_CTL_GET_FREE");
                    }
                }
                finally
                {
                    Libc.close(control);
                }

                var device = $"/dev/loop{number}";
                var loopFd = Libc.open(device, (readOnly ? Libc.O_RDONLY : Libc.O_RDWR) | Libc.O_CLOEXEC, 0);
                if (loopFd < 0)
                {
                    throw Libc.Fail($"open {device}");
                }

                var config = default(LoopConfig);
                config.Fd = (uint)fileFd;
                config.Info.Flags = FlagsAutoClear | (readOnly ? FlagsReadOnly : 0);
                if (Libc.ioctl(loopFd, LoopConfigure, &config) == 0)
                {
                    return new LoopAttachment(device, loopFd);
                }

                var errno = Marshal.GetLastPInvokeError();
                if (errno == Libc.EINVAL)
                {
                    // Kernels before 5.8 lack LOOP_CONFIGURE.
                    if (Libc.ioctl(loopFd, LoopSetFd, fileFd) == 0)
                    {
                        if (Libc.ioctl(loopFd, LoopSetStatus64, &config.Info) == 0)
                        {
                            return new LoopAttachment(device, loopFd);
                        }

                        Libc.ioctl(loopFd, LoopClrFd, 0);
                    }

                    errno = Marshal.GetLastPInvokeError();
                }

                Libc.close(loopFd);
                if (errno != Libc.EBUSY)
                {
                    throw new IOException($"attach {file} to {device}: {Libc.ErrorText(errno)}", errno);
                }

                // Another process took this device between GET_FREE and configure: try the next.
            }

            throw new IOException($"attach {file}: no free loop device after 64 attempts");
        }
        finally
        {
            Libc.close(fileFd);
        }
    }
}

/// <summary>A configured loop device; disposing drops our reference so autoclear can detach it once unmounted.</summary>
internal sealed class LoopAttachment(string device, int fd) : IDisposable
{
    private int _fd = fd;

    public string Device { get; } = device;

    public void Dispose()
    {
        var fdToClose = Interlocked.Exchange(ref _fd, -1);
        if (fdToClose >= 0)
        {
            Libc.close(fdToClose);
        }
    }
}
