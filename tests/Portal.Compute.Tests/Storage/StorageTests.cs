using Portal.Compute.Storage;

namespace Portal.Compute.Tests.Storage;

public sealed class StorageTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("portal-storage-").FullName;

    [Fact]
    public void Sparse_copy_keeps_content_and_holes()
    {
        var source = Path.Combine(_dir, "source");
        using (var f = new FileStream(source, FileMode.Create))
        {
            f.SetLength(256L << 20);
            f.Position = 1 << 20;
            f.Write("hello"u8);
            f.Position = 200L << 20;
            f.Write("world"u8);
        }

        var copy = Path.Combine(_dir, "copy");
        ScratchDisk.CopySparse(source, copy);
        Assert.Equal(new FileInfo(source).Length, new FileInfo(copy).Length);
        using (var f = File.OpenRead(copy))
        {
            var buffer = new byte[5];
            f.Position = 1 << 20;
            f.ReadExactly(buffer);
            Assert.Equal("hello"u8.ToArray(), buffer);
            f.Position = 200L << 20;
            f.ReadExactly(buffer);
            Assert.Equal("world"u8.ToArray(), buffer);
        }

        Assert.True(AllocatedBytes(copy) < 16L << 20, "the copy must stay sparse");
    }

    [Fact]
    public async Task Scratch_disks_are_formatted_once_and_copied()
    {
        var disks = new ScratchDisk(Path.Combine(_dir, "cache"), 1L << 30);
        await disks.CreateAsync(Path.Combine(_dir, "a.ext4"), CancellationToken.None);
        await disks.CreateAsync(Path.Combine(_dir, "b.ext4"), CancellationToken.None);
        Assert.Equal(1L << 30, new FileInfo(Path.Combine(_dir, "b.ext4")).Length);
        Assert.Single(Directory.GetFiles(Path.Combine(_dir, "cache"), "*.ext4"));
        Assert.True(AllocatedBytes(Path.Combine(_dir, "b.ext4")) < 64L << 20);
    }

    [Fact]
    public async Task State_files_are_replaced_whole()
    {
        var path = Path.Combine(_dir, "state.json");
        await StateFile.WriteAsync(path, new Sample("one", 1));
        await StateFile.WriteAsync(path, new Sample("two", 2));
        Assert.Equal(new Sample("two", 2), StateFile.Read<Sample>(path));
        Assert.Null(StateFile.Read<Sample>(Path.Combine(_dir, "missing.json")));
        Assert.Single(Directory.GetFiles(_dir)); // no temp files left
    }

    private sealed record Sample(string Name, int Value);

    private static long AllocatedBytes(string path)
    {
        using var stat = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%b %B", path]) { RedirectStandardOutput = true })!;
        var parts = stat.StandardOutput.ReadToEnd().Trim().Split(' ');
        stat.WaitForExit();
        return long.Parse(parts[0]) * long.Parse(parts[1]);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
