using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Compute.Networking;

/// <summary>
/// A host without virtual switches: only the built-in switch none exists, containers get loopback only, and creating a
/// switch is refused. Used where no bridge may be made (the compute library's unit tests, embedded uses).
/// </summary>
public sealed class NoSwitches : ISwitchService, IContainerNetwork
{
    private static readonly SwitchInfo None = new() { Id = SwitchManager.NoneName, Name = SwitchManager.NoneName, Type = SwitchType.None, IsBuiltIn = true, IsDefault = true, CreatedAt = DateTimeOffset.UnixEpoch };

    public event Action? SwitchesChanged
    {
        add { }
        remove { }
    }

    public IReadOnlyList<SwitchInfo> ListSwitches() => [None];

    public SwitchInfo GetSwitch(string nameOrId) => IsNone(nameOrId) ? None : throw NotFound(nameOrId);

    public Task<SwitchInfo> CreateSwitchAsync(SwitchCreateSpec spec, CancellationToken ct = default) =>
        throw new ComputeException(ComputeErrorCode.NotSupported, "Virtual switches are not available on this host.");

    public Task RemoveSwitchAsync(string nameOrId, CancellationToken ct = default) => IsNone(nameOrId)
        ? throw new ComputeException(ComputeErrorCode.InvalidArgument, "The switch 'none' is built in and cannot be removed.")
        : throw NotFound(nameOrId);

    public Task InitializeAsync(CancellationToken ct) => Task.CompletedTask;

    public NetworkReservation Reserve(string containerId, string? switchName, IReadOnlyList<PortMapping> ports, IReadOnlyList<ContainerRecord> others)
    {
        if (!string.IsNullOrWhiteSpace(switchName) && !IsNone(switchName))
        {
            throw NotFound(switchName);
        }

        return ports.Count == 0
            ? new NetworkReservation(SwitchManager.NoneName, SwitchManager.NoneName, null, null, [])
            : throw new ComputeException(ComputeErrorCode.InvalidArgument, "Ports are published only on NAT switches, and this host has none: publish nothing.");
    }

    public Task<NetworkAttachment?> AttachAsync(ContainerRecord record, IReadOnlyList<ContainerRecord> all, CancellationToken ct) =>
        Task.FromResult<NetworkAttachment?>(null);

    public Task DetachAsync(ContainerRecord record, CancellationToken ct) => Task.CompletedTask;

    public Task ResumeAsync(ContainerRecord record, CancellationToken ct) => Task.CompletedTask;

    public Task<string?> RewriteHostsAsync(ContainerRecord record, IReadOnlyList<ContainerRecord> all, CancellationToken ct) => Task.FromResult<string?>(null);

    public Task RemoveOrphansAsync(IReadOnlyCollection<string> runningIds, CancellationToken ct) => Task.CompletedTask;

    private static bool IsNone(string name) => string.Equals(name.Trim(), SwitchManager.NoneName, StringComparison.OrdinalIgnoreCase);

    private static ComputeException NotFound(string name) =>
        new(ComputeErrorCode.SwitchNotFound, $"No such switch: '{name}'. This host has no virtual switches; use none.");
}
