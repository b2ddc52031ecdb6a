using System.Globalization;
using Portal.Contracts;

namespace Portal.Compute.Containers;

/// <summary>
/// Checks a container's security options and puts them in canonical form (CAP_ names, known ulimits, checked tmpfs
/// mounts) before any driver sees them. Pure. What each isolation level can honour is the driver's to say
/// (<see cref="IIsolationDriver.CheckSecurity"/>).
/// </summary>
public static class ContainerSecurityPolicy
{
    public const string AllCapabilities = "ALL";

    /// <summary>Every capability Linux defines (capability.h, 6.x).</summary>
    public static readonly IReadOnlyList<string> KnownCapabilities =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
        "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ];

    /// <summary>docker's ulimit names and the OCI rlimit each is. rtprio is left out on purpose: real-time priority lets a container starve the host's CPUs.</summary>
    public static readonly IReadOnlyDictionary<string, string> Ulimits = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["as"] = "RLIMIT_AS", ["core"] = "RLIMIT_CORE", ["cpu"] = "RLIMIT_CPU", ["data"] = "RLIMIT_DATA",
        ["fsize"] = "RLIMIT_FSIZE", ["locks"] = "RLIMIT_LOCKS", ["memlock"] = "RLIMIT_MEMLOCK", ["msgqueue"] = "RLIMIT_MSGQUEUE",
        ["nice"] = "RLIMIT_NICE", ["nofile"] = "RLIMIT_NOFILE", ["nproc"] = "RLIMIT_NPROC", ["rss"] = "RLIMIT_RSS",
        ["rttime"] = "RLIMIT_RTTIME", ["sigpending"] = "RLIMIT_SIGPENDING", ["stack"] = "RLIMIT_STACK",
    };

    /// <summary>The mount flags a tmpfs may carry (the data options size and mode have their own fields).</summary>
    public static readonly IReadOnlySet<string> TmpfsFlags = new HashSet<string>(StringComparer.Ordinal)
    {
        "ro", "rw", "exec", "noexec", "suid", "nosuid", "dev", "nodev", "sync", "async", "dirsync", "atime", "noatime",
        "diratime", "nodiratime", "relatime", "norelatime", "strictatime", "nostrictatime",
    };

    /// <summary>Where a tmpfs may not go: over the root, or over the kernel's file systems the runtime mounts.</summary>
    private static readonly string[] ForbiddenTmpfsRoots = ["/proc", "/sys", "/dev/pts", "/dev/mqueue"];

    public const int MaxTmpfsMounts = 32;

    /// <summary>The options in canonical form; throws InvalidArgument naming what was wrong.</summary>
    public static ContainerSecurity Normalize(ContainerSecurity? security)
    {
        if (security is null)
        {
            return new ContainerSecurity();
        }

        var drop = Capabilities(security.CapabilityDrop, "drop");
        var add = Capabilities(security.CapabilityAdd, "add");
        if (add.Contains(AllCapabilities))
        {
            throw Invalid("Adding ALL capabilities is not allowed: it makes the container as strong as root on the host. Add the capabilities it needs one by one.");
        }

        return new ContainerSecurity
        {
            CapabilityAdd = add,
            CapabilityDrop = drop,
            ReadOnlyRootFilesystem = security.ReadOnlyRootFilesystem,
            NoNewPrivileges = security.NoNewPrivileges,
            Ulimits = NormalizeUlimits(security.Ulimits ?? []),
            Tmpfs = NormalizeTmpfs(security.Tmpfs ?? []),
            AppArmorProfile = AppArmor(security.AppArmorProfile),
        };
    }

    /// <summary>True when nothing is asked beyond the isolation's defaults.</summary>
    public static bool IsDefault(ContainerSecurity security) =>
        security.CapabilityAdd.Count == 0 && security.CapabilityDrop.Count == 0 && !security.ReadOnlyRootFilesystem
        && security.NoNewPrivileges is null && security.Ulimits.Count == 0 && security.Tmpfs.Count == 0 && security.AppArmorProfile is null;

    /// <summary>The capability set a process gets: docker's rule (drop ALL keeps only the added; otherwise defaults minus dropped plus added).</summary>
    public static IReadOnlyList<string> Effective(IReadOnlyList<string> defaults, ContainerSecurity security)
    {
        var result = security.CapabilityDrop.Contains(AllCapabilities)
            ? new List<string>()
            : defaults.Where(c => !security.CapabilityDrop.Contains(c)).ToList();
        foreach (var cap in security.CapabilityAdd)
        {
            if (!result.Contains(cap))
            {
                result.Add(cap);
            }
        }

        return result;
    }

    /// <summary>"net_admin", "NET_ADMIN" and "CAP_NET_ADMIN" are the same capability; "all" is ALL.</summary>
    public static string CanonicalCapability(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var upper = name.Trim().ToUpperInvariant();
        if (upper == AllCapabilities)
        {
            return upper;
        }

        var canonical = upper.StartsWith("CAP_", StringComparison.Ordinal) ? upper : "CAP_" + upper;
        return KnownCapabilities.Contains(canonical)
            ? canonical
            : throw Invalid($"Unknown capability '{Printable(name)}': use a Linux capability name such as NET_BIND_SERVICE or CAP_CHOWN, or ALL.");
    }

    private static List<string> Capabilities(IReadOnlyList<string>? names, string verb)
    {
        var result = new List<string>();
        foreach (var name in names ?? [])
        {
            if (name is null)
            {
                throw Invalid($"Invalid capability to {verb}: null is not a capability name.");
            }

            var canonical = CanonicalCapability(name);
            if (!result.Contains(canonical))
            {
                result.Add(canonical);
            }
        }

        return result;
    }

    private static List<ContainerUlimit> NormalizeUlimits(IReadOnlyList<ContainerUlimit> ulimits)
    {
        var result = new List<ContainerUlimit>();
        foreach (var ulimit in ulimits)
        {
            if (ulimit is null)
            {
                throw Invalid("Invalid ulimit: null. Give a name with soft and hard values, for example nofile=1024:2048.");
            }

            var name = (ulimit.Name ?? "").Trim().ToLowerInvariant();
            if (name.StartsWith("rlimit_", StringComparison.Ordinal))
            {
                name = name["rlimit_".Length..];
            }

            if (name == "rtprio")
            {
                throw Invalid("The rtprio ulimit is not allowed: real-time priority would let a container starve the host's CPUs.");
            }

            if (!Ulimits.ContainsKey(name))
            {
                throw Invalid($"Unknown ulimit '{Printable(ulimit.Name ?? "")}': use one of {string.Join(", ", Ulimits.Keys)}.");
            }

            if (ulimit.Soft < -1 || ulimit.Hard < -1)
            {
                throw Invalid($"Invalid ulimit {name}: values must be 0 or more (or -1 for unlimited).");
            }

            if (Unlimited(ulimit.Soft) > Unlimited(ulimit.Hard))
            {
                throw Invalid($"Invalid ulimit {name}: the soft limit {ulimit.Soft.ToString(CultureInfo.InvariantCulture)} is above the hard limit {ulimit.Hard.ToString(CultureInfo.InvariantCulture)}.");
            }

            if (result.Any(u => u.Name == name))
            {
                throw Invalid($"The ulimit {name} is given twice: give each ulimit once.");
            }

            result.Add(new ContainerUlimit { Name = name, Soft = ulimit.Soft, Hard = ulimit.Hard });
        }

        return result;
    }

    /// <summary>-1 (unlimited) as the largest value, for comparisons.</summary>
    public static ulong Unlimited(long value) => value == -1 ? ulong.MaxValue : (ulong)value;

    private static List<TmpfsMount> NormalizeTmpfs(IReadOnlyList<TmpfsMount> mounts)
    {
        if (mounts.Count > MaxTmpfsMounts)
        {
            throw Invalid($"Too many tmpfs mounts ({mounts.Count.ToString(CultureInfo.InvariantCulture)}): at most {MaxTmpfsMounts.ToString(CultureInfo.InvariantCulture)}.");
        }

        var result = new List<TmpfsMount>();
        foreach (var mount in mounts)
        {
            if (mount is null)
            {
                throw Invalid("Invalid tmpfs mount: null. Give an absolute path inside the container, for example /run.");
            }

            var path = TmpfsPath(mount.Path ?? "");
            if (result.Any(m => m.Path == path))
            {
                throw Invalid($"Duplicate tmpfs mount at {path}: mount each path once.");
            }

            if (mount.SizeBytes is < 0)
            {
                throw Invalid($"Invalid tmpfs size for {path}: it must be more than 0 bytes.");
            }

            var mode = mount.Mode;
            if (mode is not null && (mode.Length is 0 or > 4 || mode.Any(c => c is < '0' or > '7')))
            {
                throw Invalid($"Invalid tmpfs mode '{Printable(mode)}' for {path}: give an octal mode such as 1777 or 755.");
            }

            var options = new List<string>();
            foreach (var option in mount.Options ?? [])
            {
                if (option is null || !TmpfsFlags.Contains(option))
                {
                    throw Invalid($"Invalid tmpfs option '{Printable(option ?? "null")}' for {path}: use size=, mode= or one of {string.Join(", ", TmpfsFlags)}.");
                }

                if (!options.Contains(option))
                {
                    options.Add(option);
                }
            }

            result.Add(new TmpfsMount { Path = path, SizeBytes = mount.SizeBytes is 0 ? null : mount.SizeBytes, Mode = mode, Options = options });
        }

        return result;
    }

    private static string TmpfsPath(string path)
    {
        if (path.Length == 0 || path[0] != '/' || path.Contains('\0') || path.Length > 4096)
        {
            throw Invalid($"Invalid tmpfs path '{Printable(path)}': give an absolute path inside the container, for example /run.");
        }

        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Any(p => p is "." or ".." || p.Contains(':') || p.Contains(',')))
        {
            throw Invalid($"Invalid tmpfs path '{Printable(path)}': no '.' or '..' parts, commas or colons.");
        }

        var clean = "/" + string.Join('/', parts);
        if (clean is "/" or "/dev" or "/etc" or "/etc/hosts" || ForbiddenTmpfsRoots.Any(r => clean == r || clean.StartsWith(r + "/", StringComparison.Ordinal)))
        {
            throw Invalid($"A tmpfs cannot be mounted at {clean}: the root, /dev, /dev/pts, /dev/mqueue, /proc, /sys, /etc and /etc/hosts belong to the runtime and the engine (a tmpfs at /etc would hide the engine's /etc/hosts).");
        }

        return clean;
    }

    private static string? AppArmor(string? profile)
    {
        if (profile is null)
        {
            return null;
        }

        if (profile.Length == 0 || profile.Length > 256 || profile.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            throw Invalid($"Invalid AppArmor profile name '{Printable(profile)}': give the name of a profile loaded on the host.");
        }

        return profile;
    }

    private static string Printable(string value)
    {
        var shown = value.Length > 64 ? value[..64] + "..." : value;
        return string.Concat(shown.Select(c => char.IsControl(c) ? '?' : c));
    }

    private static ComputeException Invalid(string message) => new(ComputeErrorCode.InvalidArgument, message);
}
