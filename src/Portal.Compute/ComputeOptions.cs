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

    /// <summary>The pids limit of a container that asks for none.</summary>
    public long DefaultPidsLimit { get; init; } = 1024;

    public TimeSpan DefaultStopTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public RuntimeType DefaultRuntimeType { get; init; } = RuntimeType.Default;

    /// <summary>Image names that stand for local images, so the seed's commands run unchanged.</summary>
    public IReadOnlyDictionary<string, string> ImageAliases { get; init; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["NanoServer"] = "busybox:latest",
        ["WindowsServerCore"] = "busybox:latest",
    };
}
