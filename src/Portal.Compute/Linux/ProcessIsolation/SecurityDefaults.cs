using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Compute.Linux.ProcessIsolation;

/// <summary>Docker's defaults, which every process-isolated container gets (and nothing looser).</summary>
internal static class SecurityDefaults
{
    /// <summary>Docker's 14 default capabilities.</summary>
    public static readonly IReadOnlyList<string> Capabilities =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ];

    /// <summary>
    /// The capabilities a container may add (--cap-add) under process isolation: the defaults (to add back after
    /// --cap-drop ALL) and those whose reach stays inside the container's own namespaces. The others act on the host's
    /// kernel or the whole machine (SYS_ADMIN, SYS_MODULE, SYS_RAWIO, SYS_TIME, SYS_BOOT, DAC_READ_SEARCH's
    /// open_by_handle_at, BPF, PERFMON, MAC_*, AUDIT_CONTROL, SYSLOG ...), or widen the kernel's attack surface from
    /// the host's user namespace (NET_ADMIN reaches nftables and netdev module autoloading); those need VM isolation.
    /// </summary>
    public static readonly IReadOnlyList<string> AddableCapabilities =
    [
        .. Capabilities,
        "CAP_NET_BROADCAST", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_LINUX_IMMUTABLE", "CAP_LEASE", "CAP_SYS_PTRACE",
    ];

    /// <summary>The capabilities a container's processes hold: the defaults with its --cap-drop and --cap-add applied.</summary>
    public static IReadOnlyList<string> CapabilitiesOf(ContainerSecurity security) => ContainerSecurityPolicy.Effective(Capabilities, security);

    public static readonly IReadOnlyList<string> MaskedPaths =
    [
        "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    ];

    public static readonly IReadOnlyList<string> ReadonlyPaths =
    [
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
    ];

    /// <summary>Device nodes a container may use (type, major, minor; -1 is any), as Docker allows by default.</summary>
    public static readonly IReadOnlyList<(string Type, long Major, long Minor)> AllowedDevices =
    [
        ("c", 1, 3), ("c", 1, 5), ("c", 1, 7), ("c", 1, 8), ("c", 1, 9), // null zero full random urandom
        ("c", 5, 0), ("c", 5, 1), ("c", 5, 2), // tty console ptmx
        ("c", 136, -1), // /dev/pts/*
        ("c", 10, 200), // tun
    ];

    public const long DefaultNoFile = 1048576;
}
