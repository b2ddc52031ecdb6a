using Portal.Contracts;

namespace Portal.Compute.Containers;

/// <summary>Everything a driver needs to run one container: its record, disks and files.</summary>
public sealed record ContainerContext
{
    public required ContainerRecord Record { get; init; }
    /// <summary>The image's read-only disk (erofs).</summary>
    public required string ImageDiskPath { get; init; }
    /// <summary>The writable scratch disk (ext4), the same file whatever the runtime.</summary>
    public required string ScratchDiskPath { get; init; }
    /// <summary>Where the container's output goes (k8s-file format), the same file whatever the runtime.</summary>
    public required string LogPath { get; init; }
    /// <summary>When the log file is rotated and how many files are kept.</summary>
    public LogRotation Log { get; init; } = ComputeOptions.DefaultLogRotation;
    /// <summary>This run's place on the container's virtual switch (set when starting; null in clean-up and adoption).</summary>
    public Networking.NetworkAttachment? Network { get; init; }
}

/// <summary>The outcome of looking for a container the agent ran before it restarted.</summary>
public abstract record AdoptResult
{
    private AdoptResult()
    {
    }

    public sealed record Running(IContainer Container) : AdoptResult;

    public sealed record Exited(ContainerExit Exit) : AdoptResult;
}

/// <summary>Runs containers with one kind of isolation. The compute service picks the driver by runtime type; nothing else does.</summary>
public interface IIsolationDriver
{
    RuntimeType RuntimeType { get; }

    /// <summary>
    /// Refuses (InvalidArgument, saying what to do instead) security options this isolation level cannot honour, so
    /// none is silently ignored. Called at create and before a conversion; the options are already normalized.
    /// </summary>
    void CheckSecurity(ContainerSecurity security);

    /// <summary>Prepares the container's root from its disks and starts its first process.</summary>
    Task<IContainer> StartAsync(ContainerContext context, CancellationToken ct);

    /// <summary>Finds a container this host was running before the agent restarted.</summary>
    Task<AdoptResult> AdoptAsync(ContainerContext context, CancellationToken ct);

    /// <summary>Releases what a stopped container held (mounts, loop devices, runtime state, cgroups). Idempotent.</summary>
    Task CleanupAsync(ContainerContext context, CancellationToken ct);
}
