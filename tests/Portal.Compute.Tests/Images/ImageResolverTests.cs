using System.Collections.Immutable;
using Portal.Compute.Images;

namespace Portal.Compute.Tests.Images;

/// <summary>Reference resolution over an in-memory catalog snapshot: no disk, no root, no processes.</summary>
public sealed class ImageResolverTests
{
    private const string BusyboxHex = "abcd1111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    private const string AppHex = "abcd2222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    // An image named like an id prefix of another one: a name match must win.
    private const string NamedLikeAnIdHex = "ef01333333333333333333333333333333333333333333333333333333333333";

    private static readonly ImmutableDictionary<string, ImageRecord> Images = new[]
    {
        Record(BusyboxHex, "busybox:latest"),
        Record(AppHex, "app:1", "app:2"),
        Record(NamedLikeAnIdHex, "abcd1111:latest"),
    }.ToImmutableDictionary(r => r.HexId, StringComparer.Ordinal);

    private readonly ImageResolver _resolver = new(new Dictionary<string, string> { ["NanoServer"] = "busybox:latest", ["Broken"] = "nosuch:1" });

    [Theory]
    [InlineData("busybox", BusyboxHex, "busybox:latest")]
    [InlineData("docker.io/library/busybox:latest", BusyboxHex, "busybox:latest")]
    [InlineData("app:2", AppHex, "app:2")]
    [InlineData("nanoserver:ltsc2022", BusyboxHex, "busybox:latest")]
    [InlineData("sha256:abcd2", AppHex, null)]
    [InlineData("ABCD2222", AppHex, null)]
    [InlineData("abcd1111", NamedLikeAnIdHex, "abcd1111:latest")]
    [InlineData("sha256:abcd1111", BusyboxHex, null)]
    public void Resolve_GivesTheImage_AndTheTagWhenMatchedByName(string reference, string hex, string? tag)
    {
        var (image, matchedTag) = _resolver.Resolve(Images, reference);

        Assert.Equal(hex, image.HexId);
        Assert.Equal(tag, matchedTag);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("sha256:abc")]
    [InlineData("sha256:not-hex")]
    [InlineData("abcd")]
    public void Resolve_EmptyMalformedOrAmbiguous_IsInvalidArgument(string reference)
    {
        var error = Assert.Throws<ComputeException>(() => _resolver.Resolve(Images, reference));

        Assert.Equal(ComputeErrorCode.InvalidArgument, error.Code);
    }

    [Fact]
    public void Resolve_AliasToAMissingImage_NamesTheAliasTarget()
    {
        var error = Assert.Throws<ComputeException>(() => _resolver.Resolve(Images, "broken"));

        Assert.Equal(ComputeErrorCode.ImageNotFound, error.Code);
        Assert.Contains("(an alias of 'nosuch:1')", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_InAnEmptyStore_SaysSo()
    {
        var error = Assert.Throws<ComputeException>(() => _resolver.Resolve(ImmutableDictionary<string, ImageRecord>.Empty, "busybox"));

        Assert.Equal(ComputeErrorCode.ImageNotFound, error.Code);
        Assert.Contains("no images yet", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FindByTag_MatchesTheNormalizedTagExactly()
    {
        Assert.Equal(AppHex, ImageResolver.FindByTag(Images, "app:1")?.HexId);
        Assert.Null(ImageResolver.FindByTag(Images, "app"));
    }

    private static ImageRecord Record(string hex, params string[] tags) => new()
    {
        Id = "sha256:" + hex,
        Tags = tags,
        Layers = [],
        Config = new ImageConfig(),
        CreatedAt = DateTimeOffset.UnixEpoch,
        SizeBytes = 1,
        DiskPath = "/nonexistent/" + hex + "/disk.erofs",
    };
}
