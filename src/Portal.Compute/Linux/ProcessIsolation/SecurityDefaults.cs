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
