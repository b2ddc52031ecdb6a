using System.Text.Json;
using Portal.Compute.Images;

namespace Portal.Compute.Tests.Images;

/// <summary>Name normalization, lookup, aliases, tagging and removal over a store index written to disk.</summary>
public sealed class ImageReferenceTests
{
    private const string BusyboxHex = "abcd1111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    private const string AppHex = "abcd2222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    private const string OtherHex = "ef01333333333333333333333333333333333333333333333333333333333333";

    private static readonly Dictionary<string, string> Aliases = new()
    {
        ["NanoServer"] = "busybox:latest",
        ["WindowsServerCore"] = "busybox:latest",
        ["mcr.microsoft.com/windows/servercore"] = "busybox:latest",
    };

    [Theory]
    [InlineData("busybox", "busybox:latest")]
    [InlineData("busybox:1.36", "busybox:1.36")]
    [InlineData("library/busybox", "busybox:latest")]
    [InlineData("docker.io/library/busybox:latest", "busybox:latest")]
    [InlineData("index.docker.io/busybox", "busybox:latest")]
    [InlineData("docker.io/team/app:v1", "team/app:v1")]
    [InlineData("localhost:5000/app", "localhost:5000/app:latest")]
    [InlineData("registry.example.com/team/app:v1.2_x", "registry.example.com/team/app:v1.2_x")]
    [InlineData("Busybox", null)]
    [InlineData("bad name", null)]
    [InlineData("app:", null)]
    [InlineData("app@sha256:abcd", null)]
    [InlineData("", null)]
    public void ImageReference_NormalizesLikeDocker(string input, string? expected)
    {
        Assert.Equal(expected, ImageReference.TryParse(input)?.ToString());
    }

    [Theory]
    [InlineData("busybox")]
    [InlineData("busybox:latest")]
    [InlineData("docker.io/library/busybox:latest")]
    [InlineData("library/busybox")]
    [InlineData("sha256:" + BusyboxHex)]
    [InlineData(BusyboxHex)]
    [InlineData("abcd1")]
    [InlineData("sha256:abcd11")]
    [InlineData("ABCD1111")]
    [InlineData("NanoServer")]
    [InlineData("nanoserver")]
    [InlineData("NANOSERVER:ltsc2022")]
    [InlineData("WindowsServerCore")]
    [InlineData("mcr.microsoft.com/windows/nanoserver:ltsc2022")]
    [InlineData("mcr.microsoft.com/windows/servercore:ltsc2019")]
    public void Resolve_FindsTheImage_ByNameIdPrefixOrAlias(string reference)
    {
        using var sandbox = SeededSandbox();

        Assert.Equal("sha256:" + BusyboxHex, sandbox.Store.Resolve(reference).Id);
    }

