using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Portal.Compute.Images;

namespace Portal.Compute.Tests.Images;

/// <summary>
/// The catalog over a temp directory: publishing a built image directory, tags, and what a restart loads. The disk
/// is a placeholder file (the catalog never reads it), so no mkfs.erofs, no root and no processes.
/// </summary>
public sealed class ImageCatalogTests : IDisposable
{
    private readonly string _base = Directory.CreateTempSubdirectory("portal-catalog-test-").FullName;

    public ImageCatalogTests()
    {
        Directory.CreateDirectory(Root);
        Directory.CreateDirectory(TmpRoot);
    }

    private string Root => Path.Combine(_base, "store");

    private string TmpRoot => Path.Combine(Root, ".tmp");

    [Fact]
    public async Task Publish_MovesTheBuiltDirectoryIn_WritesItsFiles_AndARestartLoadsIt()
    {
        var catalog = Open();
        var (id, configJson, config) = Config("one");

        var record = await catalog.PublishAsync(id, configJson, config, Built(id, diskBytes: 3), ["one:1"], CancellationToken.None);

        var directory = Path.Combine(Root, record.HexId);
        Assert.Equal(["one:1"], record.Tags);
        Assert.Equal(["sha256:" + new string('1', 64)], record.Layers);
        Assert.Equal(["sh"], record.Config.Cmd);
        Assert.Equal(3, record.SizeBytes);
        Assert.Equal(Path.Combine(directory, "disk.erofs"), record.DiskPath);
        Assert.Equal(configJson, await File.ReadAllBytesAsync(Path.Combine(directory, "config.json")));
        Assert.True(File.Exists(Path.Combine(directory, "image.json")));
        Assert.Empty(Directory.GetFileSystemEntries(TmpRoot));
        var reloaded = Assert.Single(Open().List());
        Assert.Equal((record.Id, record.DiskPath, record.SizeBytes, record.CreatedAt), (reloaded.Id, reloaded.DiskPath, reloaded.SizeBytes, reloaded.CreatedAt));
        Assert.Equal(record.Tags, reloaded.Tags);
    }

