using System.Globalization;
using System.Text.Json;
using Portal.Contracts;

namespace Portal.Agent.Docker;

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
            Limits = new ContainerLimits
            {
                MemoryBytes = Positive(host.Memory, "Memory"),
                Cpus = Cpus(host),
                PidsLimit = host.PidsLimit is > 0 ? host.PidsLimit : null,
            },
            Labels = labels,
        };
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

        if (IsNonEmpty(host.PortBindings))
        {
            throw DockerApiException.BadParameter("publishing ports (-p) is not supported by this engine");
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
