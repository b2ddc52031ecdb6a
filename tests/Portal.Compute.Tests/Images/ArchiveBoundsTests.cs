using System.Diagnostics;
using System.Text;
using Portal.Compute.Images;
using Portal.Tests.Shared;

namespace Portal.Compute.Tests.Images;

/// <summary>
/// What an archive can make an import allocate, read and write is bounded: metadata records (PAX, GNU long names)
/// before the tar reader allocates them, the decompressed bytes of all images of one archive together, and the free
/// space left on the store's filesystem. Each case is refused with ImageRejected saying what was wrong.
/// </summary>
[Collection(ProcessMeasuring.Name)]
public sealed class ArchiveBoundsTests
{
    /// <summary>What the refused imports may allocate in all; the hole allocated 1.5 GiB in one call.</summary>
    private const long AllocationBound = 256L << 20;

    public static TheoryData<char, string> MetadataTypes => new()
    {
        { 'x', "a PAX extended header" },
        { 'g', "a PAX global header" },
        { 'L', "a GNU long name record" },
        { 'K', "a GNU long link record" },
    };

    [Theory]
    [MemberData(nameof(MetadataTypes))]
    public async Task HugeMetadataRecord_IsRefusedBeforeItIsAllocated(char type, string kind)
    {
        using var sandbox = new ImageStoreSandbox();

        // A 1.5 GiB record declared, 4 MiB of it present: the gzip is small, the allocation would not be.
        var archive = sandbox.WriteFile("meta.tar.gz", TarBuilder.Gzip(RawTar(("huge", type, 1536L << 20, 4 << 20))));
        var before = GC.GetTotalAllocatedBytes(precise: true);

        var error = await Assert.ThrowsAsync<ComputeException>(() => sandbox.Store.ImportAsync(archive, "meta", null, CancellationToken.None));

        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
        Assert.Contains(kind + " of 1610612736 bytes", error.Message, StringComparison.Ordinal);
        Assert.Contains("at most 1048576 bytes", error.Message, StringComparison.Ordinal);
        Assert.True(allocated < AllocationBound, $"the refused import allocated {allocated} bytes");
        Assert.Empty(sandbox.StoreLeftovers());
    }

