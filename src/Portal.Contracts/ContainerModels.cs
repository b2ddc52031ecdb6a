namespace Portal.Contracts;

/// <summary>What a caller asks for when creating a container (New-Container, docker create, the portal dialog).</summary>
public sealed record ContainerCreateSpec
{
    public string? Name { get; init; }
    public required string Image { get; init; }
    /// <summary>The isolation; null takes the host's default (Compute:DefaultRuntimeType).</summary>
    public RuntimeType? RuntimeType { get; init; }
    /// <summary>Overrides the image's entrypoint when set.</summary>
    public IReadOnlyList<string>? Entrypoint { get; init; }
    /// <summary>Overrides the image's command when set.</summary>
    public IReadOnlyList<string>? Command { get; init; }
    public IReadOnlyList<string> Environment { get; init; } = [];
    public string? WorkingDirectory { get; init; }
    public string? User { get; init; }
    public bool Tty { get; init; }
    public bool OpenStdin { get; init; }
    public ContainerLimits Limits { get; init; } = new();
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    /// <summary>The virtual switch (name or alias: "Virtual Switch", NAT, none ...); null takes the host's default switch.</summary>
    public string? SwitchName { get; init; }
    /// <summary>Ports to publish on the host (NAT switches only).</summary>
    public IReadOnlyList<PortMapping> Ports { get; init; } = [];
    /// <summary>Tightening (or, within policy, loosening) of the isolation's security defaults; empty keeps them.</summary>
    public ContainerSecurity Security { get; init; } = new();
}

/// <summary>
/// What a container's processes may do, on top of the isolation's defaults (docker's --cap-add, --cap-drop,
/// --read-only, --ulimit, --tmpfs, --security-opt). What an isolation level cannot honour is refused, never ignored.
/// </summary>
public sealed record ContainerSecurity
{
    /// <summary>Capabilities to add to the default set ("NET_ADMIN" or "CAP_NET_ADMIN"); only those the policy allows.</summary>
    public IReadOnlyList<string> CapabilityAdd { get; init; } = [];
    /// <summary>Capabilities to drop from the default set; "ALL" drops every one (then only CapabilityAdd remain).</summary>
    public IReadOnlyList<string> CapabilityDrop { get; init; } = [];
    /// <summary>Mounts the container's root read-only (writable places: tmpfs mounts, /dev, /dev/shm).</summary>
    public bool ReadOnlyRootFilesystem { get; init; }
    /// <summary>no-new-privileges: null takes the isolation's default (on for process isolation).</summary>
    public bool? NoNewPrivileges { get; init; }
    /// <summary>Resource limits of the container's processes (setrlimit), by docker's names (nofile, nproc, core ...).</summary>
    public IReadOnlyList<ContainerUlimit> Ulimits { get; init; } = [];
    /// <summary>tmpfs file systems mounted in the container.</summary>
    public IReadOnlyList<TmpfsMount> Tmpfs { get; init; } = [];
    /// <summary>An AppArmor profile loaded on the host; null takes the default (portal-default where AppArmor is enabled).</summary>
    public string? AppArmorProfile { get; init; }
}

/// <summary>One resource limit: soft and hard values (-1 is unlimited).</summary>
public sealed record ContainerUlimit
{
    /// <summary>docker's name: as, core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rttime, sigpending, stack.</summary>
    public required string Name { get; init; }
    public required long Soft { get; init; }
    public required long Hard { get; init; }
}

/// <summary>A tmpfs mount inside the container (docker's --tmpfs PATH:OPTIONS).</summary>
public sealed record TmpfsMount
{
    /// <summary>An absolute path inside the container.</summary>
    public required string Path { get; init; }
    /// <summary>The size limit in bytes; null leaves the kernel's (half the RAM, charged to the container's memory limit).</summary>
    public long? SizeBytes { get; init; }
    /// <summary>The mode of its root directory, octal ("1777"); null is 1777 as docker's.</summary>
    public string? Mode { get; init; }
    /// <summary>Mount flags: ro, rw, exec, noexec, suid, nosuid, dev, nodev, sync, async, dirsync, atime, noatime, diratime, nodiratime, relatime, norelatime, strictatime, nostrictatime.</summary>
    public IReadOnlyList<string> Options { get; init; } = [];
}

