using Portal.Compute.Storage;

namespace Portal.Compute.Tests.Fakes;

/// <summary>Scratch "disks" that are empty files: the fake drivers never mount them.</summary>
public sealed class EmptyScratchDisks : IScratchDiskFactory
{
    public async Task CreateAsync(string path, CancellationToken ct)
    {
        await using var _ = File.Create(path);
    }

    /// <summary>What the next host-mount check answers (null: the disk passes).</summary>
    public string? HostMountProblem { get; set; }

    public Task<string?> HostMountProblemAsync(string path, CancellationToken ct) => Task.FromResult(HostMountProblem);
}
