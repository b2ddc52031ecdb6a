using Portal.Compute.Containers;

namespace Portal.Docker;

/// <summary>An exec instance (POST /containers/{id}/exec): created, then started once, then finished with an exit code.</summary>
public sealed class DockerExec
{
    private int _started;

    public required string Id { get; init; }
    public required string ContainerId { get; init; }
    public required ProcessSpec Spec { get; init; }
    public required bool AttachStdout { get; init; }
    public required bool AttachStderr { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>The team whose caller made it (null: the administrators); set by <see cref="DockerExecStore.Add"/>.</summary>
    public string? Team { get; internal set; }

    public IContainerProcess? Process { get; set; }

    public bool Running { get; set; }

    public int? ExitCode { get; set; }

    /// <summary>A resize that came before the process started (docker exec -it resizes right after start).</summary>
    public (int Columns, int Rows)? PendingSize { get; set; }

    /// <summary>True for the one caller that may start this exec.</summary>
    public bool TryClaimStart() => Interlocked.Exchange(ref _started, 1) == 0;

    public bool Started => Volatile.Read(ref _started) == 1;
}
