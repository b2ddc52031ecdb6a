using Microsoft.Extensions.Logging;
using Portal.Compute.Networking;

namespace Portal.Compute.Containers;

/// <summary>
/// Names on a switch: when a member comes or goes, every running container on that switch gets its /etc/hosts rewritten
/// (in place on the host for process isolation; the guest is told for VM isolation, see <see cref="IContainer.UpdateHostsAsync"/>).
/// </summary>
public sealed class SwitchMembership(ContainerStore store, ContainerRuns runs, IContainerNetwork network, ILogger<SwitchMembership> logger)
{
    public async Task RefreshAsync(string? switchId, CancellationToken ct)
    {
        if (switchId is null or SwitchManager.NoneName)
        {
            return;
        }

        var all = store.List();
        foreach (var record in all.Where(r => r.SwitchId == switchId))
        {
            if (runs.RunningOf(record.Id) is not { } running)
            {
                continue;
            }

            try
            {
                if (await network.RewriteHostsAsync(record, all, ct).ConfigureAwait(false) is { } hosts)
                {
                    await running.UpdateHostsAsync(hosts, ct).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is IOException or ComputeException)
            {
                logger.LogWarning(e, "Could not update the hosts file of container {Name}", record.Name);
            }
        }
    }
}
