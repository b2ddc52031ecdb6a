namespace Portal.Compute.Storage;

/// <summary>Makes and checks containers' writable scratch disks (a seam: unit tests make an empty file instead of an ext4 disk).</summary>
public interface IScratchDiskFactory
{
    Task CreateAsync(string path, CancellationToken ct);

    /// <summary>
    /// Before the host kernel mounts a scratch disk a guest wrote (conversion to process isolation): null when it may,
    /// otherwise what is wrong with it.
    /// </summary>
    Task<string?> HostMountProblemAsync(string path, CancellationToken ct);
}
