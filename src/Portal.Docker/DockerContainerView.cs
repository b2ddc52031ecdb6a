using Portal.Contracts;

namespace Portal.Docker;

/// <summary>A container as docker shows it: list rows and the inspect document.</summary>
internal static class DockerContainerView
{
    public static IReadOnlyDictionary<string, string> UserLabels(ContainerInfo c) =>
        c.Labels.Where(l => !l.Key.StartsWith("io.portal.docker.", StringComparison.Ordinal)).ToDictionary(l => l.Key, l => l.Value);

    public static bool AutoRemove(ContainerInfo c) => c.Labels.TryGetValue(DockerEngine.AutoRemoveLabel, out var v) && v == "true";

    public static DockerContainerSummary Summary(ContainerInfo c, DateTimeOffset now)
    {
        var labels = new Dictionary<string, string>(UserLabels(c)) { [DockerEngine.IsolationLabel] = DockerEngine.IsolationName(c.RuntimeType) };
        return new DockerContainerSummary
        {
            Id = c.Id,
            Names = ["/" + c.Name],
            Image = c.Image,
            ImageID = c.ImageId,
            Command = DockerFormat.CommandLine(c.Command),
            Created = c.CreatedAt.ToUnixTimeSeconds(),
            Labels = labels,
            State = DockerFormat.State(c.State),
            Status = DockerFormat.Status(c, now),
            HostConfig = new DockerSummaryHostConfig(c.SwitchName, DockerEngine.IsolationName(c.RuntimeType)),
            Ports = c.Ports.Select(p => new DockerPort(p.HostIp ?? "0.0.0.0", p.ContainerPort, p.HostPort, p.Protocol)).ToList(),
            NetworkSettings = NetworkSettings(c, null),
        };
    }

    private static IReadOnlyList<string>? SecurityOpt(ContainerSecurity security)
    {
        var options = new List<string>();
        if (security.NoNewPrivileges is { } nnp)
        {
            options.Add(nnp ? "no-new-privileges" : "no-new-privileges:false");
        }

        if (security.AppArmorProfile is { } profile)
        {
            options.Add("apparmor=" + profile);
        }

        return options.Count > 0 ? options : null;
    }

