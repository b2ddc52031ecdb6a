using Portal.Contracts;

namespace Portal.Compute.Containers;

/// <summary>The persisted state of one container (container.json in its state directory).</summary>
public sealed record ContainerRecord
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public required string Image { get; init; }
    public required string ImageId { get; init; }
    public required RuntimeType RuntimeType { get; init; }
    public required ContainerState State { get; init; }
    public required IReadOnlyList<string> Command { get; init; }
    public required IReadOnlyList<string> Environment { get; init; }
    public required string WorkingDirectory { get; init; }
    public string? User { get; init; }
    public bool Tty { get; init; }
    public bool OpenStdin { get; init; }
    public required ContainerLimits Limits { get; init; }
    public required IReadOnlyDictionary<string, string> Labels { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    public int? ExitCode { get; init; }
    public string? StopReason { get; init; }
    public int? HostPid { get; init; }
    /// <summary>Where the current (or last) run's output begins in the log file.</summary>
    public long LogOffset { get; init; }
    /// <summary>The virtual switch (null: none, as for containers made before switches existed).</summary>
    public string? SwitchId { get; init; }
    public string? SwitchName { get; init; }
    /// <summary>Allocated at create and kept until removal: the same address across restarts and runtime conversions.</summary>
    public string? IpAddress { get; init; }
    public string? MacAddress { get; init; }
    public IReadOnlyList<PortMapping> Ports { get; init; } = [];
    /// <summary>Normalized at create (canonical capability names, checked options); records made before it have the defaults.</summary>
    public ContainerSecurity Security { get; init; } = new();

    public ContainerInfo ToInfo() => new()
    {
        Id = Id,
        Name = Name,
        Image = Image,
        ImageId = ImageId,
        RuntimeType = RuntimeType,
        State = State,
        Command = Command,
        Environment = Environment,
        WorkingDirectory = WorkingDirectory,
        User = User,
        Tty = Tty,
        OpenStdin = OpenStdin,
        Limits = Limits,
        Labels = Labels,
        CreatedAt = CreatedAt,
        StartedAt = StartedAt,
        FinishedAt = FinishedAt,
        ExitCode = ExitCode,
        StopReason = StopReason,
        HostPid = State is ContainerState.Running or ContainerState.Stopping ? HostPid : null,
        SwitchName = SwitchName ?? "none",
        SwitchId = SwitchId,
        IpAddress = IpAddress,
        MacAddress = MacAddress,
        Ports = Ports,
        Security = Security,
    };
}
