using Microsoft.Extensions.Logging;
using Portal.Compute.Networking;
using Portal.Contracts;

namespace Portal.Compute.Containers;

/// <summary>
/// At agent start (containers outlive the agent): loads the records, re-adopts containers that still run, records the
/// exits of those that ended meanwhile, and removes what a crash left half made (directories, runtime state, plumbing).
/// </summary>
public sealed class ContainerRecovery(ContainerStore store, ContainerRuns runs, ContainerDrivers drivers, IContainerNetwork network,
    ContainerMonitor monitor, SwitchMembership members, ILogger<ContainerRecovery> logger)
{
    public async Task RecoverAsync(CancellationToken ct)
    {
        // Records first: networking keeps guarding the ports of containers that may still run while they are re-adopted.
        var records = store.Load(logger);
        await network.InitializeAsync(ct).ConfigureAwait(false);
        foreach (var record in records)
        {
            try
            {
                await ReconcileAsync(record, runs.Of(record.Id), ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ComputeException or IOException && !ct.IsCancellationRequested)
            {
                // One container the host cannot reach (a guest that does not answer, a runtime that fails) must not keep
                // the agent, and so every other container, from coming up; it stays as recorded, to be stopped or removed.
                logger.LogError(e, "Could not recover container {Name} ({Id}); it stays {State} as recorded", record.Name, record.Id, record.State);
            }
        }

        var known = store.List().Select(r => r.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var driver in drivers.All.OfType<IOrphanCleaner>())
        {
            await driver.RemoveOrphansAsync(known, ct).ConfigureAwait(false);
        }

        // What runs keeps its plumbing, and so does a container recorded as running that could not be recovered: its
        // process or VM may run on, guarded, until it is stopped or removed.
        var running = store.List().Where(r => r.State is ContainerState.Running or ContainerState.Stopping).Select(r => r.Id);
        await network.RemoveOrphansAsync(running.Union(runs.Running().Select(r => r.Id)).ToList(), ct).ConfigureAwait(false);
    }

    private async Task ReconcileAsync(ContainerRecord record, ContainerRun run, CancellationToken ct)
    {
        var driver = drivers.For(record.RuntimeType);
        var context = drivers.Context(record);
        if (record.State is ContainerState.Running or ContainerState.Stopping)
        {
            switch (await driver.AdoptAsync(context, ct).ConfigureAwait(false))
            {
                case AdoptResult.Running running:
                    run.Running = running.Container;
                    logger.LogInformation("Re-adopted running container {Name} ({Id})", record.Name, record.Id);
                    monitor.Watch(record.Id, run, running.Container);
                    await network.ResumeAsync(record, ct).ConfigureAwait(false);
                    await members.RefreshAsync(record.SwitchId, ct).ConfigureAwait(false);
                    return;
                case AdoptResult.Exited exited:
                    logger.LogInformation("Container {Name} exited with {Code} while the agent was down", record.Name, exited.Exit.ExitCode);
                    await driver.CleanupAsync(context, ct).ConfigureAwait(false);
                    await network.DetachAsync(record, ct).ConfigureAwait(false);
                    await store.SaveAsync(ContainerMonitor.Stopped(record, exited.Exit, null), ct).ConfigureAwait(false);
                    run.Exit.TrySetResult(exited.Exit);
                    return;
            }
        }

        await driver.CleanupAsync(context, ct).ConfigureAwait(false);
        await network.DetachAsync(record, ct).ConfigureAwait(false);
        if (record.State != ContainerState.Created)
        {
            run.Exit.TrySetResult(new ContainerExit(record.ExitCode ?? 0, record.StopReason));
        }
    }
}
