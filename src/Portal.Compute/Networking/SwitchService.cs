using Microsoft.Extensions.Logging;
using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Compute.Networking;

/// <summary>
/// Virtual switches for callers (<see cref="ISwitchService"/>) and for the container lifecycle (<see cref="IContainerNetwork"/>),
/// over the <see cref="SwitchManager"/> that keeps switches, bridges and the firewall in step (addresses from
/// <see cref="AddressAllocator"/>, ports from <see cref="PublishedPorts"/>).
/// </summary>
public sealed class SwitchService(SwitchManager switches, ContainerStore store, ILogger<SwitchService> logger) : ISwitchService, IContainerNetwork, IAsyncDisposable
{
    public event Action? SwitchesChanged;

    public IReadOnlyList<SwitchInfo> ListSwitches()
    {
        var records = store.List();
        return switches.Switches.Select(s => switches.ToInfo(s, records)).ToList();
    }

    public SwitchInfo GetSwitch(string nameOrId) =>
        switches.ToInfo(switches.Resolve(nameOrId ?? throw new ArgumentNullException(nameof(nameOrId))), store.List());

    public async Task<SwitchInfo> CreateSwitchAsync(SwitchCreateSpec spec, CancellationToken ct = default)
    {
        var created = await switches.CreateAsync(spec, ct).ConfigureAwait(false);
        SwitchesChanged?.Invoke();
        return switches.ToInfo(created, []);
    }

    public async Task RemoveSwitchAsync(string nameOrId, CancellationToken ct = default)
    {
        // Inside the store's reservation: no container joins the switch while it goes.
        var sw = await store.ReserveAsync(() =>
        {
            var sw = switches.Resolve(nameOrId);
            var users = store.List().Where(r => r.SwitchId == sw.Id).Select(r => r.Name).Order(StringComparer.Ordinal).ToList();
            if (sw.Type != SwitchType.None && users.Count > 0)
            {
                throw new ComputeException(ComputeErrorCode.SwitchInUse, $"Switch '{sw.Name}' is used by {users.Count} container(s) ({string.Join(", ", users.Take(10))}{(users.Count > 10 ? ", ..." : "")}): remove them first.");
            }

            return sw;
        }, ct).ConfigureAwait(false);
        await switches.RemoveAsync(sw, ct).ConfigureAwait(false);
        SwitchesChanged?.Invoke();
    }

    public Task InitializeAsync(CancellationToken ct) =>
        switches.InitializeAsync(ct, store.List().Where(r => r.State is ContainerState.Running or ContainerState.Stopping));

    public NetworkReservation Reserve(string containerId, string? switchName, IReadOnlyList<PortMapping> ports, IReadOnlyList<ContainerRecord> others)
    {
        var sw = switches.Resolve(switchName);
        var checkedPorts = PublishedPorts.Validate(sw, ports, others);
        var (address, mac) = AddressAllocator.Allocate(sw, containerId, others);
        return new NetworkReservation(sw.Id, sw.Name, address, mac, checkedPorts);
    }

    public async Task<NetworkAttachment?> AttachAsync(ContainerRecord record, IReadOnlyList<ContainerRecord> all, CancellationToken ct)
    {
        var attachment = await switches.AttachAsync(record, switches.HostsFor(record, all), ct).ConfigureAwait(false);
        try
        {
            await switches.Ports.OpenAsync(record).ConfigureAwait(false);
        }
        catch
        {
            await switches.DetachAsync(record).ConfigureAwait(false);
            throw;
        }

        return attachment;
    }

    public Task DetachAsync(ContainerRecord record, CancellationToken ct) => switches.DetachAsync(record);

    public async Task ResumeAsync(ContainerRecord record, CancellationToken ct)
    {
        await switches.GuardAsync(record, ct).ConfigureAwait(false);
        try
        {
            await switches.Ports.OpenAsync(record).ConfigureAwait(false);
        }
        catch (ComputeException e)
        {
            logger.LogError(e, "Could not publish the ports of re-adopted container {Name} again", record.Name);
        }
    }

    public async Task<string?> RewriteHostsAsync(ContainerRecord record, IReadOnlyList<ContainerRecord> all, CancellationToken ct)
    {
        if (record.SwitchId is null or SwitchManager.NoneName)
        {
            return null;
        }

        var hosts = switches.HostsFor(record, all);
        await switches.WriteHostsAsync(record, hosts, ct).ConfigureAwait(false);
        return hosts;
    }

    public Task RemoveOrphansAsync(IReadOnlyCollection<string> runningIds, CancellationToken ct) => switches.RemoveOrphansAsync(runningIds, ct);

    public ValueTask DisposeAsync() => switches.DisposeAsync();
}
