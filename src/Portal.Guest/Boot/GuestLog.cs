using System.Text;
using Portal.Shared.Native;

namespace Portal.Guest.Boot;

/// <summary>
/// Boot progress and errors on the VM's console (fd 2 is /dev/console for the kernel's init), so QEMU's -serial
/// output shows them. Each line carries the time since boot, to read boot timings off a serial log.
/// </summary>
internal static unsafe class GuestLog
{
    private static readonly Lock Gate = new();

    public static void Info(string message) => Write(message);

    public static void Error(string message) => Write("error: " + message);

    private static void Write(string message)
    {
        var seconds = Environment.TickCount64 / 1000.0;
        var line = Encoding.UTF8.GetBytes($"[{seconds,8:F3}] portal-guest: {message}\n");
        lock (Gate)
        {
            Libc.WriteAll(2, line);
        }
    }
}
