using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Portal.Contracts;

namespace Portal.Docker;

/// <summary>Turns a docker create body into the compute service's spec, refusing what this engine cannot honour with a clear 400.</summary>
internal static partial class DockerCreateMapper
{
    public static ContainerCreateSpec ToSpec(DockerCreateRequest request, string? name)
    {
        var host = request.HostConfig ?? new DockerHostConfigRequest();
        RefuseUnsupported(host);
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in request.Labels ?? new Dictionary<string, string?>())
        {
            labels[NoNul(key, "Labels")] = NoNul(value ?? "", "Labels");
        }

        if (host.AutoRemove == true)
        {
            labels[DockerEngine.AutoRemoveLabel] = "true";
        }

        var entrypoint = request.Entrypoint is { } e ? (e.Count == 1 && e[0].Length == 0 ? [] : NoNul(e, "Entrypoint")) : null;
        return new ContainerCreateSpec
        {
            Name = name is null ? null : NoNul(name, "name"),
            Image = NoNul(request.Image ?? "", "Image"),
            RuntimeType = DockerEngine.ParseIsolation(host.Isolation),
            Entrypoint = entrypoint,
            Command = request.Cmd is { Count: > 0 } cmd ? NoNul(cmd, "Cmd") : (entrypoint is null ? null : []),
            Environment = Env(request.Env, "Env"),
            WorkingDirectory = request.WorkingDir is { Length: > 0 } wd ? NoNul(wd, "WorkingDir") : null,
            User = request.User is { Length: > 0 } user ? NoNul(user, "User") : null,
            Tty = request.Tty ?? false,
            OpenStdin = request.OpenStdin ?? false,
            Limits = DockerLogOptions.Apply(
                new ContainerLimits
                {
                    MemoryBytes = Positive(host.Memory, "Memory"),
                    Cpus = Cpus(host),
                    PidsLimit = host.PidsLimit is > 0 ? host.PidsLimit : null,
                },
                host.LogConfig),
            Labels = labels,
            SwitchName = Network(host.NetworkMode),
            Ports = Ports(host.PortBindings),
            Security = Security(host),
        };
    }

    /// <summary>--cap-add/--cap-drop, --read-only, --security-opt, --ulimit, --tmpfs: checked in depth by the compute service, which says what the isolation cannot honour.</summary>
    private static ContainerSecurity Security(DockerHostConfigRequest host)
    {
        bool? noNewPrivileges = null;
        string? appArmor = null;
        foreach (var option in host.SecurityOpt ?? [])
        {
            var (key, value) = SecurityOption(option);
            switch (key)
            {
                case "no-new-privileges":
                    noNewPrivileges = value switch
                    {
                        null or "true" => true,
                        "false" => false,
                        _ => throw DockerApiException.BadParameter($"invalid --security-opt \"{Shown(option!)}\": no-new-privileges takes true or false"),
                    };
                    break;
                case "apparmor":
                    appArmor = string.IsNullOrEmpty(value) ? throw DockerApiException.BadParameter("invalid --security-opt apparmor: give a profile name, apparmor=PROFILE") : value;
                    break;
                case "seccomp":
                    throw DockerApiException.BadParameter(value == "unconfined"
                        ? "--security-opt seccomp=unconfined is not allowed by this engine: process-isolated containers always run under Docker's default seccomp profile; use --isolation=hyperv for a container that needs the system calls it blocks"
                        : "custom seccomp profiles (--security-opt seccomp=...) are not supported by this engine: containers run under Docker's default profile");
                case "label":
                    throw DockerApiException.BadParameter("SELinux labels (--security-opt label=...) are not supported by this engine");
                case "systempaths":
                    throw DockerApiException.BadParameter("--security-opt systempaths=unconfined is not allowed by this engine: /proc and /sys paths stay masked");
                default:
                    throw DockerApiException.BadParameter($"unknown --security-opt \"{Shown(option!)}\": this engine supports no-new-privileges[:true] and apparmor=PROFILE");
            }
        }

        return new ContainerSecurity
        {
            CapabilityAdd = Strings(host.CapAdd, "CapAdd"),
            CapabilityDrop = Strings(host.CapDrop, "CapDrop"),
            ReadOnlyRootFilesystem = host.ReadonlyRootfs ?? false,
            NoNewPrivileges = noNewPrivileges,
            AppArmorProfile = appArmor,
            Ulimits = (host.Ulimits ?? []).Select(u => u is { Name: { Length: > 0 } name, Soft: { } soft, Hard: { } hard }
                ? new ContainerUlimit { Name = NoNul(name, "Ulimits"), Soft = soft, Hard = hard }
                : throw DockerApiException.BadParameter("invalid Ulimits entry: each needs Name, Soft and Hard, as --ulimit nofile=1024:2048 sends")).ToList(),
            Tmpfs = (host.Tmpfs ?? new Dictionary<string, string?>()).Select(t => Tmpfs(t.Key, t.Value ?? "")).ToList(),
        };
    }

    /// <summary>dockerd accepts both "key=value" and the older "key:value".</summary>
    private static (string Key, string? Value) SecurityOption(string? option)
    {
        if (string.IsNullOrEmpty(option))
        {
            throw DockerApiException.BadParameter("invalid --security-opt: an empty option");
        }

        NoNul(option, "SecurityOpt");
        var at = option.IndexOfAny(['=', ':']);
        return at < 0 ? (option, null) : (option[..at], option[(at + 1)..]);
    }

    /// <summary>--tmpfs /run:size=64m,mode=1777,noexec: size and mode become fields, the rest stay flags the compute service checks.</summary>
    private static TmpfsMount Tmpfs(string path, string options)
    {
        long? size = null;
        string? mode = null;
        var flags = new List<string>();
        foreach (var option in options.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (option.StartsWith("size=", StringComparison.Ordinal))
            {
                size = RamBytes(option[5..]) ?? throw DockerApiException.BadParameter($"invalid tmpfs size \"{Shown(option[5..])}\" for {Shown(path)}: use a number with an optional unit, such as 64m or 1g");
            }
            else if (option.StartsWith("mode=", StringComparison.Ordinal))
            {
                mode = option[5..];
            }
            else
            {
                flags.Add(option);
            }
        }

        return new TmpfsMount { Path = NoNul(path, "Tmpfs"), SizeBytes = size, Mode = mode is null ? null : NoNul(mode, "Tmpfs"), Options = NoNul(flags, "Tmpfs") };
    }

    /// <summary>docker's RAMInBytes: a number with an optional binary unit (k, m, g, t, p; then an optional i and b; case ignored).</summary>
    internal static long? RamBytes(string text)
    {
        var match = RamSize().Match(text);
        if (!match.Success || !decimal.TryParse(match.Groups[1].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
        {
            return null;
        }

        var shift = match.Groups[2].Value.ToLowerInvariant() switch { "k" => 10, "m" => 20, "g" => 30, "t" => 40, "p" => 50, _ => 0 };
        if (value <= 0 || value > long.MaxValue >> shift)
        {
            return null; // 18 digits of petabytes would overflow even a decimal
        }

        return (long)(value * (1L << shift));
    }

    [GeneratedRegex(@"^(\d{1,18}(?:\.\d{1,9})?) ?([kKmMgGtTpP])?[iI]?[bB]?$")]
    private static partial Regex RamSize();

    private static IReadOnlyList<string> Strings(IReadOnlyList<string?>? values, string field) =>
        (values ?? []).Select(v => v is null ? throw DockerApiException.BadParameter($"invalid {field}: entries must be strings, not null") : NoNul(v, field)).ToList();

    private static string Shown(string value) => value.Length > 64 ? value[..64] + "..." : value;

    /// <summary>--network: a switch name; "default" (or none given) is the host's default switch.</summary>
    private static string? Network(string? mode) => mode switch
    {
        null or "" or "default" => null,
        "host" => throw DockerApiException.BadParameter("--network host is not supported by this engine: containers get their own network; publish ports with -p"),
        _ when mode.StartsWith("container:", StringComparison.Ordinal) => throw DockerApiException.BadParameter("--network container:... is not supported by this engine"),
        _ => NoNul(mode, "NetworkMode"),
    };

    /// <summary>-p: {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}; an empty host port picks a free one.</summary>
    private static IReadOnlyList<PortMapping> Ports(JsonElement? bindings)
    {
        if (bindings is not { ValueKind: JsonValueKind.Object } map)
        {
            return [];
        }

        var ports = new List<PortMapping>();
        foreach (var binding in map.EnumerateObject())
        {
            var parts = binding.Name.Split('/');
            if (parts.Length > 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var containerPort))
            {
                throw DockerApiException.BadParameter($"invalid port \"{binding.Name}\": use PORT or PORT/tcp");
            }

            var protocol = parts.Length == 2 ? parts[1] : "tcp";
            var hosts = binding.Value.ValueKind == JsonValueKind.Array ? binding.Value.EnumerateArray().ToList() : [];
            if (hosts.Count == 0)
            {
                ports.Add(new PortMapping { ContainerPort = containerPort, Protocol = protocol });
            }

            foreach (var host in hosts)
            {
                var hostIp = host.TryGetProperty("HostIp", out var ip) && ip.ValueKind == JsonValueKind.String ? ip.GetString() : null;
                var hostPortText = host.TryGetProperty("HostPort", out var hp) && hp.ValueKind == JsonValueKind.String ? hp.GetString() : null;
                var hostPort = 0;
                if (!string.IsNullOrEmpty(hostPortText) && !int.TryParse(hostPortText, NumberStyles.None, CultureInfo.InvariantCulture, out hostPort))
                {
                    throw DockerApiException.BadParameter($"invalid host port \"{hostPortText}\" for {binding.Name}: port ranges are not supported, give one port");
                }

                ports.Add(new PortMapping { HostIp = string.IsNullOrEmpty(hostIp) || hostIp == "0.0.0.0" ? null : hostIp, HostPort = hostPort, ContainerPort = containerPort, Protocol = protocol });
            }
        }

        return ports;
    }

    public static IReadOnlyList<string> Env(IReadOnlyList<string?>? env, string field)
    {
        if (env is null)
        {
            return [];
        }

        var list = new List<string>(env.Count);
        foreach (var entry in env)
        {
            if (entry is null)
            {
                throw DockerApiException.BadParameter($"invalid {field}: entries must be strings of the form NAME=value, not null");
            }

            list.Add(NoNul(entry, field));
        }

        return list;
    }

    public static IReadOnlyList<string> NoNul(IReadOnlyList<string> values, string field)
    {
        foreach (var value in values)
        {
            NoNul(value, field);
        }

        return values;
    }

    public static string NoNul(string value, string field) => value.Contains('\0')
        ? throw DockerApiException.BadParameter($"invalid {field}: it contains a NUL character")
        : value;

    private static long? Positive(long? value, string field) => value switch
    {
        null or 0 => null,
        < 0 => throw DockerApiException.BadParameter($"invalid {field}: {value.Value.ToString(CultureInfo.InvariantCulture)} is negative"),
        _ => value,
    };

    private static double? Cpus(DockerHostConfigRequest host)
    {
        if (Positive(host.NanoCpus, "NanoCpus") is { } nano)
        {
            if (host.CpuQuota is > 0)
            {
                throw DockerApiException.BadParameter("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
            }

            return nano / 1e9;
        }

        return Positive(host.CpuQuota, "CpuQuota") is { } quota && (Positive(host.CpuPeriod, "CpuPeriod") ?? 100_000) is var period
            ? (double)quota / period
            : null;
    }

    private static void RefuseUnsupported(DockerHostConfigRequest host)
    {
        if (host.Binds is { Count: > 0 } || IsNonEmpty(host.Mounts))
        {
            throw DockerApiException.BadParameter("bind mounts and volumes (-v, --mount) are not supported by this engine");
        }

        if (host.PublishAllPorts == true)
        {
            throw DockerApiException.BadParameter("publishing all exposed ports (-P) is not supported by this engine: publish each port with -p HOSTPORT:PORT");
        }

        if (host.Privileged == true)
        {
            throw DockerApiException.BadParameter("privileged containers (--privileged) are not supported by this engine: add the capabilities a container needs with --cap-add, or run it with --isolation=hyperv (without --privileged), where it holds every capability inside its own VM");
        }

        if (IsNonEmpty(host.Devices) || IsNonEmpty(host.DeviceCgroupRules))
        {
            throw DockerApiException.BadParameter("host devices (--device, --device-cgroup-rule) are not supported by this engine: containers see only /dev/null, zero, full, random, urandom, tty, console, ptmx, pts and tun");
        }

        if (IsNonEmpty(host.DeviceRequests))
        {
            throw DockerApiException.BadParameter("device requests (--gpus) are not supported by this engine");
        }

        Namespace(host.PidMode, "--pid", "a PID namespace", ["private"]);
        Namespace(host.IpcMode, "--ipc", "an IPC namespace", ["private", "shareable"]);
        Namespace(host.UTSMode, "--uts", "a UTS namespace", []);
        Namespace(host.CgroupnsMode, "--cgroupns", "a cgroup namespace", ["private"]);
        if (!string.IsNullOrEmpty(host.UsernsMode))
        {
            throw DockerApiException.BadParameter($"--userns {Shown(host.UsernsMode)} is not supported by this engine: containers run without user namespace remapping (root in a process-isolated container is confined by capabilities, seccomp and namespaces; use --isolation=hyperv for a kernel of its own)");
        }

        if (IsNonEmpty(host.Sysctls))
        {
            throw DockerApiException.BadParameter("--sysctl is not supported by this engine");
        }

        if (!string.IsNullOrEmpty(host.CgroupParent))
        {
            throw DockerApiException.BadParameter("--cgroup-parent is not supported by this engine: the agent places every container under its own cgroup");
        }

        if (host.MaskedPaths is { ValueKind: not JsonValueKind.Null } || host.ReadonlyPaths is { ValueKind: not JsonValueKind.Null })
        {
            throw DockerApiException.BadParameter("MaskedPaths and ReadonlyPaths are fixed by this engine (Docker's defaults)");
        }

        if (host.OomKillDisable == true)
        {
            throw DockerApiException.BadParameter("--oom-kill-disable is not supported by this engine");
        }

        if (host.ShmSize is > 0 and not (64L << 20))
        {
            throw DockerApiException.BadParameter("--shm-size is not supported by this engine: /dev/shm is 64 MiB");
        }
    }

    /// <summary>Every container gets its own namespaces: "host" or "container:NAME" (sharing) is refused.</summary>
    private static void Namespace(string? mode, string flag, string what, string[] allowed)
    {
        if (!string.IsNullOrEmpty(mode) && !allowed.Contains(mode))
        {
            throw DockerApiException.BadParameter($"{flag} {Shown(mode)} is not supported by this engine: every container gets {what} of its own");
        }
    }

    private static bool IsNonEmpty(JsonElement? element) => element switch
    {
        { ValueKind: JsonValueKind.Array } a => a.GetArrayLength() > 0,
        { ValueKind: JsonValueKind.Object } o => o.EnumerateObject().Any(),
        _ => false,
    };
}
