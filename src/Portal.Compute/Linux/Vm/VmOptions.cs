namespace Portal.Compute.Linux.Vm;

/// <summary>Which accelerator runs the guests: auto probes KVM with a real boot and falls back to TCG.</summary>
public enum VmAccelerator
{
    Auto,
    Kvm,
    Tcg,
}

/// <summary>Settings of the VM isolation driver (from ComputeOptions).</summary>
public sealed record VmOptions
{
    /// <summary>Per-boot state (a tmpfs): the driver keeps its run directories under RunRoot/vm.</summary>
    public required string RunRoot { get; init; }

    /// <summary>The guest kernel (deploy/guest/build writes it).</summary>
    public string KernelPath { get; init; } = "/var/cache/portal/guest/vmlinuz";

    /// <summary>The guest initramfs with the guest agent as PID 1.</summary>
    public string InitramfsPath { get; init; } = "/var/cache/portal/guest/initramfs.img";

    public string QemuPath { get; init; } = "qemu-system-x86_64";

    public VmAccelerator Accelerator { get; init; } = VmAccelerator.Auto;

    /// <summary>Guest RAM of a container without a memory limit.</summary>
    public long DefaultMemoryBytes { get; init; } = 256L << 20;

    /// <summary>Smallest guest RAM: below this the guest kernel and agent do not boot, whatever the container's limit.</summary>
    public long MinimumMemoryBytes { get; init; } = DefaultMinimumMemoryBytes;

    public const long DefaultMinimumMemoryBytes = 128L << 20;

    /// <summary>
    /// Host memory the worker may use beyond guest RAM (QEMU itself, plus TCG's translation cache under TCG): the VM
    /// cgroup's limit is RAM + this. QEMU itself measured 64 MiB of RSS beyond guest RAM (bench/results/vm-start.md);
    /// this leaves it twice that before the cgroup's limit. Team quotas charge the same figure (docs/teams.md).
    /// </summary>
    public long WorkerOverheadBytes { get; init; } = DefaultWorkerOverheadBytes;

    public const long DefaultWorkerOverheadBytes = 128L << 20;

    /// <summary>The guest RAM of a container with these limits: its memory limit (else the default), at least the minimum, in whole MiB.</summary>
    public static long GuestMemoryBytes(long? memoryLimit, long defaultBytes, long minimumBytes)
    {
        const long partMiB = (1L << 20) - 1;
        var bytes = Math.Max(minimumBytes, memoryLimit ?? defaultBytes);
        // Rounding up a limit near long.MaxValue must not wrap to a negative size (team quotas charge this figure).
        return bytes > long.MaxValue - partMiB ? long.MaxValue & ~partMiB : (bytes + partMiB) & ~partMiB;
    }

    /// <summary>TCG translation cache size (QEMU defaults to 1 GiB, which dominates a worker's RSS).</summary>
    public int TcgTranslationCacheMiB { get; init; } = 32;

    /// <summary>The cgroup (in each hierarchy) under which each VM worker gets its own ("id@vm").</summary>
    public string CgroupParent { get; init; } = "portal";

    /// <summary>
    /// Workers run as uid/gid in WorkerUidBase .. WorkerUidBase + 2^24 - 1, one unprivileged account per running VM,
    /// unique among them (preferably WorkerUidBase + the first 24 bits of the container id; see VmWorkerUids).
    /// </summary>
    public uint WorkerUidBase { get; init; } = 1_900_000_000;

    /// <summary>Extra guest kernel parameters.</summary>
    public string? KernelParameters { get; init; }

    /// <summary>Longest wait for a guest to boot and answer Hello (TCG on a busy host is slow).</summary>
    public TimeSpan BootTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a guest gets to power off after a shutdown request before its worker is killed.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the KVM probe boot may take before KVM counts as not working.</summary>
    public TimeSpan KvmProbeTimeout { get; init; } = TimeSpan.FromSeconds(8);

    /// <summary>busybox-static, the init of the accelerator probe's initramfs.</summary>
    public string BusyboxPath { get; init; } = "/bin/busybox";
}
