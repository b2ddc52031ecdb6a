using System.Formats.Tar;
using Portal.Compute.Images;

namespace Portal.Compute.Tests.Images;

/// <summary>
/// Hostile archives: each is refused with ImageRejected naming the offending entry and the rule it breaks, nothing
/// stays in the store, and nothing was ever written outside the extraction root. The unit tier: every archive is
/// refused before mkfs.erofs runs, so no root and no external process is needed (as root the same tests also
/// prove that nothing reached /etc or /abs).
/// </summary>
public sealed class ArchiveSafetyTests : IDisposable
{
    /// <summary>Outside target the cases aim at; each test checks nothing was created in it.</summary>
    private readonly string _outside = Path.Combine(Path.GetTempPath(), "portal-evil-" + Guid.NewGuid().ToString("N"));

    /// <summary>
    /// Case, offending entry, and the reason the check gives. The reason proves the safety check refused the entry,
    /// not a permission error: as an unprivileged user a write to /abs or a mknod would fail anyway.
    /// </summary>
    public static TheoryData<string, string, string> HostileCases => new()
    {
        { "dot-dot", "../evil", "climbs out of the image root" },
        { "nested-dot-dot", "a/../../evil", "climbs out of the image root" },
        { "absolute", "/abs/evil", "has an absolute path" },
        { "write-through-absolute-symlink", "link/file", "goes through the symlink 'link'" },
        { "write-through-relative-symlink", "inner/file", "goes through the symlink 'inner'" },
        { "relative-symlink-escapes", "up", "which leaves the image root" },
        { "hardlink-outside", "hl", "which is outside the image root" },
        { "hardlink-through-symlink", "hl", "goes through the symlink 'sl'" },
        { "hardlink-to-symlink", "hl", "hard links to symlinks are not allowed" },
        { "char-device", "dev/evil-null", "is a character device node" },
        { "block-device", "dev/evil-sda", "is a block device node" },
        { "whiteout-through-symlink", "etc-link/.wh.passwd", "goes through the symlink 'etc-link'" },
        { "opaque-through-symlink", "etc-link/.wh..wh..opq", "goes through the symlink 'etc-link'" },
        { "replace-parent-with-symlink-then-write", "d/file", "goes through the symlink 'd'" },
    };

    [Theory]
    [MemberData(nameof(HostileCases))]
    public async Task RootfsTar_HostileEntry_IsRefused_NamingTheEntryAndWhy(string caseName, string offendingEntry, string why)
    {
        using var sandbox = new ImageStoreSandbox();
        var before = HostSnapshot();
        var archive = sandbox.WriteFile("hostile.tar", Hostile(caseName).ToBytes());

        var error = await Assert.ThrowsAsync<ComputeException>(() => sandbox.Store.ImportAsync(archive, "hostile", null, CancellationToken.None));

        Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
        Assert.Contains($"entry '{offendingEntry}' ", error.Message, StringComparison.Ordinal);
        Assert.Contains(why, error.Message, StringComparison.Ordinal);
        AssertNothingEscaped(sandbox, before);
    }

    [Theory]
    [MemberData(nameof(HostileCases))]
    public async Task DockerSave_HostileEntryInUpperLayer_IsRefused(string caseName, string offendingEntry, string why)
    {
        using var sandbox = new ImageStoreSandbox();
        var before = HostSnapshot();
        var lower = new TestLayer(new TarBuilder().Dir("etc").File("etc/passwd", "root:x:0:0::/root:/bin/sh\n").ToBytes());
        var upper = new TestLayer(Hostile(caseName).ToBytes(), Gzip: true);
        var archive = sandbox.WriteFile("hostile.tar", ImageArchives.DockerSave([(["hostile:1"], [lower, upper])]));

        var error = await Assert.ThrowsAsync<ComputeException>(() => sandbox.Store.ImportAsync(archive, null, null, CancellationToken.None));

        Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
        Assert.Contains($"entry '{offendingEntry}' ", error.Message, StringComparison.Ordinal);
        Assert.Contains(why, error.Message, StringComparison.Ordinal);
        Assert.Contains("Layer 2", error.Message, StringComparison.Ordinal);
        AssertNothingEscaped(sandbox, before);
    }

    [Theory]
    [InlineData("../escape.json")]
    [InlineData("/etc/passwd")]
    [InlineData("sneaky/layer.tar")]
    public async Task DockerSave_ManifestPathOutsideTheArchive_IsRefused(string layerPath)
    {
        using var sandbox = new ImageStoreSandbox();
        var directory = sandbox.PathIn("saved");
        Directory.CreateDirectory(directory);
        // "sneaky" is an absolute symlink: reading through it would read the host.
        File.CreateSymbolicLink(Path.Combine(directory, "sneaky"), "/etc");
        var config = ImageArchives.Config([]);
        var configName = TarBuilder.Digest(config)["sha256:".Length..] + ".json";
        await File.WriteAllBytesAsync(Path.Combine(directory, configName), config);
        await File.WriteAllTextAsync(
            Path.Combine(directory, "manifest.json"),
            $"[{{\"Config\":\"{configName}\",\"RepoTags\":[\"x:1\"],\"Layers\":[\"{layerPath}\"]}}]");

        var error = await Assert.ThrowsAsync<ComputeException>(() => sandbox.Store.ImportAsync(directory, null, null, CancellationToken.None));

        Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
        Assert.Contains(layerPath, error.Message, StringComparison.Ordinal);
        Assert.Empty(sandbox.StoreLeftovers());
    }

