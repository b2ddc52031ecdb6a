using System.Globalization;
using System.Text.Json;
using Portal.Contracts;

namespace Portal.Docker;

/// <summary>Turns a docker create body into the compute service's spec, refusing what this engine cannot honour with a clear 400.</summary>
internal static class DockerCreateMapper
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
        };
    }

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
            throw DockerApiException.BadParameter("privileged containers are not supported by this engine");
        }
    }

    private static bool IsNonEmpty(JsonElement? element) => element switch
    {
        { ValueKind: JsonValueKind.Array } a => a.GetArrayLength() > 0,
        { ValueKind: JsonValueKind.Object } o => o.EnumerateObject().Any(),
        _ => false,
    };
}
