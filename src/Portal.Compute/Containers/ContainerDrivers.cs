using Portal.Compute.Images;
using Portal.Contracts;

namespace Portal.Compute.Containers;

/// <summary>The isolation drivers of this host by runtime type, and the context a driver gets for a container.</summary>
public sealed class ContainerDrivers(IEnumerable<IIsolationDriver> drivers, ContainerStore store, ImageStore images, LogRotation? logDefaults = null)
{
    private readonly IReadOnlyDictionary<RuntimeType, IIsolationDriver> _drivers = drivers.ToDictionary(d => d.RuntimeType);

    public IReadOnlyCollection<RuntimeType> RuntimeTypes => _drivers.Keys.ToArray();

    public IEnumerable<IIsolationDriver> All => _drivers.Values;

    public IIsolationDriver For(RuntimeType runtimeType) => _drivers.TryGetValue(runtimeType, out var driver)
        ? driver
        : throw new ComputeException(ComputeErrorCode.NotSupported, $"Runtime type {runtimeType} is not available on this host (available: {string.Join(", ", _drivers.Keys)}).");

    /// <summary>The container's disks and files for its driver (the image disk is empty when its image was removed).</summary>
    public ContainerContext Context(ContainerRecord record) => new()
    {
        Record = record,
        ImageDiskPath = images.List().FirstOrDefault(i => i.Id == record.ImageId)?.DiskPath ?? "",
        ScratchDiskPath = store.ScratchPath(record.Id),
        LogPath = store.LogPath(record.Id),
        Log = LogRotation.For(record.Limits, logDefaults ?? ComputeOptions.DefaultLogRotation),
    };

    /// <summary>Releases what the container's run held with the driver that ran it. Idempotent.</summary>
    public Task CleanupAsync(ContainerRecord record, CancellationToken ct) => For(record.RuntimeType).CleanupAsync(Context(record), ct);
}