    private static string TmpfsOptions(TmpfsMount mount)
    {
        var options = new List<string>(mount.Options);
        if (mount.SizeBytes is { } size)
        {
            options.Add("size=" + size.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        if (mount.Mode is { } mode)
        {
            options.Add("mode=" + mode);
        }

        return string.Join(',', options);
    }

    /// <summary>The container's place on its switch as docker shows it (gateway and prefix need the switch).</summary>
    public static DockerNetworkSettings NetworkSettings(ContainerInfo c, SwitchInfo? sw)
    {
        var prefix = sw?.Subnet is { } subnet && int.TryParse(subnet.AsSpan(subnet.IndexOf('/', StringComparison.Ordinal) + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var p) ? p : 0;
        var endpoint = new DockerEndpointSettings
        {
            NetworkID = c.SwitchId ?? "none",
            EndpointID = c.IpAddress is null ? "" : c.Id,
            Gateway = sw?.Gateway ?? "",
            IPAddress = c.IpAddress ?? "",
            IPPrefixLen = prefix,
            MacAddress = c.MacAddress ?? "",
        };
        return new DockerNetworkSettings
        {
            Networks = new Dictionary<string, DockerEndpointSettings> { [c.SwitchName] = endpoint },
            Ports = c.Ports.GroupBy(p => $"{p.ContainerPort}/{p.Protocol}").ToDictionary(g => g.Key, g => (IReadOnlyList<DockerPortBinding>?)g.Select(p => new DockerPortBinding(p.HostIp ?? "0.0.0.0", p.HostPort.ToString(System.Globalization.CultureInfo.InvariantCulture))).ToList()),
            IPAddress = endpoint.IPAddress,
            Gateway = endpoint.Gateway,
            IPPrefixLen = endpoint.IPPrefixLen,
            MacAddress = endpoint.MacAddress,
        };
    }

    public static DockerContainerInspect Inspect(ContainerInfo c, SwitchInfo? sw)
    {
        var running = c.State is ContainerState.Running or ContainerState.Stopping;
        return new DockerContainerInspect
        {
            Id = c.Id,
            Created = DockerFormat.Time(c.CreatedAt),
            Path = c.Command.Count > 0 ? c.Command[0] : "",
            Args = c.Command.Skip(1).ToList(),
            State = new DockerContainerState
            {
                Status = DockerFormat.State(c.State),
                Running = running,
                Pid = running ? c.HostPid ?? 0 : 0,
                ExitCode = c.ExitCode ?? 0,
                Error = c.State == ContainerState.Stopped && c.StopReason is { } reason && !reason.StartsWith("stopped by request", StringComparison.Ordinal) && !reason.StartsWith("terminated by request", StringComparison.Ordinal) ? reason : "",
                StartedAt = DockerFormat.Time(c.StartedAt),
                FinishedAt = DockerFormat.Time(c.FinishedAt),
            },
            Image = c.ImageId,
            Name = "/" + c.Name,
            HostConfig = new DockerContainerHostConfig
            {
                Isolation = DockerEngine.IsolationName(c.RuntimeType),
                Memory = c.Limits.MemoryBytes ?? 0,
                NanoCpus = c.Limits.Cpus is { } cpus ? (long)Math.Round(cpus * 1e9) : 0,
                PidsLimit = c.Limits.PidsLimit,
                AutoRemove = AutoRemove(c),
                NetworkMode = c.SwitchName,
                LogConfig = LogConfig(c.Limits),
                PortBindings = c.Ports.GroupBy(p => $"{p.ContainerPort}/{p.Protocol}").ToDictionary(g => g.Key, g => (IReadOnlyList<DockerPortBinding>)g.Select(p => new DockerPortBinding(p.HostIp ?? "", p.HostPort.ToString(System.Globalization.CultureInfo.InvariantCulture))).ToList()),
                CapAdd = c.Security.CapabilityAdd.Count > 0 ? c.Security.CapabilityAdd : null,
                CapDrop = c.Security.CapabilityDrop.Count > 0 ? c.Security.CapabilityDrop : null,
                ReadonlyRootfs = c.Security.ReadOnlyRootFilesystem,
                SecurityOpt = SecurityOpt(c.Security),
                Ulimits = c.Security.Ulimits.Count > 0 ? c.Security.Ulimits.Select(u => new DockerUlimit { Name = u.Name, Soft = u.Soft, Hard = u.Hard }).ToList() : null,
                Tmpfs = c.Security.Tmpfs.Count > 0 ? c.Security.Tmpfs.ToDictionary(t => t.Path, TmpfsOptions) : null,
            },
            NetworkSettings = NetworkSettings(c, sw),
            Config = new DockerContainerConfig
            {
                Hostname = c.Environment.FirstOrDefault(e => e.StartsWith("HOSTNAME=", StringComparison.Ordinal))?["HOSTNAME=".Length..] ?? c.Name,
                User = c.User ?? "",
                Tty = c.Tty,
                OpenStdin = c.OpenStdin,
                AttachStdin = c.OpenStdin,
                Env = c.Environment,
                Cmd = c.Command,
                Image = c.Image,
                WorkingDir = c.WorkingDirectory ?? "",
                Labels = UserLabels(c),
            },
        };
    }

    /// <summary>The log's rotation as docker shows it: json-file with max-size and max-file when the container set them.</summary>
    private static DockerLogConfig LogConfig(ContainerLimits limits)
    {
        if (limits is { LogMaxBytes: DockerLogOptions.NoneMaxBytes, LogMaxFiles: 1 })
        {
            return new DockerLogConfig("none", new Dictionary<string, string>());
        }

        var config = new Dictionary<string, string>();
        if (limits.LogMaxBytes is { } size)
        {
            config["max-size"] = size.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        if (limits.LogMaxFiles is { } files)
        {
            config["max-file"] = files.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return new DockerLogConfig("json-file", config);
    }
}