public sealed record ContainerLimits
{
    /// <summary>Memory limit in bytes; null for none.</summary>
    public long? MemoryBytes { get; init; }
    /// <summary>CPU limit in cores (1.5 = one and a half cores); null for none.</summary>
    public double? Cpus { get; init; }
    /// <summary>Maximum number of processes; null takes the host default.</summary>
    public long? PidsLimit { get; init; }
    /// <summary>The size at which the container's log file is rotated (docker's --log-opt max-size); null takes the host default.</summary>
    public long? LogMaxBytes { get; init; }
    /// <summary>How many log files are kept, the current one included (docker's --log-opt max-file); null takes the host default.</summary>
    public int? LogMaxFiles { get; init; }
}

/// <summary>A container as every client sees it.</summary>
public sealed record ContainerInfo
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public required string Image { get; init; }
    public required string ImageId { get; init; }
    public required RuntimeType RuntimeType { get; init; }
    public required ContainerState State { get; init; }
    public required IReadOnlyList<string> Command { get; init; }
    public required IReadOnlyList<string> Environment { get; init; }
    public string? WorkingDirectory { get; init; }
    public string? User { get; init; }
    public bool Tty { get; init; }
    public bool OpenStdin { get; init; }
    public required ContainerLimits Limits { get; init; }
    public required IReadOnlyDictionary<string, string> Labels { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    public int? ExitCode { get; init; }
    /// <summary>Why the container stopped, when something other than its process ended it.</summary>
    public string? StopReason { get; init; }
    /// <summary>The host PID of the container's first process while it runs (process isolation).</summary>
    public int? HostPid { get; init; }
    /// <summary>The virtual switch the container is connected to ("none" when it has no network).</summary>
    public string SwitchName { get; init; } = "none";
    public string? SwitchId { get; init; }
    /// <summary>The container's IPv4 address on its switch: the same across restarts and runtime conversions.</summary>
    public string? IpAddress { get; init; }
    public string? MacAddress { get; init; }
    public IReadOnlyList<PortMapping> Ports { get; init; } = [];
    public ContainerSecurity Security { get; init; } = new();
}

/// <summary>One row of Get-ComputeProcess: the HCS view of a container or of its utility VM.</summary>
public sealed record ComputeSystemInfo
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public required string Owner { get; init; }
    public required ComputeSystemType Type { get; init; }
    public required RuntimeType RuntimeType { get; init; }
    public required ContainerState State { get; init; }
    /// <summary>The host PID of the container's first process, or of the VM worker for a VirtualMachine.</summary>
    public int? HostPid { get; init; }
}

/// <summary>A process inside a container, with the host's view of it where the host can see it.</summary>
public sealed record ContainerProcessInfo
{
    /// <summary>PID inside the container.</summary>
    public required int Pid { get; init; }
    /// <summary>PID on the host; null when the host cannot see the process (VM isolation).</summary>
    public int? HostPid { get; init; }
    public int? ParentPid { get; init; }
    public required string User { get; init; }
    public required string Name { get; init; }
    public required string CommandLine { get; init; }
    public required double CpuSeconds { get; init; }
    public required long MemoryBytes { get; init; }
}

public sealed record ContainerStatistics
{
    public required DateTimeOffset Timestamp { get; init; }
    public required double CpuSeconds { get; init; }
    public required long MemoryBytes { get; init; }
    public long? MemoryLimitBytes { get; init; }
    public required long Pids { get; init; }
    public long? PidsLimit { get; init; }
}

