using System.Text;
using Microsoft.Win32.SafeHandles;
using Portal.Shared.Native;

namespace Portal.Compute.Linux;

/// <summary>A pseudo-terminal pair: the agent keeps the master, a child gets the slave as its controlling tty.</summary>
internal sealed unsafe class Pty : IDisposable
{
    private Pty(SafeFileHandle master, string slavePath)
    {
        Master = master;
        SlavePath = slavePath;
    }

    public SafeFileHandle Master { get; }

    public string SlavePath { get; }

    public static Pty Open()
    {
        var fd = Native.posix_openpt(Libc.O_RDWR | Libc.O_NOCTTY | Libc.O_CLOEXEC);
        if (fd < 0)
        {
            throw Libc.Fail("posix_openpt");
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (Native.grantpt(fd) != 0 || Native.unlockpt(fd) != 0)
        {
            handle.Dispose();
            throw Libc.Fail("unlockpt");
        }

        var buffer = stackalloc byte[128];
        if (Native.ptsname_r(fd, buffer, 128) != 0)
        {
            handle.Dispose();
            throw Libc.Fail("ptsname_r");
        }

        var name = new ReadOnlySpan<byte>(buffer, 128);
        return new Pty(handle, Encoding.UTF8.GetString(name[..name.IndexOf((byte)0)]));
    }

    public void Resize(int columns, int rows)
    {
        var size = new Libc.WinSize { Columns = (ushort)columns, Rows = (ushort)rows };
        if (Libc.ioctl((int)Master.DangerousGetHandle(), Libc.TIOCSWINSZ, &size) != 0)
        {
            throw Libc.Fail("TIOCSWINSZ");
        }
    }

    public void Dispose() => Master.Dispose();
}
