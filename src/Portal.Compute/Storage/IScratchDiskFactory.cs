namespace Portal.Compute.Storage;

/// <summary>Makes a new container's writable scratch disk (a seam: unit tests make an empty file instead of an ext4 disk).</summary>
public interface IScratchDiskFactory
{
    Task CreateAsync(string path, CancellationToken ct);
}