public sealed record ImageInfo
{
    public required string Id { get; init; }
    public required IReadOnlyList<string> Tags { get; init; }
    public required long SizeBytes { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public required IReadOnlyList<string> Layers { get; init; }
    /// <summary>
    /// The teams that imported the image; empty for the administrators' images, which every team sees. A team caller
    /// sees only its own team here (whether other teams imported the same image is theirs to know).
    /// </summary>
    public IReadOnlyList<string> Teams { get; init; } = [];

    /// <summary>"repository@sha256:..." of the manifests the image was pulled by; empty for imported images.</summary>
    public IReadOnlyList<string> RepoDigests { get; init; } = [];
}

/// <summary>An image to pull from its registry, with the caller's credential for that registry (none: anonymous).</summary>
public sealed record ImagePullRequest
{
    /// <summary>"nginx", "library/nginx:1.27", "ghcr.io/org/app@sha256:...", "127.0.0.1:5000/team/app:v2".</summary>
    public required string Reference { get; init; }

    public string? Username { get; init; }

    /// <summary>The password or token; never logged or returned.</summary>
    public string? Password { get; init; }

    /// <summary>Never the password.</summary>
    public override string ToString() => $"{Reference}{(Username is null ? string.Empty : $" as {Username}")}";
}

/// <summary>
/// One step of a pull: a layer's (<see cref="Layer"/>, its short digest) "Waiting", "Downloading" (with bytes),
/// "Download complete", "Already exists", or the image's "Pulling from", "Building the image disk", "Digest: ...",
/// "Status: ..."; the last update carries the pulled <see cref="Image"/>.
/// </summary>
public sealed record ImagePullUpdate(string? Layer, string Status, long? Current = null, long? Total = null, ImageInfo? Image = null);

public sealed record RuntimeChoice
{
    public required string Name { get; init; }
    public required string Path { get; init; }
    public required string Version { get; init; }
    /// <summary>Why this runtime was chosen (for example: crun refused this host's cgroup layout).</summary>
    public required string Reason { get; init; }
}

public sealed record HostInfo
{
    public required string Hostname { get; init; }
    public required string Kernel { get; init; }
    public required string OperatingSystem { get; init; }
    public required int Cpus { get; init; }
    public required long MemoryBytes { get; init; }
    public required string CgroupMode { get; init; }
    public required RuntimeChoice ProcessRuntime { get; init; }
    /// <summary>The accelerator VM-isolated containers use ("kvm" or "tcg"); null without VM isolation.</summary>
    public string? VmAccelerator { get; init; }
    /// <summary>Why that accelerator (for example: KVM guests did not boot within the probe's timeout).</summary>
    public required string VmAcceleratorReason { get; init; }
    public required IReadOnlyList<RuntimeType> RuntimeTypes { get; init; }
    public required int Containers { get; init; }
    public required int RunningContainers { get; init; }
    public required int Images { get; init; }
    public required string Version { get; init; }
}

/// <summary>A process in the host's process table, with what it belongs to where the agent knows.</summary>
public sealed record HostProcessInfo
{
    public required int Pid { get; init; }
    public required int ParentPid { get; init; }
    public required string User { get; init; }
    public required string Name { get; init; }
    public required string CommandLine { get; init; }
    public required double CpuSeconds { get; init; }
    public required long MemoryBytes { get; init; }
    /// <summary>The container this process runs in (process isolation), or whose VM worker it is (VM isolation).</summary>
    public string? ContainerId { get; init; }
    public string? ContainerName { get; init; }
    /// <summary>The process's PID inside its container (from NSpid); null for a VM worker or a host process.</summary>
    public int? ContainerPid { get; init; }
    public bool IsVmWorker { get; init; }
}

/// <summary>
/// The seed's isolation demo for one container: the processes inside, and what the host sees of that container:
/// the same processes with their host PIDs under process isolation; only the VM worker under VM isolation.
/// </summary>
public sealed record IsolationView
{
    public required ContainerInfo Container { get; init; }
    public required IReadOnlyList<ContainerProcessInfo> Inside { get; init; }
    public required IReadOnlyList<HostProcessInfo> SeenFromHost { get; init; }
}