    [Fact]
    public async Task HugeMetadataRecordInALayer_IsRefused_NamingTheLayer()
    {
        using var sandbox = new ImageStoreSandbox();
        var hostile = new TestLayer(RawTar(("long", 'L', 1536L << 20, 1 << 20)), Gzip: true);
        var archive = sandbox.WriteFile("save.tar", ImageArchives.DockerSave([(["meta:1"], [hostile])]));

        var error = await Assert.ThrowsAsync<ComputeException>(() => sandbox.Store.ImportAsync(archive, null, null, CancellationToken.None));

        Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
        Assert.Contains("Layer 1", error.Message, StringComparison.Ordinal);
        Assert.Contains("a GNU long name record of 1610612736 bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MetadataRecordsUpToTheCap_AreRead()
    {
        // A long (PAX) name and a 100 KiB PAX header pass the guard and the entry they describe is unpacked.
        var name = "d/" + new string('n', 200);
        var tar = new TarBuilder().Dir("d").File(name, "x").ToBytes();
        var budget = new ImportBudget(new ImageStoreOptions { Root = Path.GetTempPath() }, Path.GetTempPath());
        using var guarded = new BoundedTarStream(new MemoryStream(tar), budget, "the archive");
        using var reader = new System.Formats.Tar.TarReader(guarded);
        var names = new List<string>();
        while (await reader.GetNextEntryAsync() is { } entry)
        {
            names.Add(entry.Name);
        }

        Assert.Equal(name, names[^1]);
        Assert.InRange(budget.Bytes, tar.Length - 512, tar.Length); // the reader stops at the first end block
    }

    [Fact]
    public async Task GzipBomb_IsRefusedAtTheBudget_WithoutUnpackingItAll()
    {
        // 256 MiB of zeros gzip to about 250 KiB.
        using var sandbox = new ImageStoreSandbox(maxBytes: 32L << 20);
        var archive = sandbox.WriteFile("bomb.tar.gz", GzipTarOfZeros("zeros", 256L << 20));
        var watch = Stopwatch.StartNew();

        var error = await Assert.ThrowsAsync<ComputeException>(() => sandbox.Store.ImportAsync(archive, "bomb", null, CancellationToken.None));

        Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
        Assert.Contains("entry 'zeros' takes the import past 33554432 unpacked bytes", error.Message, StringComparison.Ordinal);
        Assert.Contains("MaxExtractedBytes", error.Message, StringComparison.Ordinal);
        Assert.Empty(sandbox.StoreLeftovers());
    }

    [Fact]
    public async Task DeclaredHugeEntry_IsRefusedAtItsHeader_BeforeItsDataIsRead()
    {
        // A whiteout is never written, but its data would still be decompressed to skip it: the header alone decides.
        using var sandbox = new ImageStoreSandbox(maxBytes: 1L << 30);
        var archive = sandbox.WriteFile("declared.tar", RawTar(("a/.wh.b", '0', 100L << 30, 0)));

        var error = await Assert.ThrowsAsync<ComputeException>(() => sandbox.Store.ImportAsync(archive, "declared", null, CancellationToken.None));

        Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
        Assert.Contains("entry 'a/.wh.b' takes the import past", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MultiImageArchive_SharesOneBudget()
    {
        // Three images of 100 KiB layers: each fits a 400 KiB budget alone, the archive (about 300 KiB) too, all together do not.
        using var sandbox = new ImageStoreSandbox(maxBytes: 400 << 10);
        var images = Enumerable.Range(0, 3)
            .Select(i => (new[] { $"multi:{i}" }, (IReadOnlyList<TestLayer>)[new TestLayer(new TarBuilder().File($"f{i}", RandomBytes(i, 100 << 10)).ToBytes())]))
            .ToList();
        var archive = sandbox.WriteFile("multi.tar", ImageArchives.DockerSave(images));

        var error = await Assert.ThrowsAsync<ComputeException>(() => sandbox.Store.ImportAsync(archive, null, null, CancellationToken.None));

        Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
        Assert.Contains("all images and layers of the archive together", error.Message, StringComparison.Ordinal);
        Assert.Empty(sandbox.Store.List());
        Assert.Empty(sandbox.StoreLeftovers());
    }

    [Fact]
    public async Task MultiImageArchive_EntriesShareOneBudget()
    {
        // Two images of 30 entries each under a limit of 50: each alone fits, the archive does not.
        using var sandbox = new ImageStoreSandbox(maxEntries: 50);
        var images = Enumerable.Range(0, 2)
            .Select(i =>
            {
                var builder = new TarBuilder();
                for (var f = 0; f < 30; f++)
                {
                    builder.File($"i{i}-f{f}", "x");
                }

                return (new[] { $"entries:{i}" }, (IReadOnlyList<TestLayer>)[new TestLayer(builder.ToBytes())]);
            })
            .ToList();
        var archive = sandbox.WriteFile("entries.tar", ImageArchives.DockerSave(images));

        var error = await Assert.ThrowsAsync<ComputeException>(() => sandbox.Store.ImportAsync(archive, null, null, CancellationToken.None));

        Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
        Assert.Contains("all images and layers of the archive together", error.Message, StringComparison.Ordinal);
        Assert.Contains("MaxArchiveEntries", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LowFreeSpace_IsRefusedBeforeUnpacking()
    {
        var probed = new List<string>();
        using var sandbox = new ImageStoreSandbox(minFreeBytes: 1L << 30, freeBytes: path =>
        {
            probed.Add(path);
            return 100L << 20;
        });
        var archive = sandbox.WriteFile("small.tar", new TarBuilder().File("a", "x").ToBytes());

        var error = await Assert.ThrowsAsync<ComputeException>(() => sandbox.Store.ImportAsync(archive, "small", null, CancellationToken.None));

        Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
        Assert.Contains("Not enough disk space", error.Message, StringComparison.Ordinal);
        Assert.Contains("104857600 bytes free", error.Message, StringComparison.Ordinal);
        Assert.Contains("1073741824 bytes are kept in reserve", error.Message, StringComparison.Ordinal);
        Assert.All(probed, p => Assert.StartsWith(sandbox.Options.Root, p, StringComparison.Ordinal));
        Assert.Empty(sandbox.StoreLeftovers());
    }

    [Fact]
    public async Task LowFreeSpace_OnAnUpload_IsRefusedBeforeReadingIt()
    {
        using var sandbox = new ImageStoreSandbox(minFreeBytes: 1L << 30, freeBytes: _ => 1L << 20);

        var error = await Assert.ThrowsAsync<ComputeException>(
            () => sandbox.Store.ImportAsync(new MemoryStream(new TarBuilder().File("a", "x").ToBytes()), "small", null, CancellationToken.None));

        Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
        Assert.Contains("Not enough disk space for the uploaded archive", error.Message, StringComparison.Ordinal);
    }

    [RootFact]
    public async Task FillingASmallFilesystem_IsRefusedAtTheReserve_WhileUnpacking()
    {
        // A real 48 MiB filesystem for the store, a reserve of 24 MiB, and a layer of 48 files of 1 MiB: the import is
        // refused while unpacking, before the filesystem is full (not by ENOSPC), and leaves nothing behind.
        var mount = Path.Combine(Path.GetTempPath(), "portal-images-small-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(mount);
        await ImageStoreSandbox.RunAsync("mount", "-t", "tmpfs", "-o", "size=48m,mode=0700", "portal-test", mount);
        try
        {
            using var sandbox = new ImageStoreSandbox(minFreeBytes: 24L << 20, under: mount);
            var builder = new TarBuilder();
            for (var i = 0; i < 48; i++)
            {
                builder.File($"fill{i}", new byte[1 << 20]);
            }

            var archive = sandbox.WriteFile("fill.tar.gz", builder.ToBytes(gzip: true));

            var error = await Assert.ThrowsAsync<ComputeException>(() => sandbox.Store.ImportAsync(archive, "fill", null, CancellationToken.None));

            Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
            Assert.Matches("Not enough disk space for the archive, entry 'fill[0-9]+'", error.Message);
            Assert.Contains("25165824 bytes are kept in reserve", error.Message, StringComparison.Ordinal);
            Assert.Empty(sandbox.StoreLeftovers());
            Assert.True(new DriveInfo(mount).AvailableFreeSpace > 24L << 20, "the workspace was removed");
        }
        finally
        {
            await ImageStoreSandbox.RunAsync("umount", mount);
            Directory.Delete(mount);
        }
    }

    [Fact]
    public void SizeFields_OctalAndBase256_AreParsed()
    {
        Assert.Equal(1536L << 20, BoundedTarStream.ParseSize(Encoding.ASCII.GetBytes("14000000000\0")));
        Assert.Equal(0, BoundedTarStream.ParseSize(new byte[12]));
        byte[] base256 = [0x80, 0, 0, 0, 0, 0, 0, 0x19, 0, 0, 0, 0];
        Assert.Equal(100L << 30, BoundedTarStream.ParseSize(base256));
        Assert.Null(BoundedTarStream.ParseSize([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
        Assert.Equal(42, BoundedTarStream.PaxSize("16 path=abcdefg\n11 size=42\n"u8));
    }

    /// <summary>
    /// A tar of raw headers ("name", type, declared size, bytes of data actually present), ustar with valid checksums;
    /// no end blocks when the data is cut short, as an attacker would send.
    /// </summary>
    internal static byte[] RawTar(params (string Name, char Type, long Size, int Present)[] entries)
    {
        using var output = new MemoryStream();
        foreach (var (name, type, size, present) in entries)
        {
            output.Write(Header(name, type, size));
            output.Write(new byte[(present + 511) / 512 * 512]);
        }

        output.Write(new byte[1024]);
        return output.ToArray();
    }

    internal static byte[] Header(string name, char type, long size)
    {
        var header = new byte[512];
        Encoding.ASCII.GetBytes(name).CopyTo(header, 0);
        Encoding.ASCII.GetBytes("0000644\0").CopyTo(header, 100);
        Encoding.ASCII.GetBytes("0000000\0").CopyTo(header, 108);
        Encoding.ASCII.GetBytes("0000000\0").CopyTo(header, 116);
        if (size < 1L << 33)
        {
            Encoding.ASCII.GetBytes(Convert.ToString(size, 8).PadLeft(11, '0') + "\0").CopyTo(header, 124);
        }
        else
        {
            header[124] = 0x80;
            for (var i = 0; i < 8; i++)
            {
                header[135 - i] = (byte)(size >> (8 * i));
            }
        }

        Encoding.ASCII.GetBytes("00000000000\0").CopyTo(header, 136);
        header[156] = (byte)type;
        Encoding.ASCII.GetBytes("ustar\0").CopyTo(header, 257);
        Encoding.ASCII.GetBytes("00").CopyTo(header, 263);
        "        "u8.CopyTo(header.AsSpan(148));
        var sum = header.Sum(b => (int)b);
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(header, 148);
        return header;
    }

    /// <summary>A gzipped tar of one file of <paramref name="size"/> zeros, streamed (never held in memory).</summary>
    private static byte[] GzipTarOfZeros(string name, long size)
    {
        using var output = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(output, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(Header(name, '0', size));
            var zeros = new byte[1 << 20];
            for (long left = size; left > 0; left -= zeros.Length)
            {
                gzip.Write(zeros, 0, (int)Math.Min(zeros.Length, left));
            }

            gzip.Write(new byte[1024]);
        }

        return output.ToArray();
    }

    private static byte[] RandomBytes(int seed, int length)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
