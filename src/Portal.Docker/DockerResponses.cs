using System.Text.Json.Serialization;

namespace Portal.Docker;

// The response shapes of the Docker Engine API (v1.50) this engine fills: the fields the docker CLI and SDKs read.
// Names are dockerd's, so the records serialize without a naming policy.

public sealed record DockerIdResponse(string Id, IReadOnlyList<string> Warnings);

public sealed record DockerWaitResponse(long StatusCode, DockerWaitError? Error);

public sealed record DockerWaitError(string Message);

public sealed record DockerVersionResponse
{
    public required DockerPlatform Platform { get; init; }
    public required IReadOnlyList<DockerComponent> Components { get; init; }
    public required string Version { get; init; }
    public required string ApiVersion { get; init; }
    public required string MinAPIVersion { get; init; }
    public required string GitCommit { get; init; }
    public required string GoVersion { get; init; }
    public required string Os { get; init; }
    public required string Arch { get; init; }
    public required string KernelVersion { get; init; }
    public required string BuildTime { get; init; }
    public bool Experimental { get; init; }
}

public sealed record DockerPlatform(string Name);

public sealed record DockerComponent(string Name, string Version, IReadOnlyDictionary<string, string> Details);

public sealed record DockerRuntime([property: JsonPropertyName("path")] string Path);

public sealed record DockerInfoResponse
{
    public required string ID { get; init; }
    public required int Containers { get; init; }
    public required int ContainersRunning { get; init; }
    public int ContainersPaused { get; init; }
    public required int ContainersStopped { get; init; }
    public required int Images { get; init; }
    public required string Driver { get; init; }
    public IReadOnlyList<IReadOnlyList<string>> DriverStatus { get; init; } = [];
    public required DockerPlugins Plugins { get; init; }
    public bool MemoryLimit { get; init; } = true;
    public bool SwapLimit { get; init; }
    public bool CpuCfsPeriod { get; init; } = true;
    public bool CpuCfsQuota { get; init; } = true;
    public bool PidsLimit { get; init; } = true;
    public bool IPv4Forwarding { get; init; }
    public bool Debug { get; init; }
    public int NFd { get; init; }
    public int NGoroutines { get; init; }
    public required string SystemTime { get; init; }
    public string LoggingDriver { get; init; } = "json-file";
    public required string CgroupDriver { get; init; }
    public required string CgroupVersion { get; init; }
    public int NEventsListener { get; init; }
    public required string KernelVersion { get; init; }
    public required string OperatingSystem { get; init; }
    public required string OSVersion { get; init; }
    public string OSType { get; init; } = "linux";
    public required string Architecture { get; init; }
    public required string IndexServerAddress { get; init; }
    public required int NCPU { get; init; }
    public required long MemTotal { get; init; }
    public required string DockerRootDir { get; init; }
    public required string Name { get; init; }
    public IReadOnlyList<string> Labels { get; init; } = [];
    public bool ExperimentalBuild { get; init; }
    public required string ServerVersion { get; init; }
    public required IReadOnlyDictionary<string, DockerRuntime> Runtimes { get; init; }
    public required string DefaultRuntime { get; init; }
    public required DockerSwarm Swarm { get; init; }
    public bool LiveRestoreEnabled { get; init; } = true;

    /// <summary>The host's default isolation for containers that ask for none ("process" or "hyperv").</summary>
    public required string Isolation { get; init; }

    /// <summary>Every isolation this host can run now.</summary>
    public required IReadOnlyList<string> Isolations { get; init; }

    public string InitBinary { get; init; } = "";
    public required DockerCommit ContainerdCommit { get; init; }
    public required DockerCommit RuncCommit { get; init; }
    public required DockerCommit InitCommit { get; init; }
    public IReadOnlyList<string> SecurityOptions { get; init; } = ["name=seccomp,profile=builtin", "name=cgroupns"];
    public IReadOnlyList<string> Warnings { get; init; } = [];
}

public sealed record DockerPlugins(IReadOnlyList<string> Volume, IReadOnlyList<string> Network, IReadOnlyList<string> Authorization, IReadOnlyList<string> Log);

public sealed record DockerSwarm(string NodeID, string NodeAddr, string LocalNodeState, bool ControlAvailable, string Error);

public sealed record DockerCommit(string ID);

public sealed record DockerContainerSummary
{
    public required string Id { get; init; }
    public required IReadOnlyList<string> Names { get; init; }
    public required string Image { get; init; }
    public required string ImageID { get; init; }
    public required string Command { get; init; }
    public required long Created { get; init; }
    public IReadOnlyList<object> Ports { get; init; } = [];
    public required IReadOnlyDictionary<string, string> Labels { get; init; }
    public required string State { get; init; }
    public required string Status { get; init; }
    public required DockerSummaryHostConfig HostConfig { get; init; }
    public DockerNetworkSettings NetworkSettings { get; init; } = new();
    public IReadOnlyList<object> Mounts { get; init; } = [];
}

