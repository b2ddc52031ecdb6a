using Microsoft.Extensions.Logging;
using Portal.Compute.Networking;
using Portal.Contracts;

namespace Portal.Compute.Containers;

/// <summary>
/// Watches every run until its first process exits, then records the exit (stopped, exit code, reason), tells waiters
/// and subscribers, and releases what the run held, under the run's lock so that a new start or a removal waits for it.
/// </summary>
public sealed class ContainerMonitor(ContainerStore store, ContainerDrivers drivers, IContainerNetwork network, ContainerEvents events, ILogger<ContainerMonitor> logger) : IDisposable
{
    private readonly CancellationTokenSource _shutdown = new();

    public void Watch(string id, ContainerRun run, IContainer container) => _ = WatchAsync(id, run, container);

    /// <summary>Stops watching: containers keep running and are re-adopted when the agent starts again.</summary>
    public Task StopAsync() => _shutdown.CancelAsync();

    private async Task WatchAsync(string id, ContainerRun run, IContainer container)
    {
        ContainerExit exit;
        try
        {
            exit = await container.WaitAsync(_shutdown.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return; // the agent is stopping; the container runs on and is re-adopted next start
        }

        await run.Lock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!ReferenceEquals(run.Running, container))
            {
                return;
            }

            run.Running = null;
            if (store.Get(id) is not { } record)
            {
                return;
            }

            // Record the exit and tell waiters first; then release what it held. Holding the lock through the
            // clean-up keeps the next start or a removal from racing it.
            var stopped = Stopped(record, exit, run.PendingStopReason);
            await store.SaveAsync(stopped, CancellationToken.None).ConfigureAwait(false);
            run.Exit.TrySetResult(exit);
            events.Raise(ContainerEventKind.Stopped, stopped, exit.Reason);
            try
            {
                await drivers.CleanupAsync(record, CancellationToken.None).ConfigureAwait(false);
                await network.DetachAsync(record, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or ComputeException or UnauthorizedAccessException)
            {
                logger.LogError(e, "Cleaning up container {Name} after it stopped failed", record.Name);
            }
        }
        finally
        {
            run.Lock.Release();
            run.Exit.TrySetResult(exit);
        }
    }

    public static ContainerRecord Stopped(ContainerRecord record, ContainerExit exit, string? pendingReason) => record with
    {
        State = ContainerState.Stopped,
        ExitCode = exit.ExitCode,
        FinishedAt = DateTimeOffset.UtcNow,
        StopReason = exit.Reason ?? pendingReason,
        HostPid = null,
    };

    public void Dispose() => _shutdown.Dispose();
}
