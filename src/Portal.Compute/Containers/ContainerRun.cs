namespace Portal.Compute.Containers;

/// <summary>
/// The running side of one container (containerd's task): the compute system while it runs, its exit, the lock
/// that serializes its lifecycle, and what a client asked for before it ran. Records live in <see cref="ContainerStore"/>.
/// </summary>
public sealed class ContainerRun
{
    /// <summary>The started compute system; null while the container does not run.</summary>
    public IContainer? Running { get; set; }

    /// <summary>Completes with the current (or last) run's exit, after its record is saved as stopped.</summary>
    public TaskCompletionSource<ContainerExit> Exit { get; set; } = NewExit();

    /// <summary>Serializes start, stop, conversion, removal and the clean-up after an exit.</summary>
    public SemaphoreSlim Lock { get; } = new(1, 1);

    /// <summary>Why a stop was asked for, recorded with the exit.</summary>
    public string? PendingStopReason { get; set; }

    /// <summary>The terminal size a client asked for before the container ran; applied at start (80x24 otherwise).</summary>
    public (int Columns, int Rows) TerminalSize { get; set; } = (80, 24);

    /// <summary>Completes when the next run has started (attach before start); replaced at each start.</summary>
    public TaskCompletionSource NextStart { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static TaskCompletionSource<ContainerExit> NewExit() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>After the exit: waits until the clean-up has released what the container held (it runs under the lock).</summary>
    public async Task ReleasedAsync(CancellationToken ct)
    {
        await Lock.WaitAsync(ct).ConfigureAwait(false);
        Lock.Release();
    }
}
