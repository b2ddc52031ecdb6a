using System.Text.Json;
using System.Text.Json.Serialization;

namespace Portal.Docker;

/// <summary>The body of POST /containers/create (the fields this engine reads; others are ignored as dockerd ignores unknown ones).</summary>
public sealed record DockerCreateRequest
{
    public string? Hostname { get; init; }
    public string? User { get; init; }
    public bool? AttachStdin { get; init; }
    public bool? Tty { get; init; }
    public bool? OpenStdin { get; init; }
    public IReadOnlyList<string?>? Env { get; init; }

    [JsonConverter(typeof(DockerStringListConverter))]
    public IReadOnlyList<string>? Cmd { get; init; }

    [JsonConverter(typeof(DockerStringListConverter))]
    public IReadOnlyList<string>? Entrypoint { get; init; }

    public string? Image { get; init; }
    public string? WorkingDir { get; init; }
    public IReadOnlyDictionary<string, string?>? Labels { get; init; }
    public DockerHostConfigRequest? HostConfig { get; init; }
}

public sealed record DockerHostConfigRequest
{
    public long? Memory { get; init; }
    public long? NanoCpus { get; init; }
    public long? CpuQuota { get; init; }
    public long? CpuPeriod { get; init; }
    public long? PidsLimit { get; init; }
    public string? Isolation { get; init; }
    public bool? AutoRemove { get; init; }
    public bool? Privileged { get; init; }
    public IReadOnlyList<string?>? Binds { get; init; }
    public JsonElement? Mounts { get; init; }
    public JsonElement? PortBindings { get; init; }
    public string? NetworkMode { get; init; }
    public bool? PublishAllPorts { get; init; }

    // Security: honoured through ContainerSecurity, or refused with 400 (never ignored).
    public IReadOnlyList<string?>? CapAdd { get; init; }
    public IReadOnlyList<string?>? CapDrop { get; init; }
    public bool? ReadonlyRootfs { get; init; }
    public IReadOnlyList<string?>? SecurityOpt { get; init; }
    public IReadOnlyList<DockerUlimit?>? Ulimits { get; init; }
    public IReadOnlyDictionary<string, string?>? Tmpfs { get; init; }

    // Refused when set: this engine gives every container its own namespaces and no host devices.
    public JsonElement? Devices { get; init; }
    public JsonElement? DeviceCgroupRules { get; init; }
    public JsonElement? DeviceRequests { get; init; }
    public string? PidMode { get; init; }
    public string? UsernsMode { get; init; }
    public string? IpcMode { get; init; }
    public string? UTSMode { get; init; }
    public string? CgroupnsMode { get; init; }
    public JsonElement? Sysctls { get; init; }
    public string? CgroupParent { get; init; }
    public JsonElement? MaskedPaths { get; init; }
    public JsonElement? ReadonlyPaths { get; init; }
    public bool? OomKillDisable { get; init; }
    public long? ShmSize { get; init; }

    public DockerLogConfigRequest? LogConfig { get; init; }
}

/// <summary>One --ulimit: {"Name": "nofile", "Soft": 1024, "Hard": 2048}.</summary>
public sealed record DockerUlimit
{
    public string? Name { get; init; }
    public long? Hard { get; init; }
    public long? Soft { get; init; }
}

/// <summary>--log-driver and --log-opt.</summary>
public sealed record DockerLogConfigRequest
{
    public string? Type { get; init; }
    public IReadOnlyDictionary<string, string?>? Config { get; init; }
}

/// <summary>The body of POST /containers/{id}/exec.</summary>
public sealed record DockerExecCreateRequest
{
    public bool? AttachStdin { get; init; }
    public bool? AttachStdout { get; init; }
    public bool? AttachStderr { get; init; }
    public bool? Tty { get; init; }
    public bool? Privileged { get; init; }
    public string? DetachKeys { get; init; }
    public IReadOnlyList<string?>? Env { get; init; }

    [JsonConverter(typeof(DockerStringListConverter))]
    public IReadOnlyList<string>? Cmd { get; init; }

    public string? WorkingDir { get; init; }
    public string? User { get; init; }

    /// <summary>[height, width] of the terminal.</summary>
    public IReadOnlyList<int>? ConsoleSize { get; init; }
}

/// <summary>The body of POST /exec/{id}/start.</summary>
public sealed record DockerExecStartRequest
{
    public bool? Detach { get; init; }
    public bool? Tty { get; init; }
    public IReadOnlyList<int>? ConsoleSize { get; init; }
}
