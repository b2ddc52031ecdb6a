using System.Text;
using Microsoft.Win32.SafeHandles;

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
        var fd = Native.posix_openpt(Native.O_RDWR | Native.O_NOCTTY | Native.O_CLOEXEC);
        if (fd < 0)
        {
            throw Native.Fail("posix_openpt");
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (Native.grantpt(fd) != 0 || Native.unlockpt(fd) != 0)
        {
            handle.Dispose();
            throw Native.Fail("unlockpt");
        }

        var buffer = stackalloc byte[128];
        if (Native.ptsname_r(fd, buffer, 128) != 0)
        {
            handle.Dispose();
            throw Native.Fail("ptsname_r");
        }

        var name = new ReadOnlySpan<byte>(buffer, 128);
        return new Pty(handle, Encoding.UTF8.GetString(name[..name.IndexOf((byte)0)]));
    }

    public void Resize(int columns, int rows)
    {
        var size = new Native.WinSize { Columns = (ushort)columns, Rows = (ushort)rows };
        if (Native.ioctl((int)Master.DangerousGetHandle(), Native.TIOCSWINSZ, &size) != 0)
        {
            throw Native.Fail("TIOCSWINSZ");
        }
    }

    public void Dispose() => Master.Dispose();
}