public sealed record DockerSummaryHostConfig(string NetworkMode, string Isolation);

public sealed record DockerNetworkSettings
{
    public IReadOnlyDictionary<string, DockerEndpointSettings> Networks { get; init; } = new Dictionary<string, DockerEndpointSettings>();
    public IReadOnlyDictionary<string, IReadOnlyList<DockerPortBinding>?> Ports { get; init; } = new Dictionary<string, IReadOnlyList<DockerPortBinding>?>();
    public string IPAddress { get; init; } = "";
    public string Gateway { get; init; } = "";
    public int IPPrefixLen { get; init; }
    public string MacAddress { get; init; } = "";
}

public sealed record DockerEndpointSettings
{
    public required string NetworkID { get; init; }
    public required string EndpointID { get; init; }
    public required string Gateway { get; init; }
    public required string IPAddress { get; init; }
    public required int IPPrefixLen { get; init; }
    public required string MacAddress { get; init; }
}

public sealed record DockerPortBinding(string HostIp, string HostPort);

/// <summary>A published port in a docker ps row.</summary>
public sealed record DockerPort(string IP, int PrivatePort, int PublicPort, string Type);

public sealed record DockerContainerInspect
{
    public required string Id { get; init; }
    public required string Created { get; init; }
    public required string Path { get; init; }
    public required IReadOnlyList<string> Args { get; init; }
    public required DockerContainerState State { get; init; }
    public required string Image { get; init; }
    public string ResolvConfPath { get; init; } = "";
    public string HostnamePath { get; init; } = "";
    public string HostsPath { get; init; } = "";
    public string LogPath { get; init; } = "";
    public required string Name { get; init; }
    public int RestartCount { get; init; }
    public string Driver { get; init; } = "erofs+ext4";
    public string Platform { get; init; } = "linux";
    public string MountLabel { get; init; } = "";
    public string ProcessLabel { get; init; } = "";
    public string AppArmorProfile { get; init; } = "";
    public required DockerContainerHostConfig HostConfig { get; init; }
    public IReadOnlyList<object> Mounts { get; init; } = [];
    public required DockerContainerConfig Config { get; init; }
    public DockerNetworkSettings NetworkSettings { get; init; } = new();
}

public sealed record DockerContainerState
{
    public required string Status { get; init; }
    public required bool Running { get; init; }
    public bool Paused { get; init; }
    public bool Restarting { get; init; }
    public bool OOMKilled { get; init; }
    public bool Dead { get; init; }
    public required int Pid { get; init; }
    public required int ExitCode { get; init; }
    public required string Error { get; init; }
    public required string StartedAt { get; init; }
    public required string FinishedAt { get; init; }
}

public sealed record DockerContainerConfig
{
    public required string Hostname { get; init; }
    public string Domainname { get; init; } = "";
    public required string User { get; init; }
    public bool AttachStdin { get; init; }
    public bool AttachStdout { get; init; }
    public bool AttachStderr { get; init; }
    public required bool Tty { get; init; }
    public required bool OpenStdin { get; init; }
    public bool StdinOnce { get; init; }
    public required IReadOnlyList<string> Env { get; init; }
    public required IReadOnlyList<string> Cmd { get; init; }
    public required string Image { get; init; }
    public required string WorkingDir { get; init; }
    public IReadOnlyList<string>? Entrypoint { get; init; }
    public required IReadOnlyDictionary<string, string> Labels { get; init; }
}

public sealed record DockerContainerHostConfig
{
    public required string Isolation { get; init; }
    public required long Memory { get; init; }
    public required long NanoCpus { get; init; }
    public required long? PidsLimit { get; init; }
    public required bool AutoRemove { get; init; }
    public string NetworkMode { get; init; } = "none";
    public IReadOnlyDictionary<string, IReadOnlyList<DockerPortBinding>> PortBindings { get; init; } = new Dictionary<string, IReadOnlyList<DockerPortBinding>>();
    public DockerRestartPolicy RestartPolicy { get; init; } = new("no", 0);
    public DockerLogConfig LogConfig { get; init; } = new("json-file", new Dictionary<string, string>());
    public bool Privileged { get; init; }
    public string Runtime { get; init; } = "";
    public IReadOnlyList<string>? CapAdd { get; init; }
    public IReadOnlyList<string>? CapDrop { get; init; }
    public bool ReadonlyRootfs { get; init; }
    public IReadOnlyList<string>? SecurityOpt { get; init; }
    public IReadOnlyList<DockerUlimit>? Ulimits { get; init; }
    public IReadOnlyDictionary<string, string>? Tmpfs { get; init; }
}

public sealed record DockerRestartPolicy(string Name, int MaximumRetryCount);

public sealed record DockerLogConfig(string Type, IReadOnlyDictionary<string, string> Config);

public sealed record DockerTopResponse(IReadOnlyList<string> Titles, IReadOnlyList<IReadOnlyList<string>> Processes);

