using Portal.Shared.Native;

namespace Portal.Guest.Boot;

/// <summary>
/// Loads the kernel modules the initramfs carries (flat in /lib/modules, no modules.dep: the order here is the dependency
/// order). Built-in or already loaded modules (EEXIST) are fine; a missing file is skipped.
/// </summary>
internal static unsafe class KernelModules
{
    public const string Directory = "/lib/modules";

    /// <summary>The virtio transport and the devices the channel and disks need, for a machine with PCI (-M pc/q35).</summary>
    public static readonly IReadOnlyList<string> VirtioPci = ["virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci"];

    /// <summary>The virtio transport of -M microvm (virtio-mmio devices described by ACPI).</summary>
    public static readonly IReadOnlyList<string> VirtioMmio = ["virtio_ring", "virtio", "virtio_mmio"];

    public static readonly IReadOnlyList<string> Devices = ["virtio_console", "virtio_blk"];

    /// <summary>
    /// Only the container's mounts need the filesystems, so they load while the channel comes up; so does the balloon,
    /// whose free page reporting hands the memory the boot touched and freed back to the host.
    /// </summary>
    public static readonly IReadOnlyList<string> Background = ["libcrc32c", "erofs", "overlay", "virtio_balloon"];

    /// <summary>virtio-net for a container on a virtual switch; loaded in the background with the filesystems.</summary>
    public static readonly IReadOnlyList<string> Network = ["failover", "net_failover", "virtio_net"];

    public static void Load(IEnumerable<string> names)
    {
        foreach (var name in names)
        {
            Load(name);
        }
    }

    public static void Load(string name)
    {
        var path = $"{Directory}/{name}.ko";
        var fd = Libc.open(path, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        if (fd < 0)
        {
            if (Libc.LastError != Libc.ENOENT)
            {
                GuestLog.Error($"open {path}: {Libc.ErrorText(Libc.LastError)}");
            }

            return;
        }

        try
        {
            byte noParameters = 0;
            if (Libc.syscall(Libc.SYS_finit_module, fd, (long)&noParameters, 0) != 0 && Libc.LastError != Libc.EEXIST)
            {
                GuestLog.Error($"load module {name}: {Libc.ErrorText(Libc.LastError)}");
            }
        }
        finally
        {
            Libc.close(fd);
        }
    }

    /// <summary>True when a virtio device sits on the PCI bus (vendor 0x1af4); -M microvm has none.</summary>
    public static bool HasVirtioPciDevice()
    {
        const string Devices = "/sys/bus/pci/devices";
        if (!System.IO.Directory.Exists(Devices))
        {
            return false;
        }

        foreach (var device in System.IO.Directory.EnumerateDirectories(Devices))
        {
            try
            {
                if (File.ReadAllText(Path.Combine(device, "vendor")).Trim() == "0x1af4")
                {
                    return true;
                }
            }
            catch (IOException)
            {
            }
        }

        return false;
    }
}