    [Fact]
    public async Task OciLayoutTar_HostileOuterEntry_IsRefused()
    {
        using var sandbox = new ImageStoreSandbox();
        var layout = sandbox.PathIn("layout");
        ImageArchives.WriteOciLayout(layout, [new TestLayer(new TarBuilder().File("x", "x").ToBytes())], "x:1");
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var file in Directory.EnumerateFiles(layout, "*", SearchOption.AllDirectories))
            {
                writer.WriteEntry(file, Path.GetRelativePath(layout, file));
            }

            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "blobs/../../outer-evil") { DataStream = new MemoryStream([1]) });
        }

        var error = await Assert.ThrowsAsync<ComputeException>(() => sandbox.Store.ImportAsync(new MemoryStream(tar.ToArray()), null, null, CancellationToken.None));

        Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
        Assert.Contains("entry 'blobs/../../outer-evil'", error.Message, StringComparison.Ordinal);
        Assert.Empty(sandbox.StoreLeftovers());
    }

    [Theory]
    [InlineData("entries")]
    [InlineData("bytes")]
    public async Task TarBomb_BeyondTheConfiguredLimits_IsRefused(string limit)
    {
        using var sandbox = new ImageStoreSandbox(maxEntries: limit == "entries" ? 50 : null, maxBytes: limit == "bytes" ? 100_000 : null);
        var builder = new TarBuilder();
        for (var i = 0; i < 100; i++)
        {
            builder.File($"f{i}", new byte[2000]);
        }

        var archive = sandbox.WriteFile("bomb.tar.gz", builder.ToBytes(gzip: true));

        var error = await Assert.ThrowsAsync<ComputeException>(() => sandbox.Store.ImportAsync(archive, "bomb", null, CancellationToken.None));

        Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
        Assert.Contains(limit == "entries" ? "MaxArchiveEntries" : "MaxExtractedBytes", error.Message, StringComparison.Ordinal);
        Assert.Matches("entry 'f[0-9]+'", error.Message);
        Assert.Empty(sandbox.StoreLeftovers());
    }

    [Fact]
    public async Task XzLayer_IsRefused_WithAClearMessage()
    {
        using var sandbox = new ImageStoreSandbox();
        var xz = new TestLayer([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 0]);
        var layout = sandbox.PathIn("layout");
        ImageArchives.WriteOciLayout(layout, [xz], "x:1", config: ImageArchives.Config([]));

        var error = await Assert.ThrowsAsync<ComputeException>(() => sandbox.Store.ImportAsync(layout, null, null, CancellationToken.None));

        Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
        Assert.Contains("xz", error.Message, StringComparison.Ordinal);
        Assert.Empty(sandbox.StoreLeftovers());
    }

    [Theory]
    [InlineData("layer-blob")]
    [InlineData("config-blob")]
    [InlineData("diff-id")]
    [InlineData("docker-config-name")]
    public async Task DigestMismatch_IsRefused(string what)
    {
        using var sandbox = new ImageStoreSandbox();
        var layer = new TestLayer(new TarBuilder().File("data", "genuine").ToBytes(), Gzip: true);
        string source;
        if (what == "docker-config-name")
        {
            var saved = ImageArchives.DockerSave([(["d:1"], [layer])]);
            var directory = sandbox.PathIn("saved");
            Directory.CreateDirectory(directory);
            await TarFile.ExtractToDirectoryAsync(new MemoryStream(saved), directory, overwriteFiles: false);
            var configFile = Directory.GetFiles(directory, "*.json").Single(f => !f.EndsWith("manifest.json", StringComparison.Ordinal));
            await File.WriteAllTextAsync(configFile, (await File.ReadAllTextAsync(configFile)).Replace("/bin/app", "/bin/evil", StringComparison.Ordinal));
            source = directory;
        }
        else
        {
            source = sandbox.PathIn("layout");
            var config = what == "diff-id" ? ImageArchives.Config([new TestLayer(new TarBuilder().File("data", "other").ToBytes())]) : null;
            ImageArchives.WriteOciLayout(source, [layer], "d:1", config: config);
            var blobs = Path.Combine(source, "blobs", "sha256");
            var victim = what switch
            {
                "layer-blob" => TarBuilder.Digest(layer.Blob),
                "config-blob" => TarBuilder.Digest(ImageArchives.Config([layer])),
                _ => null,
            };
            if (victim is not null)
            {
                var path = Path.Combine(blobs, victim["sha256:".Length..]);
                var bytes = await File.ReadAllBytesAsync(path);
                bytes[^1] ^= 0xff;
                await File.WriteAllBytesAsync(path, bytes);
            }
        }

        var error = await Assert.ThrowsAsync<ComputeException>(() => sandbox.Store.ImportAsync(source, null, null, CancellationToken.None));

        Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
        Assert.Contains(what == "diff-id" ? "hashes to" : "does not match its digest", error.Message, StringComparison.Ordinal);
        Assert.Empty(sandbox.StoreLeftovers());
    }

    /// <summary>A docker save of two images whose second is corrupt: the archive is refused whole, the first image too.</summary>
    [Fact]
    public async Task AnArchiveWithOneCorruptImage_LeavesNoneOfItsImages()
    {
        using var sandbox = new ImageStoreSandbox();
        var good = new TestLayer(new TarBuilder().File("good", "first image").ToBytes());
        var bad = new TestLayer(new TarBuilder().File("bad", "second image").ToBytes());
        var directory = sandbox.PathIn("saved");
        Directory.CreateDirectory(directory);
        await TarFile.ExtractToDirectoryAsync(new MemoryStream(ImageArchives.DockerSave([(["a:1"], [good]), (["b:1"], [bad])])), directory, overwriteFiles: false);
        var layer = Path.Combine(directory, TarBuilder.Digest(bad.Blob)["sha256:".Length..], "layer.tar");
        var bytes = await File.ReadAllBytesAsync(layer);
        bytes[^1] ^= 0xff;
        await File.WriteAllBytesAsync(layer, bytes);

        var error = await Assert.ThrowsAsync<ComputeException>(() => sandbox.Store.ImportAsync(directory, null, null, CancellationToken.None));

        Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
        Assert.Empty(sandbox.Store.List());
        Assert.Empty(sandbox.StoreLeftovers());
    }

    private TarBuilder Hostile(string caseName)
    {
        Directory.CreateDirectory(_outside);
        var builder = new TarBuilder().Dir("etc").File("etc/hostname", "h");
        return caseName switch
        {
            "dot-dot" => builder.File("../evil", "x"),
            "nested-dot-dot" => builder.Dir("a").File("a/../../evil", "x"),
            "absolute" => builder.File("/abs/evil", "x"),
            "write-through-absolute-symlink" => builder.Symlink("link", _outside).File("link/file", "x"),
            "write-through-relative-symlink" => builder.Dir("real").Symlink("inner", "real").File("inner/file", "x"),
            "relative-symlink-escapes" => builder.Dir("a").Symlink("up", "../../.."),
            "hardlink-outside" => builder.HardLink("hl", "../../etc/passwd"),
            "hardlink-through-symlink" => builder.Symlink("sl", "/etc").HardLink("hl", "sl/passwd"),
            "hardlink-to-symlink" => builder.Symlink("sl", "/etc/passwd").HardLink("hl", "sl"),
            "char-device" => builder.Dir("dev").Special(TarEntryType.CharacterDevice, "dev/evil-null"),
            "block-device" => builder.Dir("dev").Special(TarEntryType.BlockDevice, "dev/evil-sda"),
            "whiteout-through-symlink" => builder.Symlink("etc-link", "/etc").File("etc-link/.wh.passwd", string.Empty),
            "opaque-through-symlink" => builder.Symlink("etc-link", "/etc").File("etc-link/.wh..wh..opq", string.Empty),
            "replace-parent-with-symlink-then-write" => builder.Dir("d").File("d/ok", "x").Symlink("d", _outside).File("d/file", "x"),
            _ => throw new ArgumentOutOfRangeException(nameof(caseName)),
        };
    }

    private (string Passwd, DateTime PasswdTime, bool AbsExists, string[] OutsideFiles) HostSnapshot()
    {
        Directory.CreateDirectory(_outside);
        return (File.ReadAllText("/etc/passwd"), File.GetLastWriteTimeUtc("/etc/passwd"), Directory.Exists("/abs"), Directory.GetFileSystemEntries(_outside));
    }

    private void AssertNothingEscaped(ImageStoreSandbox sandbox, (string Passwd, DateTime PasswdTime, bool AbsExists, string[] OutsideFiles) before)
    {
        Assert.Empty(sandbox.StoreLeftovers());
        Assert.Empty(sandbox.Store.List());
        Assert.Equal(before, (File.ReadAllText("/etc/passwd"), File.GetLastWriteTimeUtc("/etc/passwd"), Directory.Exists("/abs"), Directory.GetFileSystemEntries(_outside)), new SnapshotComparer());
        Assert.False(File.Exists("/abs/evil"));
        Assert.Empty(Directory.EnumerateFiles(sandbox.Base, "*evil*", SearchOption.AllDirectories));
    }

    public void Dispose()
    {
        if (Directory.Exists(_outside))
        {
            Directory.Delete(_outside, recursive: true);
        }
    }

    private sealed class SnapshotComparer : IEqualityComparer<(string, DateTime, bool, string[])>
    {
        public bool Equals((string, DateTime, bool, string[]) x, (string, DateTime, bool, string[]) y) =>
            x.Item1 == y.Item1 && x.Item2 == y.Item2 && x.Item3 == y.Item3 && x.Item4.SequenceEqual(y.Item4);

        public int GetHashCode((string, DateTime, bool, string[]) obj) => obj.Item1.GetHashCode(StringComparison.Ordinal);
    }
}