    [Fact]
    public void Resolve_AmbiguousPrefix_ListsTheCandidates()
    {
        using var sandbox = SeededSandbox();

        var error = Assert.Throws<ComputeException>(() => sandbox.Store.Resolve("abcd"));

        Assert.Equal(ComputeErrorCode.InvalidArgument, error.Code);
        Assert.Contains("ambiguous", error.Message, StringComparison.Ordinal);
        Assert.Contains("abcd1111aaaa (busybox:latest)", error.Message, StringComparison.Ordinal);
        Assert.Contains("abcd2222bbbb (app:1, app:2)", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("nosuch")]
    [InlineData("busybox:1.0")]
    [InlineData("ffff")]
    [InlineData("sha256:ffff")]
    public void Resolve_Unknown_IsImageNotFound_WithTheKnownNames(string reference)
    {
        using var sandbox = SeededSandbox();

        var error = Assert.Throws<ComputeException>(() => sandbox.Store.Resolve(reference));

        Assert.Equal(ComputeErrorCode.ImageNotFound, error.Code);
        Assert.Contains($"'{reference}'", error.Message, StringComparison.Ordinal);
        Assert.Contains("busybox:latest", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("sha256:xyz")]
    public void Resolve_MalformedOrShortId_IsRefused(string reference)
    {
        using var sandbox = SeededSandbox();

        var error = Assert.Throws<ComputeException>(() => sandbox.Store.Resolve(reference));

        Assert.True(error.Code is ComputeErrorCode.ImageNotFound or ComputeErrorCode.InvalidArgument);
    }

    [Fact]
    public async Task Tag_MovesTheTagFromItsHolder_AndPersists()
    {
        using var sandbox = SeededSandbox();

        await sandbox.Store.TagAsync("ef01", "docker.io/library/app:2", CancellationToken.None);

        Assert.Equal(["app:1"], sandbox.Store.Resolve("abcd2").Tags);
        Assert.Equal(["app:2", "other:latest"], sandbox.Store.Resolve("app:2").Tags);
        var reopened = sandbox.Reopen();
        Assert.Equal("sha256:" + OtherHex, reopened.Resolve("app:2").Id);
        Assert.Equal(["app:1"], reopened.Resolve("app:1").Tags);
    }

    [Fact]
    public async Task Tag_InvalidName_IsInvalidArgument()
    {
        using var sandbox = SeededSandbox();

        var error = await Assert.ThrowsAsync<ComputeException>(() => sandbox.Store.TagAsync("busybox", "Bad Name", CancellationToken.None));

        Assert.Equal(ComputeErrorCode.InvalidArgument, error.Code);
    }

    [Fact]
    public async Task Remove_OneOfSeveralTags_OnlyUntags_ThenTheLastTagRemovesTheImageAndItsDisk()
    {
        using var sandbox = SeededSandbox();
        var directory = Path.Combine(sandbox.Options.Root, AppHex);

        await sandbox.Store.RemoveAsync("app:1", CancellationToken.None);

        Assert.Equal(["app:2"], sandbox.Store.Resolve("abcd2").Tags);
        Assert.True(File.Exists(Path.Combine(directory, "disk.erofs")));

        await sandbox.Store.RemoveAsync("app:2", CancellationToken.None);

        Assert.False(Directory.Exists(directory));
        Assert.Equal(ComputeErrorCode.ImageNotFound, Assert.Throws<ComputeException>(() => sandbox.Store.Resolve("abcd2")).Code);
        Assert.Equal(2, sandbox.Reopen().List().Count);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(sandbox.Options.Root, ".tmp")));
    }

    [Fact]
    public async Task Remove_ById_RemovesTheImageWithAllItsTags()
    {
        using var sandbox = SeededSandbox();

        await sandbox.Store.RemoveAsync("sha256:abcd2222", CancellationToken.None);

        Assert.DoesNotContain(sandbox.Store.List(), i => i.Id.Contains(AppHex, StringComparison.Ordinal));
        Assert.False(Directory.Exists(Path.Combine(sandbox.Options.Root, AppHex)));
    }

    [Fact]
    public void Construction_SkipsBrokenEntries_AndRemovesStaleImportLeftovers()
    {
        using var sandbox = SeededSandbox();
        Directory.CreateDirectory(Path.Combine(sandbox.Options.Root, new string('9', 64)));
        File.WriteAllText(Path.Combine(sandbox.Options.Root, new string('9', 64), "image.json"), "{ not json");
        var stale = Path.Combine(sandbox.Options.Root, ".tmp", "import-stale");
        Directory.CreateDirectory(Path.Combine(stale, "rootfs"));
        File.WriteAllText(stale + ".lock", string.Empty);

        var reopened = sandbox.Reopen();

        Assert.Equal(3, reopened.List().Count);
        Assert.False(Directory.Exists(stale));
        Assert.False(File.Exists(stale + ".lock"));
    }

    /// <summary>A store whose index was written to disk by hand (ids chosen to share a prefix), then loaded.</summary>
    private static ImageStoreSandbox SeededSandbox()
    {
        var seed = new ImageStoreSandbox(Aliases);
        Seed(seed.Options.Root, BusyboxHex, ["busybox:latest"], 3);
        Seed(seed.Options.Root, AppHex, ["app:1", "app:2"], 2);
        Seed(seed.Options.Root, OtherHex, ["other:latest"], 1);
        return seed.WithReopenedStore();
    }

    private static void Seed(string root, string hex, string[] tags, int daysAgo)
    {
        var directory = Path.Combine(root, hex);
        Directory.CreateDirectory(directory);
        File.WriteAllBytes(Path.Combine(directory, "disk.erofs"), [0]);
        var record = new ImageRecord
        {
            Id = "sha256:" + hex,
            Tags = tags,
            Layers = ["sha256:" + new string('0', 64)],
            Config = new ImageConfig { Cmd = ["sh"] },
            CreatedAt = DateTimeOffset.UtcNow.AddDays(-daysAgo),
            SizeBytes = 1,
            DiskPath = Path.Combine(directory, "disk.erofs"),
        };
        File.WriteAllText(
            Path.Combine(directory, "image.json"),
            JsonSerializer.Serialize(record, new JsonSerializerOptions(JsonSerializerDefaults.Web)));
    }
}
