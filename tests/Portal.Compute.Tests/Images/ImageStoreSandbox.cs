using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Portal.Compute.Images;

namespace Portal.Compute.Tests.Images;

/// <summary>A temp directory holding an image store (and anything else a test needs), deleted on dispose.</summary>
internal sealed class ImageStoreSandbox : IDisposable
{
    public ImageStoreSandbox(
        IReadOnlyDictionary<string, string>? aliases = null, long? maxEntries = null, long? maxBytes = null,
        long? minFreeBytes = null, Func<string, long>? freeBytes = null, string? under = null)
    {
        Base = Path.Combine(under ?? Path.GetTempPath(), "portal-images-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Base);
        Options = new ImageStoreOptions
        {
            Root = Path.Combine(Base, "store"),
            Aliases = aliases ?? new Dictionary<string, string>(),
            MaxArchiveEntries = maxEntries ?? 2_000_000,
            MaxExtractedBytes = maxBytes ?? 64L * 1024 * 1024 * 1024,
            MinFreeBytes = minFreeBytes ?? 1L << 30,
            FreeBytesProbe = freeBytes,
        };
        Store = new ImageStore(Options, NullLogger<ImageStore>.Instance);
    }

    public string Base { get; }

    public ImageStoreOptions Options { get; }

    public ImageStore Store { get; private set; }

    /// <summary>Replaces <see cref="Store"/> with one loaded from disk (after a test wrote the index by hand).</summary>
    public ImageStoreSandbox WithReopenedStore()
    {
        Store = Reopen();
        return this;
    }

    /// <summary>A fresh store over the same root, as after an agent restart.</summary>
    public ImageStore Reopen() => new(Options, NullLogger<ImageStore>.Instance);

    public string PathIn(string name)
    {
        var path = Path.Combine(Base, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return path;
    }

    public string WriteFile(string name, byte[] content)
    {
        var path = PathIn(name);
        File.WriteAllBytes(path, content);
        return path;
    }

    /// <summary>Everything in the store root except the (empty) .tmp directory.</summary>
    public IReadOnlyList<string> StoreLeftovers() =>
        [.. Directory.EnumerateFileSystemEntries(Options.Root, "*", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(Options.Root, p))
            .Where(p => p != ".tmp")];

    /// <summary>Loop-mounts an erofs image disk read-only into a new directory; dispose unmounts it. Needs root: only [RootFact] tests call it.</summary>
    public async Task<MountedDisk> MountDiskAsync(string diskPath)
    {
        var target = PathIn("mnt-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(target);
        await RunAsync("mount", "-t", "erofs", "-o", "loop,ro", diskPath, target);
        return new MountedDisk(target);
    }

    internal static async Task RunAsync(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)} failed: {await stdout}{await stderr}");
    }

    public void Dispose()
    {
        if (Directory.Exists(Base))
        {
            // Never follows a symlink: extracted images hold absolute links such as bin/sh -> /bin/busybox.
            PosixFile.RemoveTree(Base);
        }
    }
}

/// <summary>A read-only loop mount of an image disk.</summary>
internal sealed class MountedDisk(string path) : IAsyncDisposable
{
    public string Path { get; } = path;

    public async ValueTask DisposeAsync()
    {
        await ImageStoreSandbox.RunAsync("umount", Path);
        Directory.Delete(Path);
    }
}
