using Portal.Contracts;

namespace Portal.Compute;

/// <summary>Compute settings (appsettings.json section "Compute").</summary>
public sealed record ComputeOptions
{
    /// <summary>Persistent state: container records, disks, logs, images.</summary>
    public string StateRoot { get; init; } = "/var/lib/portal";

    /// <summary>Per-boot state: mounts, bundles, runtime state, exit files, sockets (a tmpfs).</summary>
    public string RunRoot { get; init; } = "/run/portal";

    /// <summary>OCI runtimes to try, in order of preference; the first that runs a probe container wins.</summary>
    public IReadOnlyList<string> OciRuntimes { get; init; } = ["crun", "runc"];

    public string Conmon { get; init; } = "conmon";

    /// <summary>The cgroup (in each hierarchy) under which every container gets its own.</summary>
    public string CgroupParent { get; init; } = "portal";

    /// <summary>Debian's busybox-static binary, from which the built-in busybox image is made.</summary>
    public string BusyboxPath { get; init; } = "/bin/busybox";

    /// <summary>Size of each container's sparse scratch disk: the most a container can write.</summary>
    public long ScratchDiskBytes { get; init; } = 8L << 30;

    public static readonly Containers.LogRotation DefaultLogRotation = new(10L << 20, 3);

    /// <summary>A container's log file is rotated at this size unless it asks for another (docker's max-size).</summary>
    public long LogMaxSizeBytes { get; init; } = DefaultLogRotation.MaxBytes;

    /// <summary>How many log files a container keeps, the current one included, unless it asks for another (docker's max-file).</summary>
    public int LogMaxFiles { get; init; } = DefaultLogRotation.MaxFiles;

    /// <summary>The pids limit of a container that asks for none.</summary>
    public long DefaultPidsLimit { get; init; } = 1024;

    public TimeSpan DefaultStopTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public RuntimeType DefaultRuntimeType { get; init; } = RuntimeType.Default;

    /// <summary>The guest kernel of VM-isolated containers (deploy/guest/build writes it).</summary>
    public string GuestKernel { get; init; } = "/var/cache/portal/guest/vmlinuz";

    /// <summary>The guest initramfs, with the guest agent as PID 1.</summary>
    public string GuestInitramfs { get; init; } = "/var/cache/portal/guest/initramfs.img";

    public string Qemu { get; init; } = "qemu-system-x86_64";

    /// <summary>Auto picks KVM only after a real guest boots with it, else TCG.</summary>
    public Linux.Vm.VmAccelerator VmAccelerator { get; init; } = Linux.Vm.VmAccelerator.Auto;

    /// <summary>Guest RAM of a VM-isolated container without a memory limit.</summary>
    public long VmDefaultMemoryBytes { get; init; } = 256L << 20;

    /// <summary>
    /// Host memory a VM worker may use beyond its guest RAM (QEMU itself; TCG's translation cache comes on top): the VM
    /// cgroup's limit is guest RAM + this, and team quotas charge a VM-isolated container its guest RAM + this.
    /// </summary>
    public long VmWorkerOverheadBytes { get; init; } = Linux.Vm.VmOptions.DefaultWorkerOverheadBytes;

    /// <summary>TCG's translation cache per VM worker (QEMU's default of 1 GiB dominates a worker's memory).</summary>
    public int VmTcgTranslationCacheMiB { get; init; } = 32;

    /// <summary>Virtual switches: interface and nftables names, the address pool, the default switch and its aliases.</summary>
    public Networking.NetworkOptions Networking { get; init; } = new();

    /// <summary>The most tar bytes one image import may read after decompression (all images and layers of the archive together).</summary>
    public long ImageImportMaxBytes { get; init; } = 64L << 30;

    /// <summary>The most tar entries one image import may unpack (all images and layers of the archive together).</summary>
    public long ImageImportMaxEntries { get; init; } = 2_000_000;

    /// <summary>Free space an image import always leaves on the filesystem of the image store.</summary>
    public long ImageMinFreeBytes { get; init; } = 1L << 30;

    /// <summary>How images are pulled from registries (Compute:Registries): insecure registries, parallel downloads.</summary>
    public Registry.RegistryOptions Registries { get; init; } = new();

    /// <summary>Image names that stand for local images, so the seed's commands run unchanged.</summary>
    public IReadOnlyDictionary<string, string> ImageAliases { get; init; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["NanoServer"] = "busybox:latest",
        ["WindowsServerCore"] = "busybox:latest",
    };
}