public sealed record DockerExecInspect
{
    public required string ID { get; init; }
    public required bool Running { get; init; }
    public required int? ExitCode { get; init; }
    public required DockerExecProcessConfig ProcessConfig { get; init; }
    public required bool OpenStdin { get; init; }
    public required bool OpenStderr { get; init; }
    public required bool OpenStdout { get; init; }
    public bool CanRemove { get; init; }
    public required string ContainerID { get; init; }
    public string DetachKeys { get; init; } = "";
    public required int Pid { get; init; }
}

public sealed record DockerExecProcessConfig
{
    [JsonPropertyName("tty")]
    public required bool Tty { get; init; }

    [JsonPropertyName("entrypoint")]
    public required string Entrypoint { get; init; }

    [JsonPropertyName("arguments")]
    public required IReadOnlyList<string> Arguments { get; init; }

    [JsonPropertyName("privileged")]
    public bool Privileged { get; init; }

    [JsonPropertyName("user")]
    public string User { get; init; } = "";
}

public sealed record DockerImageSummary
{
    public required string Id { get; init; }
    public string ParentId { get; init; } = "";
    public required IReadOnlyList<string> RepoTags { get; init; }
    public IReadOnlyList<string> RepoDigests { get; init; } = [];
    public required long Created { get; init; }
    public required long Size { get; init; }
    public long SharedSize { get; init; } = -1;
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    public required int Containers { get; init; }
}

public sealed record DockerImageInspect
{
    public required string Id { get; init; }
    public required IReadOnlyList<string> RepoTags { get; init; }
    public IReadOnlyList<string> RepoDigests { get; init; } = [];
    public string Parent { get; init; } = "";
    public string Comment { get; init; } = "";
    public required string Created { get; init; }
    public required DockerImageConfig Config { get; init; }
    public string Architecture { get; init; } = "amd64";
    public string Os { get; init; } = "linux";
    public required long Size { get; init; }
    public required DockerRootFs RootFS { get; init; }
}

public sealed record DockerImageConfig
{
    public required IReadOnlyList<string> Cmd { get; init; }
    public required IReadOnlyList<string>? Entrypoint { get; init; }
    public required IReadOnlyList<string> Env { get; init; }
    public required string WorkingDir { get; init; }
    public required string User { get; init; }
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
}

public sealed record DockerRootFs(string Type, IReadOnlyList<string> Layers);

/// <summary>One entry of DELETE /images/{name}: either Untagged or Deleted.</summary>
public sealed record DockerImageDeleteItem
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Untagged { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Deleted { get; init; }
}

/// <summary>A line of a docker progress stream (docker load): stream text, a status with progress, or an error.</summary>
public sealed record DockerProgressMessage
{
    [JsonPropertyName("stream"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Stream { get; init; }

    [JsonPropertyName("status"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Status { get; init; }

    [JsonPropertyName("id"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Id { get; init; }

    [JsonPropertyName("progressDetail"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DockerProgressDetail? ProgressDetail { get; init; }

    [JsonPropertyName("progress"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Progress { get; init; }

    [JsonPropertyName("error"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Error { get; init; }

    [JsonPropertyName("errorDetail"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DockerErrorDetail? ErrorDetail { get; init; }
}

public sealed record DockerProgressDetail([property: JsonPropertyName("current")] long Current, [property: JsonPropertyName("total")] long? Total);

public sealed record DockerErrorDetail([property: JsonPropertyName("message")] string Message);

// ---- stats (snake_case, DockerJson.Stats) ----

public sealed record DockerStats
{
    public required string Name { get; init; }
    public required string Id { get; init; }
    public required string Read { get; init; }
    public required string Preread { get; init; }
    public required DockerPidsStats PidsStats { get; init; }
    public required DockerCpuStats CpuStats { get; init; }
    public required DockerCpuStats PrecpuStats { get; init; }
    public required DockerMemoryStats MemoryStats { get; init; }
    public DockerBlkioStats BlkioStats { get; init; } = new();
    public int NumProcs { get; init; }
}

public sealed record DockerPidsStats(long Current, long? Limit);

public sealed record DockerCpuStats(DockerCpuUsage CpuUsage, ulong SystemCpuUsage, int OnlineCpus, DockerThrottling ThrottlingData);

public sealed record DockerCpuUsage(ulong TotalUsage, ulong UsageInKernelmode, ulong UsageInUsermode);

public sealed record DockerThrottling(long Periods, long ThrottledPeriods, long ThrottledTime);

public sealed record DockerMemoryStats(long Usage, long Limit, IReadOnlyDictionary<string, long> Stats);

public sealed record DockerBlkioStats
{
    public IReadOnlyList<object> IoServiceBytesRecursive { get; init; } = [];
}

/// <summary>POST /auth (docker login).</summary>
public sealed record DockerAuthRequest
{
    public string? Username { get; init; }

    public string? Password { get; init; }

    [JsonPropertyName("serveraddress")]
    public string? ServerAddress { get; init; }
}

public sealed record DockerAuthResponse
{
    public required string Status { get; init; }

    public string IdentityToken { get; init; } = "";
}
