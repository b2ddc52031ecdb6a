using System.Text.Json.Nodes;
using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Compute.Linux.ProcessIsolation;

/// <summary>What goes into one OCI bundle's config.json.</summary>
internal sealed record OciSpecRequest
{
    public required string Hostname { get; init; }
    public required string RootfsPath { get; init; }
    public required string CgroupsPath { get; init; }
    public required IReadOnlyList<string> Args { get; init; }
    public required IReadOnlyList<string> Env { get; init; }
    public required string Cwd { get; init; }
    public required ContainerUser User { get; init; }
    public bool Terminal { get; init; }
    public required ContainerLimits Limits { get; init; }
    public required long DefaultPidsLimit { get; init; }
    public required bool CgroupNamespace { get; init; }
    /// <summary>An existing network namespace to join (the container's switch plumbing); null makes a new, empty one.</summary>
    public string? NetworkNamespacePath { get; init; }
    /// <summary>A host file bind-mounted at /etc/hosts (kept current by the agent); null leaves the image's.</summary>
    public string? HostsPath { get; init; }
    /// <summary>The container's security options, normalized (capabilities, read-only root, ulimits, tmpfs, no-new-privileges).</summary>
    public ContainerSecurity Security { get; init; } = new();
    /// <summary>The AppArmor profile its processes run under; null where AppArmor is not enabled.</summary>
    public string? AppArmorProfile { get; init; }
}

/// <summary>Builds OCI runtime-spec documents with Docker-equivalent security defaults.</summary>
internal static class OciSpecBuilder
{
    public static JsonObject Build(OciSpecRequest request) => new()
    {
        ["ociVersion"] = "1.0.2",
        ["process"] = Process(request.Args, request.Env, request.Cwd, request.User, request.Terminal, request.Security, request.AppArmorProfile),
        ["root"] = new JsonObject { ["path"] = request.RootfsPath, ["readonly"] = request.Security.ReadOnlyRootFilesystem },
        ["hostname"] = request.Hostname.Length > 63 ? request.Hostname[..63] : request.Hostname,
        ["mounts"] = Mounts(request.HostsPath, request.Security.Tmpfs),
        ["linux"] = Linux(request),
    };

    /// <summary>The umask of every process in a container (0022).</summary>
    public const int ContainerUmask = 0x12;

    /// <summary>A process document: the container's first process or an exec'd one (which gets the same capabilities, limits and profile).</summary>
    public static JsonObject Process(IReadOnlyList<string> args, IReadOnlyList<string> env, string cwd, ContainerUser user, bool terminal, ContainerSecurity security, string? appArmorProfile)
    {
        var caps = SecurityDefaults.CapabilitiesOf(security);
        var process = new JsonObject
        {
            ["terminal"] = terminal,
            ["user"] = new JsonObject
            {
                ["uid"] = user.Uid,
                ["gid"] = user.Gid,
                ["additionalGids"] = new JsonArray(user.AdditionalGids.Select(g => (JsonNode)g).ToArray()),
                // Docker's 022: the container's processes must not inherit the agent's private umask (077).
                ["umask"] = ContainerUmask,
            },
            ["args"] = Strings(args),
            ["env"] = Strings(env.Any(e => e.StartsWith("HOME=", StringComparison.Ordinal)) ? env : [.. env, "HOME=" + user.Home]),
            ["cwd"] = cwd,
            ["capabilities"] = new JsonObject
            {
                ["bounding"] = Strings(caps),
                ["effective"] = Strings(caps),
                ["permitted"] = Strings(caps),
            },
            ["rlimits"] = Rlimits(security.Ulimits),
            ["noNewPrivileges"] = security.NoNewPrivileges ?? true,
            ["oomScoreAdj"] = 0,
        };
        if (appArmorProfile is not null)
        {
            process["apparmorProfile"] = appArmorProfile;
        }

        return process;
    }

