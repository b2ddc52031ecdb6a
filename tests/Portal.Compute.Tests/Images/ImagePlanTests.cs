using Portal.Compute.Images;

namespace Portal.Compute.Tests.Images;

/// <summary>Merging the images an archive lists into one plan per image, and the explicit tag rule. Pure.</summary>
public sealed class ImagePlanTests
{
    [Fact]
    public void MergeByImage_OneConfigListedTwice_IsOnePlanWithAllItsNames()
    {
        var merged = ImagePlan.MergeByImage([Plan("a", "app:1"), Plan("b", "other:1"), Plan("a", "app:2", "app:1")], tag: null);

        Assert.Equal(["sha256:a", "sha256:b"], merged.Select(p => p.Id));
        Assert.Equal(["app:1", "app:2"], merged[0].Tags);
        Assert.Equal(["other:1"], merged[1].Tags);
    }

    [Fact]
    public void MergeByImage_ExplicitTag_ReplacesTheArchiveNames()
    {
        var plan = Assert.Single(ImagePlan.MergeByImage([Plan("a", "app:1"), Plan("a", "app:2")], tag: "chosen:3"));

        Assert.Equal(["chosen:3"], plan.Tags);
    }

    [Fact]
    public void MergeByImage_ExplicitTagForSeveralImages_IsInvalidArgument()
    {
        var error = Assert.Throws<ComputeException>(() => ImagePlan.MergeByImage([Plan("a"), Plan("b")], tag: "chosen:3"));

        Assert.Equal(ComputeErrorCode.InvalidArgument, error.Code);
        Assert.Contains("holds 2 images", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MergeByImage_NoManifests_IsImageRejected()
    {
        var error = Assert.Throws<ComputeException>(() => ImagePlan.MergeByImage([], tag: null));

        Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
    }

    private static ImagePlan Plan(string id, params string[] tags) => new()
    {
        Id = "sha256:" + id,
        ConfigJson = [],
        Config = new ImageConfigDocument { Config = new ImageConfig(), DiffIds = [] },
        Layers = [],
        Tags = tags,
    };
}
