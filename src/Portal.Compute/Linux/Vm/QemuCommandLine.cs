using System.Globalization;
using Portal.Contracts.Guest;

namespace Portal.Compute.Linux.Vm;

/// <summary>Everything one VM worker's command line depends on.</summary>
internal sealed record VmWorkerSpec
{
    public required string ContainerId { get; init; }
    public required string ContainerName { get; init; }
    public required VmAccelerator Accelerator { get; init; }
    public int TcgTranslationCacheMiB { get; init; } = 32;
    public required long MemoryMiB { get; init; }
    public int Cpus { get; init; } = 1;
    public required string KernelPath { get; init; }
    public required string InitramfsPath { get; init; }
    public string? KernelParameters { get; init; }
    /// <summary>The worker's own account (uid = gid): QEMU drops to it (-runas) once it has opened everything, before the guest runs.</summary>
    public required uint Uid { get; init; }

    /// <summary>An empty directory QEMU chroots into (-chroot) at the same moment: after that it sees no host file at all.</summary>
    public required string JailDirectory { get; init; }

    /// <summary>The MAC of the container's virtio-net interface, whose tap is handed over as <see cref="QemuCommandLine.TapFd"/>; null: no network device.</summary>
    public string? MacAddress { get; init; }
}

/// <summary>
/// Builds the worker's QEMU arguments. QEMU opens nothing by path except the kernel, the initramfs and its own firmware,
/// all before the guest runs: the agent hands it the disks, the tap and the listening guest socket as file descriptors.
/// Then, still before the guest starts, it chroots into an empty jail and drops to the worker's own account for good.
/// </summary>
internal static class QemuCommandLine
{
    /// <summary>The listening guest channel socket.</summary>
    public const int SocketFd = 3;

    /// <summary>The image disk, opened read-only.</summary>
    public const int ImageFd = 4;

    /// <summary>The scratch disk, opened read-write, and again read-only (QEMU asks for both modes of an fdset).</summary>
    public const int ScratchFd = 5;

    public const int ScratchReadOnlyFd = 6;

    /// <summary>The tap on the container's switch (opened by the agent: QEMU needs no privilege for it).</summary>
    public const int TapFd = 7;

    /// <summary>
    /// The guest kernel's parameters, chosen by measurement (docs/vm-isolation.md): quiet console, a panic exits QEMU,
    /// no crypto self-tests at boot (0.88 s of guest time under TCG, counted with -icount).
    /// </summary>
    public const string BaseKernelParameters = "console=ttyS0 quiet panic=-1 reboot=t cryptomgr.notests";

    /// <summary>
    /// Under TCG only: legacy INTx interrupts instead of ACPI IRQ routing and MSI-X, which cost 0.11 s of boot and
    /// 0.16 s of virtio probing in guest time. Under KVM virtio keeps MSI-X (its I/O path is worth more there).
    /// </summary>
    public const string TcgKernelParameters = "acpi=noirq pci=nomsi";

    /// <summary>The kernel command line for <paramref name="accelerator"/>, with the caller's extra parameters last.</summary>
    public static string KernelParameters(VmAccelerator accelerator, string? extra) =>
        string.Join(' ', new[] { BaseKernelParameters, accelerator == VmAccelerator.Tcg ? TcgKernelParameters : null, extra?.Trim() }.Where(p => !string.IsNullOrEmpty(p)));

    public static string ProcessName(string containerId) => "vmwp-" + containerId[..Math.Min(12, containerId.Length)];

    public static IReadOnlyList<string> Build(VmWorkerSpec spec)
    {
        var args = new List<string>
        {
            "-name", $"{Escape(spec.ContainerName)},process={ProcessName(spec.ContainerId)}",
            // -M microvm boots as fast but hung in TSC calibration on loaded hosts here; pc never did.
            "-M", "pc",
        };
        if (spec.Accelerator == VmAccelerator.Kvm)
        {
            args.AddRange(["-accel", "kvm", "-cpu", "host"]);
        }
        else
        {
            args.AddRange(["-accel", $"tcg,tb-size={spec.TcgTranslationCacheMiB.ToString(CultureInfo.InvariantCulture)}"]);
        }

        var parameters = KernelParameters(spec.Accelerator, spec.KernelParameters);
        args.AddRange(
        [
            "-m", $"{spec.MemoryMiB.ToString(CultureInfo.InvariantCulture)}M",
            "-smp", Math.Max(1, spec.Cpus).ToString(CultureInfo.InvariantCulture),
            "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
            // elevateprivileges=allow: QEMU installs this filter before it drops to -runas (set*id would be killed). Once it
            // has dropped, it holds no capability and every uid/gid is the worker's, so set*id can change nothing.
            "-sandbox", "on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny",
            "-chroot", spec.JailDirectory,
            "-runas", $"{spec.Uid.ToString(CultureInfo.InvariantCulture)}:{spec.Uid.ToString(CultureInfo.InvariantCulture)}",
            // The serial console is the worker's stdout, a log file the agent opened: panics are diagnosable.
            "-chardev", "stdio,id=console,signal=off",
            "-serial", "chardev:console",
            "-kernel", spec.KernelPath,
            "-initrd", spec.InitramfsPath,
            "-append", parameters,
            "-add-fd", $"fd={ImageFd},set=1",
            "-drive", "file=/dev/fdset/1,format=raw,if=none,id=image,readonly=on",
            "-device", "virtio-blk-pci,drive=image",
            "-add-fd", $"fd={ScratchFd},set=2",
            "-add-fd", $"fd={ScratchReadOnlyFd},set=2",
            "-drive", "file=/dev/fdset/2,format=raw,if=none,id=scratch,discard=unmap",
            "-device", "virtio-blk-pci,drive=scratch",
            "-device", "virtio-serial-pci,max_ports=2",
            "-chardev", $"socket,id=guest,fd={SocketFd},server=on,wait=off",
            "-device", $"virtserialport,chardev=guest,name={GuestProtocol.PortName}",
            // Free page reporting hands memory the guest freed (its boot leaves ~90 MiB touched but free) back to the host,
            // once the guest loads virtio_balloon.
            "-device", "virtio-balloon-pci,free-page-reporting=on",
        ]);
        if (spec.MacAddress is { } mac)
        {
            // romfile= leaves out the NIC's iPXE option ROM: the firmware ran it (and its "Press Ctrl-B" banner) on every
            // boot, about 0.2 s under TCG, for network boot that never happens (-kernel boots the guest).
            args.AddRange(["-netdev", $"tap,id=net0,fd={TapFd}", "-device", $"virtio-net-pci,netdev=net0,mac={mac},romfile="]);
        }

        return args;
    }

    /// <summary>QEMU option values escape a comma by doubling it.</summary>
    private static string Escape(string value) => value.Replace(",", ",,", StringComparison.Ordinal);
}
