using System.Runtime.InteropServices;
using System.Text;
using Portal.Shared.Native;

namespace Portal.Guest.Processes;

/// <summary>
/// Small files of the container's that the guest agent reads for it (/etc/passwd, /etc/group), written by whatever runs
/// in the container: opened without blocking (a FIFO there reads as empty instead of waiting for a writer forever) and
/// read up to <see cref="MaxBytes"/> (a device such as /dev/zero, or a huge file, counts as absent).
/// </summary>
internal static class ContainerFiles
{
    public const int MaxBytes = 4 << 20;

    /// <summary>The file's text; empty when it is missing, unreadable, not ready (an empty FIFO) or larger than <see cref="MaxBytes"/>.</summary>
    public static unsafe string ReadOrEmpty(string path)
    {
        var fd = Libc.open(path, Libc.O_RDONLY | Libc.O_NONBLOCK | Libc.O_NOCTTY | Libc.O_CLOEXEC, 0);
        if (fd < 0)
        {
            return "";
        }

        try
        {
            var buffer = new byte[64 * 1024];
            using var text = new MemoryStream();
            while (true)
            {
                nint n;
                fixed (byte* p = buffer)
                {
                    n = Libc.read(fd, p, (nuint)buffer.Length);
                }

                if (n < 0 && Marshal.GetLastPInvokeError() == Libc.EINTR)
                {
                    continue;
                }

                if (n < 0 || text.Length + n > MaxBytes)
                {
                    return ""; // EAGAIN from a FIFO without data, a read error, or too much
                }

                if (n == 0)
                {
                    return Encoding.UTF8.GetString(text.GetBuffer(), 0, (int)text.Length);
                }

                text.Write(buffer, 0, (int)n);
            }
        }
        finally
        {
            Libc.close(fd);
        }
    }
}