    [Fact]
    public async Task Images_are_owned_by_the_team_that_imported_them_and_the_owners_survive_a_restart()
    {
        var catalog = Open();
        var (admins, adminsJson, adminsConfig) = Config("admins");
        var (blue, blueJson, blueConfig) = Config("blue");
        await catalog.PublishAsync(admins, adminsJson, adminsConfig, Built(admins), ["base:1"], null, CancellationToken.None);
        var imported = await catalog.PublishAsync(blue, blueJson, blueConfig, Built(blue), ["app:1"], "blue", CancellationToken.None);
        Assert.Equal(["blue"], imported.Teams);

        // Blue sees its import and the administrators' image; red sees only the administrators'; another team's is not found.
        Assert.Equal(blue, catalog.Resolve("app:1", "blue").Id);
        Assert.Equal(admins, catalog.Resolve("base:1", "red").Id);
        var hidden = Assert.Throws<ComputeException>(() => catalog.Resolve("app:1", "red"));
        Assert.Equal(ComputeErrorCode.ImageNotFound, hidden.Code);
        Assert.DoesNotContain("app:1", hidden.Message.Replace("'app:1'", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Equal(ComputeErrorCode.ImageNotFound, Assert.Throws<ComputeException>(() => catalog.Resolve(blue[7..19], "red")).Code);

        var reopened = Open();
        Assert.Equal(["blue"], reopened.Resolve("app:1").Teams);
        Assert.True(reopened.Resolve("base:1").IsAdministrators);
    }

    [Fact]
    public async Task A_team_tags_and_removes_only_its_own_imports_and_never_takes_a_tag_from_another_owner()
    {
        var catalog = Open();
        var (admins, adminsJson, adminsConfig) = Config("admins");
        var (blue, blueJson, blueConfig) = Config("blue");
        var (red, redJson, redConfig) = Config("red");
        await catalog.PublishAsync(admins, adminsJson, adminsConfig, Built(admins), ["base:1"], null, CancellationToken.None);
        await catalog.PublishAsync(blue, blueJson, blueConfig, Built(blue), ["app:1"], "blue", CancellationToken.None);
        await catalog.PublishAsync(red, redJson, redConfig, Built(red), ["red-app:1"], "red", CancellationToken.None);

        await catalog.TagAsync("app:1", "app:2", "blue", CancellationToken.None);
        Assert.Equal(["app:1", "app:2"], catalog.Resolve(blue).Tags);
        Assert.Equal(ComputeErrorCode.Forbidden, (await Assert.ThrowsAsync<ComputeException>(() => catalog.TagAsync("base:1", "mine:1", "blue", CancellationToken.None))).Code);
        var taken = await Assert.ThrowsAsync<ComputeException>(() => catalog.TagAsync("app:1", "red-app:1", "blue", CancellationToken.None));
        Assert.Equal(ComputeErrorCode.NameInUse, taken.Code);
        Assert.DoesNotContain(red[7..19], taken.Message, StringComparison.Ordinal);
        Assert.Equal(ComputeErrorCode.NameInUse, (await Assert.ThrowsAsync<ComputeException>(() => catalog.TagAsync("app:1", "base:1", "blue", CancellationToken.None))).Code);
        Assert.Equal(ComputeErrorCode.NameInUse, (await Assert.ThrowsAsync<ComputeException>(() =>
            catalog.PublishAsync(blue, blueJson, blueConfig, null, ["red-app:1"], "blue", CancellationToken.None))).Code);
        Assert.Equal(["red-app:1"], catalog.Resolve(red).Tags);

        Assert.Equal(ComputeErrorCode.Forbidden, (await Assert.ThrowsAsync<ComputeException>(() => catalog.RemoveAsync("base:1", "blue", CancellationToken.None))).Code);
        Assert.Equal(ComputeErrorCode.ImageNotFound, (await Assert.ThrowsAsync<ComputeException>(() => catalog.RemoveAsync("red-app:1", "blue", CancellationToken.None))).Code);
        await catalog.RemoveAsync("app:2", "blue", CancellationToken.None);
        await catalog.RemoveAsync("app:1", "blue", CancellationToken.None);
        Assert.Equal(["base:1", "red-app:1"], catalog.List().SelectMany(i => i.Tags).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Two_teams_importing_the_same_image_both_own_it_and_one_removing_it_only_lets_go()
    {
        var catalog = Open();
        var (same, sameJson, sameConfig) = Config("same");
        var (admins, adminsJson, adminsConfig) = Config("admins");
        await catalog.PublishAsync(same, sameJson, sameConfig, Built(same), ["app:1"], "blue", CancellationToken.None);
        var both = await catalog.PublishAsync(same, sameJson, sameConfig, null, ["app:1"], "red", CancellationToken.None);
        Assert.Equal(["blue", "red"], both.Teams);

        await catalog.RemoveAsync("app:1", "blue", CancellationToken.None);
        Assert.Equal(["red"], catalog.Resolve(same).Teams);
        Assert.Equal(ComputeErrorCode.ImageNotFound, Assert.Throws<ComputeException>(() => catalog.Resolve("app:1", "blue")).Code);
        await catalog.RemoveAsync("app:1", "red", CancellationToken.None);
        Assert.Empty(catalog.List());

        // A team's import of an administrators' image leaves it theirs; new names for it are refused.
        await catalog.PublishAsync(admins, adminsJson, adminsConfig, Built(admins), ["base:1"], null, CancellationToken.None);
        Assert.True((await catalog.PublishAsync(admins, adminsJson, adminsConfig, null, ["base:1"], "blue", CancellationToken.None)).IsAdministrators);
        var renamed = await Assert.ThrowsAsync<ComputeException>(() => catalog.PublishAsync(admins, adminsJson, adminsConfig, null, ["mine:1"], "blue", CancellationToken.None));
        Assert.Contains("which the administrators provide as 'base:1'", renamed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Publish_OfAKnownImage_OnlyAddsTags_TakingThemFromTheirHolder()
    {
        var catalog = Open();
        var (one, oneJson, oneConfig) = Config("one");
        var (two, twoJson, twoConfig) = Config("two");
        await catalog.PublishAsync(one, oneJson, oneConfig, Built(one), ["shared:1", "one:1"], CancellationToken.None);
        await catalog.PublishAsync(two, twoJson, twoConfig, Built(two), [], CancellationToken.None);

        var again = await catalog.PublishAsync(two, twoJson, twoConfig, builtDirectory: null, ["shared:1"], CancellationToken.None);

        Assert.Equal(["shared:1"], again.Tags);
        Assert.Equal(["one:1"], catalog.Resolve(one).Tags);
        Assert.Equal(two, Open().Resolve("shared:1").Id);
    }

    [Fact]
    public async Task Publish_OfAnUnknownImageWithoutADirectory_IsAProgrammingError()
    {
        var (id, configJson, config) = Config("one");

        await Assert.ThrowsAsync<InvalidOperationException>(() => Open().PublishAsync(id, configJson, config, null, [], CancellationToken.None));
    }

    [Fact]
    public async Task Load_KeepsATagClaimedByTwoImagesOnOne_AndSkipsAnImageWithoutItsDisk()
    {
        var catalog = Open();
        var (one, oneJson, oneConfig) = Config("one");
        var (two, twoJson, twoConfig) = Config("two");
        var (three, threeJson, threeConfig) = Config("three");
        var first = await catalog.PublishAsync(one, oneJson, oneConfig, Built(one), ["shared:1"], CancellationToken.None);
        var second = await catalog.PublishAsync(two, twoJson, twoConfig, Built(two), ["two:1"], CancellationToken.None);
        var third = await catalog.PublishAsync(three, threeJson, threeConfig, Built(three), ["three:1"], CancellationToken.None);

        // As after a crash between giving a tag to an image and saving the image that lost it.
        var secondJson = Path.Combine(Root, second.HexId, "image.json");
        await File.WriteAllTextAsync(secondJson, (await File.ReadAllTextAsync(secondJson)).Replace("\"two:1\"", "\"two:1\", \"shared:1\"", StringComparison.Ordinal));
        File.Delete(third.DiskPath);

        var reopened = Open();

        Assert.Equal(2, reopened.List().Count);
        Assert.Single(reopened.List(), i => i.Tags.Contains("shared:1"));
        Assert.Contains(reopened.Resolve("shared:1").Id, new[] { first.Id, second.Id });
        Assert.False(reopened.Contains(three));
    }

    [Fact]
    public void NormalizeTag_IsDockerNormalized_AndNullWhenNoneIsGiven()
    {
        Assert.Equal("busybox:latest", ImageCatalog.NormalizeTag("docker.io/library/busybox"));
        Assert.Null(ImageCatalog.NormalizeTag("  "));
        Assert.Equal(ComputeErrorCode.InvalidArgument, Assert.Throws<ComputeException>(() => ImageCatalog.NormalizeTag("Bad Name")).Code);
    }

    public void Dispose() => PosixFile.RemoveTree(_base);

    private ImageCatalog Open() =>
        new(Root, TmpRoot, new ImageResolver(new Dictionary<string, string>()), NullLogger.Instance);

    /// <summary>A config whose id differs per <paramref name="name"/>, as the importer hands it over.</summary>
    private static (string Id, byte[] Json, ImageConfigDocument Config) Config(string name)
    {
        var json = Encoding.UTF8.GetBytes(
            $"{{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{{\"Cmd\":[\"sh\"],\"Labels\":{{\"name\":\"{name}\"}}}}," +
            $"\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"sha256:{new string('1', 64)}\"]}}}}");
        return (TarBuilder.Digest(json), json, ImageConfigDocument.Parse(json, name));
    }

    /// <summary>A finished import directory in the scratch area, holding only the image disk.</summary>
    private string Built(string id, int diskBytes = 1)
    {
        var directory = Path.Combine(TmpRoot, "image-" + ImageCatalog.HexOf(id));
        Directory.CreateDirectory(directory);
        File.WriteAllBytes(Path.Combine(directory, "disk.erofs"), new byte[diskBytes]);
        return directory;
    }
}
