using System.Runtime.InteropServices;

namespace Portal.PowerShell.Terminal;

/// <summary>
/// The local terminal for an interactive container session: raw mode (every key, Ctrl-C included, goes to the
/// container's terminal, which echoes), its size, and non-blocking reads of standard input so the session can end
/// while no key is pressed.
/// </summary>
public sealed partial class RawTerminal : IDisposable
{
    private const int StdIn = 0;
    private const int StdOut = 1;
    private const int TcsaNow = 0;
    private const ulong TiocGWinSz = 0x5413;
    private const short PollIn = 0x001;

    // struct termios is 60 bytes on Linux/glibc; an opaque buffer keeps us off its layout.
    private readonly byte[]? _saved;

    private RawTerminal(byte[]? saved)
    {
        _saved = saved;
    }

    /// <summary>Whether standard input is a terminal (else input is passed through as it comes, without a terminal inside).</summary>
    public static bool IsTerminal => isatty(StdIn) == 1;

    /// <summary>Switches standard input to raw mode when it is a terminal; disposing restores the previous mode.</summary>
    public static RawTerminal Enter()
    {
        if (!IsTerminal)
        {
            return new RawTerminal(null);
        }

        var saved = new byte[256];
        if (tcgetattr(StdIn, saved) != 0)
        {
            return new RawTerminal(null);
        }

        var raw = (byte[])saved.Clone();
        cfmakeraw(raw);
        tcsetattr(StdIn, TcsaNow, raw);
        return new RawTerminal(saved);
    }

    /// <summary>The terminal's columns and rows, or 80x24 when there is none.</summary>
    public static (int Columns, int Rows) Size
    {
        get
        {
            var size = new WinSize();
            foreach (var fd in new[] { StdOut, StdIn })
            {
                if (ioctl(fd, TiocGWinSz, ref size) == 0 && size.Columns > 0 && size.Rows > 0)
                {
                    return (size.Columns, size.Rows);
                }
            }

            return (80, 24);
        }
    }

    /// <summary>Reads what standard input has within the wait: null when nothing came, empty at end of input.</summary>
    public static byte[]? Read(TimeSpan wait)
    {
        var poll = new PollFd { Fd = StdIn, Events = PollIn };
        var ready = Poll(ref poll, 1, (int)wait.TotalMilliseconds);
        if (ready <= 0)
        {
            return null;
        }

        var buffer = new byte[4096];
        var count = ReadFd(StdIn, buffer, buffer.Length);
        return count <= 0 ? [] : buffer[..(int)count];
    }

    public void Dispose()
    {
        if (_saved is not null)
        {
            tcsetattr(StdIn, TcsaNow, _saved);
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct WinSize
    {
        public ushort Rows;
        public ushort Columns;
        public ushort XPixels;
        public ushort YPixels;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short REvents;
    }

    [LibraryImport("libc")]
    private static partial int isatty(int fd);

    [LibraryImport("libc")]
    private static partial int tcgetattr(int fd, [Out] byte[] termios);

    [LibraryImport("libc")]
    private static partial int tcsetattr(int fd, int optionalActions, [In] byte[] termios);

    [LibraryImport("libc")]
    private static partial void cfmakeraw([In, Out] byte[] termios);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int ioctl(int fd, ulong request, ref WinSize size);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int Poll(ref PollFd fds, ulong count, int timeoutMilliseconds);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial nint ReadFd(int fd, [Out] byte[] buffer, nint count);
}
