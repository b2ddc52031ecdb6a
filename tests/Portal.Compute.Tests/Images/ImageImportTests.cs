using System.Formats.Tar;
using System.Text;
using Portal.Compute.Images;
using Portal.Tests.Shared;

namespace Portal.Compute.Tests.Images;

/// <summary>
/// Imports of every supported format, checked down to the files on the erofs disk. A finished import runs
/// mkfs.erofs, and most checks loop-mount the disk and read ownership: the root tier. A cancelled import stops
/// before the disk is built and runs anywhere.
/// </summary>
public sealed class ImageImportTests
{
    private static readonly string LongName = "opt/" + new string('d', 120) + "/" + new string('f', 110) + ".txt";

    [RootTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RootfsTar_ImportsOneImage_WithSynthesizedConfigAndPreservedMetadata(bool gzip)
    {
        using var sandbox = new ImageStoreSandbox();
        var tar = RootfsWithShell().ToBytes();
        var archive = sandbox.WriteFile("rootfs.tar", gzip ? TarBuilder.Gzip(tar) : tar);

        var records = await sandbox.Store.ImportAsync(archive, "myroot:1", null, CancellationToken.None);

        var image = Assert.Single(records);
        Assert.Equal(["myroot:1"], image.Tags);
        Assert.Equal([TarBuilder.Digest(tar)], image.Layers);
        Assert.Equal(["sh"], image.Config.Cmd);
        Assert.Equal(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], image.Config.Env);
        var configJson = await File.ReadAllBytesAsync(Path.Combine(sandbox.Options.Root, image.HexId, "config.json"));
        Assert.Equal(TarBuilder.Digest(configJson), image.Id);
        Assert.Contains(image.Layers[0], Encoding.UTF8.GetString(configJson));
        Assert.Equal(Path.Combine(sandbox.Options.Root, image.HexId, "disk.erofs"), image.DiskPath);
        Assert.Equal(new FileInfo(image.DiskPath).Length, image.SizeBytes);
        Assert.Equal([".tmp"], Directory.GetFileSystemEntries(sandbox.Options.Root).Select(Path.GetFileName).Where(n => n != image.HexId));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(sandbox.Options.Root, ".tmp")));

        await using var mount = await sandbox.MountDiskAsync(image.DiskPath);
        var rootfs = mount.Path;
        Assert.Equal("hello", await File.ReadAllTextAsync(Path.Combine(rootfs, "srv/app/hello.txt")));
        Assert.Equal(TarBuilder.Octal("4750"), File.GetUnixFileMode(Path.Combine(rootfs, "srv/app/tool")));
        Assert.Equal(TarBuilder.Octal("1777"), File.GetUnixFileMode(Path.Combine(rootfs, "tmp")));
        Assert.Equal("/bin/busybox", new FileInfo(Path.Combine(rootfs, "bin/sh")).LinkTarget);
        Assert.Equal("hello.txt", new FileInfo(Path.Combine(rootfs, "srv/app/greeting")).LinkTarget);
        Assert.Equal("hello", await File.ReadAllTextAsync(Path.Combine(rootfs, "srv/app/hardlinked")));
        Assert.Equal("long", await File.ReadAllTextAsync(Path.Combine(rootfs, LongName)));
        Assert.Equal(TarBuilder.Time.UtcDateTime, File.GetLastWriteTimeUtc(Path.Combine(rootfs, "srv/app/hello.txt")));
        Assert.Equal("1000:1001", await StatOwnerAsync(Path.Combine(rootfs, "srv/app/hello.txt")));
        Assert.Equal("fifo", await StatTypeAsync(Path.Combine(rootfs, "srv/app/pipe")));
    }

    [RootFact]
    public async Task RootfsTar_WithoutShell_HasNoDefaultCmd_AndReimportOnlyAddsTags()
    {
        using var sandbox = new ImageStoreSandbox();
        var archive = sandbox.WriteFile("plain.tar", new TarBuilder().Dir("etc").File("etc/os-release", "ID=test\n").ToBytes());

        var first = Assert.Single(await sandbox.Store.ImportAsync(archive, "plain", null, CancellationToken.None));
        var diskWritten = File.GetLastWriteTimeUtc(first.DiskPath);
        var second = Assert.Single(await sandbox.Store.ImportAsync(archive, "plain:again", null, CancellationToken.None));

        Assert.Empty(first.Config.Cmd);
        Assert.Equal(first.Id, second.Id);
        Assert.Equal(["plain:again", "plain:latest"], second.Tags);
        Assert.Equal(diskWritten, File.GetLastWriteTimeUtc(second.DiskPath));
        Assert.Single(sandbox.Store.List());
    }

    [RootTheory]
    [InlineData("directory", false)]
    [InlineData("tar", false)]
    [InlineData("tar.gz stream", false)]
    [InlineData("directory", true)]
    public async Task OciLayout_Imports_FollowingIndexToManifestToConfigAndLayers(string form, bool nestedIndex)
    {
        using var sandbox = new ImageStoreSandbox();
        var layers = new[]
        {
            new TestLayer(new TarBuilder().Dir("srv").File("srv/a.txt", "one").File("srv/b.txt", "two").ToBytes(), Gzip: true),
            new TestLayer(new TarBuilder().File("srv/b.txt", "two, changed").ToBytes(), Zstd: true),
        };
        var layout = sandbox.PathIn("layout");
        var id = ImageArchives.WriteOciLayout(layout, layers, "example.com/team/app:1.0", nestedIndex);

        IReadOnlyList<ImageRecord> records = form switch
        {
            "directory" => await sandbox.Store.ImportAsync(layout, null, null, CancellationToken.None),
            "tar" => await sandbox.Store.ImportAsync(sandbox.WriteFile("layout.tar", ImageArchives.TarDirectory(layout)), null, null, CancellationToken.None),
            _ => await sandbox.Store.ImportAsync(new MemoryStream(TarBuilder.Gzip(ImageArchives.TarDirectory(layout))), null, null, CancellationToken.None),
        };

        var image = Assert.Single(records);
        Assert.Equal(id, image.Id);
        Assert.Equal(["example.com/team/app:1.0"], image.Tags);
        Assert.Equal(layers.Select(l => l.DiffId), image.Layers);
        Assert.Equal(["/bin/app"], image.Config.Cmd);
        Assert.Equal("/srv", image.Config.WorkingDir);
        Assert.Equal(new DateTimeOffset(2021, 6, 7, 8, 9, 10, TimeSpan.Zero), image.CreatedAt);
        await using var mount = await sandbox.MountDiskAsync(image.DiskPath);
        var rootfs = mount.Path;
        Assert.Equal("one", await File.ReadAllTextAsync(Path.Combine(rootfs, "srv/a.txt")));
        Assert.Equal("two, changed", await File.ReadAllTextAsync(Path.Combine(rootfs, "srv/b.txt")));
    }

    [RootFact]
    public async Task OciLayout_ExplicitTagReplacesTheAnnotation()
    {
        using var sandbox = new ImageStoreSandbox();
        var layout = sandbox.PathIn("layout");
        ImageArchives.WriteOciLayout(layout, [new TestLayer(new TarBuilder().File("x", "x").ToBytes())], "ignored:1");

        var image = Assert.Single(await sandbox.Store.ImportAsync(layout, "chosen:2", null, CancellationToken.None));

        Assert.Equal(["chosen:2"], image.Tags);
    }

    [RootTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task DockerSave_TwoLayersWithWhiteoutAndOpaqueDirectory_FlattensLikeOverlay(bool ociStyle)
    {
        using var sandbox = new ImageStoreSandbox();
        var lower = new TestLayer(new TarBuilder()
            .Dir("etc").File("etc/a.conf", "a").File("etc/b.conf", "b")
            .Dir("opt").Dir("opt/x").File("opt/x/1", "1").Dir("opt/x/sub").File("opt/x/sub/2", "2")
            .Dir("keep").File("keep/k", "k")
            .ToBytes(), Gzip: true);
        var upper = new TestLayer(new TarBuilder()
            .File("opt/x/3", "3")
            .File("etc/.wh.a.conf", string.Empty)
            .File("opt/x/.wh..wh..opq", string.Empty)
            .Dir("opt/x/sub").File("opt/x/sub/4", "4")
            .Dir("new").File("new/n", "n")
            .ToBytes());
        var other = new TestLayer(new TarBuilder().File("other", "o").ToBytes());
        var archive = sandbox.WriteFile("saved.tar", ImageArchives.DockerSave(
            [(["docker.io/library/demo:2", "demo:latest"], [lower, upper]), (["localhost:5000/other:v1"], [other])], ociStyle));

        var records = await sandbox.Store.ImportAsync(archive, null, null, CancellationToken.None);

        Assert.Equal(2, records.Count);
        var demo = sandbox.Store.Resolve("demo:2");
        Assert.Equal(["demo:2", "demo:latest"], demo.Tags);
        Assert.Equal([lower.DiffId, upper.DiffId], demo.Layers);
        Assert.Equal(["localhost:5000/other:v1"], sandbox.Store.Resolve("localhost:5000/other:v1").Tags);

        await using var mount = await sandbox.MountDiskAsync(demo.DiskPath);
        var rootfs = mount.Path;
        var files = Directory.EnumerateFileSystemEntries(rootfs, "*", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(rootfs, p))
            .Order(StringComparer.Ordinal)
            .ToList();
        Assert.Equal(
            ["etc", "etc/b.conf", "keep", "keep/k", "new", "new/n", "opt", "opt/x", "opt/x/3", "opt/x/sub", "opt/x/sub/4"],
            files);
    }

    [RootFact]
    public async Task Import_SurvivesRestart_AndConcurrentImportsOfOneImageMergeTags()
    {
        using var sandbox = new ImageStoreSandbox();
        var archive = sandbox.WriteFile("r.tar", RootfsWithShell().ToBytes());

        var imports = Enumerable.Range(0, 4)
            .Select(i => sandbox.Store.ImportAsync(archive, $"parallel:{i}", null, CancellationToken.None))
            .ToList();
        await Task.WhenAll(imports);

        var image = Assert.Single(sandbox.Store.List());
        Assert.Equal(["parallel:0", "parallel:1", "parallel:2", "parallel:3"], image.Tags);
        var reopened = sandbox.Reopen();
        var reloaded = Assert.Single(reopened.List());
        Assert.Equal((image.Id, image.DiskPath, image.SizeBytes, image.CreatedAt), (reloaded.Id, reloaded.DiskPath, reloaded.SizeBytes, reloaded.CreatedAt));
        Assert.Equal(image.Tags, reopened.Resolve("parallel:2").Tags);
        Assert.Equal(image.Layers, reloaded.Layers);
        Assert.Equal(image.Config.Cmd, reopened.Resolve(image.Id).Config.Cmd);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(sandbox.Options.Root, ".tmp")));
    }

    [Fact]
    public async Task Import_ReportsProgress_AndCancellationLeavesNothing()
    {
        using var sandbox = new ImageStoreSandbox();
        var archive = sandbox.WriteFile("r.tar", RootfsWithShell().ToBytes());
        using var cts = new CancellationTokenSource();
        var stages = new List<string>();
        var progress = new SynchronousProgress<ImageImportProgress>(p =>
        {
            stages.Add(p.Stage);
            if (p.Stage == "extract")
            {
                cts.Cancel();
            }
        });

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sandbox.Store.ImportAsync(archive, "cancelled", progress, cts.Token));

        Assert.Contains("extract", stages);
        Assert.Empty(sandbox.StoreLeftovers());
        Assert.Empty(sandbox.Store.List());
    }

    internal static TarBuilder RootfsWithShell() =>
        new TarBuilder()
            .Dir("bin").File("bin/busybox", "#!fake", "755").Symlink("bin/sh", "/bin/busybox")
            .Dir("tmp", "1777")
            .Dir("srv").Dir("srv/app", "750", 1000, 1001)
            .File("srv/app/hello.txt", "hello", "640", 1000, 1001)
            .File("srv/app/tool", "tool", "4750")
            .Symlink("srv/app/greeting", "hello.txt")
            .HardLink("srv/app/hardlinked", "srv/app/hello.txt")
            .Special(TarEntryType.Fifo, "srv/app/pipe")
            .File(LongName, "long");

    private static async Task<string> StatOwnerAsync(string path) => await RunAsync("stat", "-c", "%u:%g", path);

    private static async Task<string> StatTypeAsync(string path) => await RunAsync("stat", "-c", "%F", path) switch
    {
        var t when t.Contains("fifo", StringComparison.Ordinal) => "fifo",
        var t => t,
    };

    private static async Task<string> RunAsync(string file, params string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo(file) { RedirectStandardOutput = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = System.Diagnostics.Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return output.Trim();
    }
}
