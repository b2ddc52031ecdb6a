using Portal.Contracts.Guest;
using Portal.Shared.Native;

namespace Portal.Guest.Boot;

/// <summary>
/// The early boot of PID 1: the kernel filesystems, the virtio modules, and the guest channel's port. Nothing here waits
/// for anything it does not need: the filesystem modules load in the background while the channel comes up.
/// </summary>
internal static class GuestBoot
{
    private const string PortsDirectory = "/sys/class/virtio-ports";

    public static void MountKernelFilesystems()
    {
        MountEarly("proc", "/proc", "proc", Libc.MS_NOSUID | Libc.MS_NODEV | Libc.MS_NOEXEC);
        MountEarly("sysfs", "/sys", "sysfs", Libc.MS_NOSUID | Libc.MS_NODEV | Libc.MS_NOEXEC);
        MountEarly("devtmpfs", "/dev", "devtmpfs", Libc.MS_NOSUID);
    }

    /// <summary>Loads the virtio transport and devices; returns the background modules' load.</summary>
    public static Task LoadModules()
    {
        var transport = KernelModules.HasVirtioPciDevice() ? KernelModules.VirtioPci : KernelModules.VirtioMmio;
        KernelModules.Load(transport);
        KernelModules.Load(KernelModules.Devices);
        GuestLog.Info($"virtio modules loaded ({(ReferenceEquals(transport, KernelModules.VirtioPci) ? "pci" : "mmio")})");
        return Task.Run(() =>
        {
            KernelModules.Load(KernelModules.Background);
            KernelModules.Load(KernelModules.Network);
        });
    }

    /// <summary>Finds the port named <see cref="GuestProtocol.PortName"/> and opens it (non-blocking, close-on-exec).</summary>
    public static async Task<int> OpenPortAsync(TimeSpan timeout)
    {
        var started = Environment.TickCount64;
        var nextReport = started + 2000;
        while (true)
        {
            if (FindPortDevice() is { } device)
            {
                var fd = Libc.open(device, Libc.O_RDWR | Libc.O_NONBLOCK | Libc.O_NOCTTY | Libc.O_CLOEXEC, 0);
                if (fd >= 0)
                {
                    GuestLog.Info($"guest channel on {device}");
                    return fd;
                }

                if (Libc.LastError != Libc.ENOENT)
                {
                    throw Libc.Fail($"open {device}");
                }
            }

            var now = Environment.TickCount64;
            if (now - started > timeout.TotalMilliseconds)
            {
                throw new GuestException($"no virtio-serial port named {GuestProtocol.PortName} appeared within {timeout.TotalSeconds:F0} s");
            }

            if (now > nextReport)
            {
                GuestLog.Info($"still waiting for the virtio-serial port {GuestProtocol.PortName} ({(now - started) / 1000} s)");
                nextReport = now + 2000;
            }

            await Task.Delay(5).ConfigureAwait(false);
        }
    }

    private static string? FindPortDevice()
    {
        if (!Directory.Exists(PortsDirectory))
        {
            return null;
        }

        foreach (var port in Directory.EnumerateDirectories(PortsDirectory))
        {
            try
            {
                if (File.ReadAllText(Path.Combine(port, "name")).Trim() == GuestProtocol.PortName)
                {
                    return "/dev/" + Path.GetFileName(port);
                }
            }
            catch (IOException)
            {
                // The port is still being set up.
            }
        }

        return null;
    }

    private static void MountEarly(string source, string target, string type, ulong flags)
    {
        Directory.CreateDirectory(target);
        if (Libc.mount(source, target, type, flags, null) != 0 && Libc.LastError != Libc.EBUSY)
        {
            GuestLog.Error($"mount {type} on {target}: {Libc.ErrorText(Libc.LastError)}");
        }
    }
}
