using System.Diagnostics;
using Portal.Compute.Images;
using Portal.Tests.Shared;

namespace Portal.Compute.Tests.Images;

/// <summary>
/// The built-in busybox base image from Debian's busybox-static (/bin/busybox). Building it runs busybox and
/// mkfs.erofs and the check loop-mounts the disk: the root tier. A missing binary is refused before any of that.
/// </summary>
public sealed class BusyboxImageTests
{
    private const string BusyboxPath = "/bin/busybox";

    [RootFact]
    public async Task EnsureBusybox_BuildsOnce_IsIdempotent_AndHasAStableId()
    {
        using var first = new ImageStoreSandbox();
        using var second = new ImageStoreSandbox();

        var built = await first.Store.EnsureBusyboxAsync(BusyboxPath, CancellationToken.None);
        var watch = Stopwatch.StartNew();
        var again = await first.Store.EnsureBusyboxAsync(BusyboxPath, CancellationToken.None);
        var fastPath = watch.Elapsed;
        var elsewhere = await second.Store.EnsureBusyboxAsync(BusyboxPath, CancellationToken.None);

        Assert.Same(built, again);
        Assert.True(fastPath < TimeSpan.FromMilliseconds(100), $"the second call took {fastPath}");
        Assert.Equal(built.Id, elsewhere.Id);
        Assert.Equal(built.Layers, elsewhere.Layers);
        Assert.Equal(["busybox:latest"], built.Tags);
        Assert.Equal(["sh"], built.Config.Cmd);
        Assert.Equal(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], built.Config.Env);
        Assert.Same(built, first.Store.Resolve("busybox"));
        Assert.Equal(built.Id, first.Reopen().Resolve("docker.io/library/busybox:latest").Id);

        await using var mount = await first.MountDiskAsync(built.DiskPath);
        var rootfs = mount.Path;
        Assert.Equal(await File.ReadAllBytesAsync(BusyboxPath), await File.ReadAllBytesAsync(Path.Combine(rootfs, "bin/busybox")));
        Assert.Equal("/bin/busybox", new FileInfo(Path.Combine(rootfs, "bin/sh")).LinkTarget);
        Assert.Equal("/bin/busybox", new FileInfo(Path.Combine(rootfs, "bin/ls")).LinkTarget);
        Assert.StartsWith("root:x:0:0:root:/root:/bin/sh\n", await File.ReadAllTextAsync(Path.Combine(rootfs, "etc/passwd")), StringComparison.Ordinal);
        Assert.Contains("nobody:", await File.ReadAllTextAsync(Path.Combine(rootfs, "etc/passwd")), StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(rootfs, "etc/group")));
        foreach (var directory in new[] { "proc", "sys", "dev", "tmp", "root" })
        {
            Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(rootfs, directory)));
        }

        Assert.Equal(TarBuilder.Octal("1777"), File.GetUnixFileMode(Path.Combine(rootfs, "tmp")));
    }

    [RootFact]
    public async Task EnsureBusybox_ConcurrentCallers_GetOneImage()
    {
        using var sandbox = new ImageStoreSandbox();

        var results = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => sandbox.Store.EnsureBusyboxAsync(BusyboxPath, CancellationToken.None)));

        Assert.Single(results.Select(r => r.Id).Distinct());
        Assert.Single(sandbox.Store.List());
    }

    [Fact]
    public async Task EnsureBusybox_MissingBinary_IsInvalidArgument()
    {
        using var sandbox = new ImageStoreSandbox();

        var error = await Assert.ThrowsAsync<ComputeException>(() => sandbox.Store.EnsureBusyboxAsync("/nonexistent/busybox", CancellationToken.None));

        Assert.Equal(ComputeErrorCode.InvalidArgument, error.Code);
        Assert.Contains("busybox-static", error.Message, StringComparison.Ordinal);
        Assert.Empty(sandbox.StoreLeftovers());
    }
}
