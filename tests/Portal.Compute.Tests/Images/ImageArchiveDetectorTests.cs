using Portal.Compute.Images;

namespace Portal.Compute.Tests.Images;

/// <summary>An archive's format is read from its entry names, whatever the file is called. Pure.</summary>
public sealed class ImageArchiveDetectorTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("portal-detect-test-").FullName;

    [Fact]
    public async Task DockerSave_OciLayoutTar_AndRootfs_AreToldApart_PlainOrGzip()
    {
        var layer = new TestLayer(new TarBuilder().File("x", "x").ToBytes());
        var layout = Path.Combine(_directory, "layout");
        ImageArchives.WriteOciLayout(layout, [layer], "x:1");

        Assert.Equal(ImageArchiveKind.DockerSave, await DetectAsync(ImageArchives.DockerSave([(["x:1"], [layer])])));
        Assert.Equal(ImageArchiveKind.DockerSave, await DetectAsync(TarBuilder.Gzip(ImageArchives.DockerSave([(["x:1"], [layer])], ociStyle: true))));
        Assert.Equal(ImageArchiveKind.OciLayout, await DetectAsync(ImageArchives.TarDirectory(layout)));
        Assert.Equal(ImageArchiveKind.RootfsTar, await DetectAsync(new TarBuilder().Dir("etc").File("etc/os-release", "ID=x\n").ToBytes(gzip: true)));
    }

    [Fact]
    public async Task LayoutNamesWithoutAnIndex_OrBesideOtherFiles_AreARootfs()
    {
        Assert.Equal(ImageArchiveKind.RootfsTar, await DetectAsync(new TarBuilder().File("oci-layout", "{}").ToBytes()));
        Assert.Equal(ImageArchiveKind.RootfsTar, await DetectAsync(new TarBuilder().File("manifest.json", "[]").File("etc/passwd", "root").ToBytes()));
    }

    [Fact]
    public async Task NotATar_IsImageRejected()
    {
        var error = await Assert.ThrowsAsync<ComputeException>(() => DetectAsync([.. Enumerable.Repeat((byte)'x', 1024)]));

        Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
        Assert.Contains("not a valid tar archive", error.Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private async Task<ImageArchiveKind> DetectAsync(byte[] archive)
    {
        var file = Path.Combine(_directory, Guid.NewGuid().ToString("N") + ".bin");
        await File.WriteAllBytesAsync(file, archive);
        return await ImageArchiveDetector.DetectAsync(file, new ImportBudget(new ImageStoreOptions { Root = _directory }, _directory), CancellationToken.None);
    }
}