    private static JsonArray Rlimits(IReadOnlyList<ContainerUlimit> ulimits)
    {
        var rlimits = new JsonArray();
        if (!ulimits.Any(u => u.Name == "nofile"))
        {
            // Derived from the host's hard limit: asking for more than it fails with "setrlimit: operation not permitted".
            var noFile = Math.Min(SecurityDefaults.DefaultNoFile, (long)Math.Min(Native.GetRLimit(Native.RLIMIT_NOFILE).Hard, long.MaxValue));
            rlimits.Add(new JsonObject { ["type"] = "RLIMIT_NOFILE", ["hard"] = noFile, ["soft"] = noFile });
        }

        foreach (var ulimit in ulimits)
        {
            rlimits.Add(new JsonObject
            {
                ["type"] = ContainerSecurityPolicy.Ulimits[ulimit.Name],
                ["hard"] = ContainerSecurityPolicy.Unlimited(ulimit.Hard),
                ["soft"] = ContainerSecurityPolicy.Unlimited(ulimit.Soft),
            });
        }

        return rlimits;
    }

    private static JsonArray Mounts(string? hostsPath, IReadOnlyList<TmpfsMount> tmpfs)
    {
        JsonArray mounts =
        [
            Mount("/proc", "proc", "proc", "nosuid", "noexec", "nodev"),
            Mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
            Mount("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"),
            Mount("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"),
            Mount("/sys/fs/cgroup", "cgroup", "cgroup", "ro", "nosuid", "noexec", "nodev"),
            Mount("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"),
            Mount("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"),
        ];
        if (hostsPath is not null)
        {
            // As docker does: the agent rewrites this file in place when the switch's members change.
            mounts.Add(Mount("/etc/hosts", "bind", hostsPath, "rbind", "rprivate", "nosuid", "noexec", "nodev"));
        }

        foreach (var mount in tmpfs)
        {
            // Docker's defaults (noexec, nosuid, nodev) first: the container's own flags come later and win.
            var options = new List<string> { "noexec", "nosuid", "nodev" };
            options.AddRange(mount.Options);
            options.Add("mode=" + (mount.Mode ?? "1777"));
            if (mount.SizeBytes is { } size)
            {
                options.Add("size=" + size.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            mounts.Add(Mount(mount.Path, "tmpfs", "tmpfs", [.. options]));
        }

        return mounts;
    }

    private static JsonObject Mount(string destination, string type, string source, params string[] options) => new()
    {
        ["destination"] = destination,
        ["type"] = type,
        ["source"] = source,
        ["options"] = Strings(options),
    };

    private static JsonObject Linux(OciSpecRequest request)
    {
        var namespaces = new JsonArray();
        foreach (var ns in request.CgroupNamespace ? ["pid", "network", "ipc", "uts", "mount", "cgroup"] : new[] { "pid", "network", "ipc", "uts", "mount" })
        {
            namespaces.Add(ns == "network" && request.NetworkNamespacePath is { } path
                ? new JsonObject { ["type"] = ns, ["path"] = path }
                : new JsonObject { ["type"] = ns });
        }

        var devices = new JsonArray(new JsonObject { ["allow"] = false, ["access"] = "rwm" });
        foreach (var (type, major, minor) in SecurityDefaults.AllowedDevices)
        {
            devices.Add(new JsonObject { ["allow"] = true, ["type"] = type, ["major"] = major, ["minor"] = minor, ["access"] = "rwm" });
        }

        var resources = new JsonObject
        {
            ["devices"] = devices,
            ["pids"] = new JsonObject { ["limit"] = request.Limits.PidsLimit ?? request.DefaultPidsLimit },
        };
        if (request.Limits.MemoryBytes is { } memory)
        {
            // OCI's swap is memory+swap: equal to the limit means the container gets no swap on top.
            resources["memory"] = new JsonObject { ["limit"] = memory, ["swap"] = memory };
        }

        if (request.Limits.Cpus is { } cpus)
        {
            const long period = 100_000;
            resources["cpu"] = new JsonObject { ["quota"] = (long)Math.Round(cpus * period), ["period"] = period };
        }

        return new JsonObject
        {
            ["namespaces"] = namespaces,
            ["cgroupsPath"] = request.CgroupsPath,
            ["resources"] = resources,
            ["maskedPaths"] = Strings(SecurityDefaults.MaskedPaths),
            ["readonlyPaths"] = Strings(SecurityDefaults.ReadonlyPaths),
            // Docker's rule: the syscalls a capability needs are allowed when the container holds it.
            ["seccomp"] = SeccompProfile.Build(SecurityDefaults.CapabilitiesOf(request.Security)),
        };
    }

    private static JsonArray Strings(IEnumerable<string> values) => new(values.Select(v => (JsonNode)v).ToArray());
}
