namespace Portal.Compute.Images;

/// <summary>One layer file of an archive, with what the archive says it must hash to.</summary>
internal sealed record LayerBlob
{
    /// <summary>Host path of the (possibly compressed) layer tar.</summary>
    public required string Path { get; init; }

    /// <summary>How errors name it: "layer 2 (blobs/sha256/ab12...)".</summary>
    public required string Description { get; init; }

    /// <summary>Digest of the file as stored ("sha256:..."), when the format gives one.</summary>
    public string? Digest { get; init; }

    /// <summary>Size of the file as stored, when the format gives one.</summary>
    public long? Size { get; init; }

    /// <summary>Expected diff id (sha256 of the uncompressed tar), from the image config.</summary>
    public string? DiffId { get; init; }
}

/// <summary>An image found in an OCI layout or docker save archive, ready to unpack.</summary>
internal sealed record ImagePlan
{
    /// <summary>"sha256:..." of <see cref="ConfigJson"/>.</summary>
    public required string Id { get; init; }

    public required byte[] ConfigJson { get; init; }

    public required ImageConfigDocument Config { get; init; }

    public required IReadOnlyList<LayerBlob> Layers { get; init; }

    /// <summary>Normalized names the archive gives the image.</summary>
    public required IReadOnlyList<string> Tags { get; init; }

    /// <summary>
    /// One plan per image: a config listed more than once (one manifest entry per tag) is imported once with all its
    /// names. <paramref name="tag"/>, when given, replaces the archive's names, so the archive must hold one image.
    /// </summary>
    public static IReadOnlyList<ImagePlan> MergeByImage(IReadOnlyList<ImagePlan> plans, string? tag)
    {
        if (plans.Count == 0)
        {
            throw new ComputeException(ComputeErrorCode.ImageRejected, "The archive holds no image manifests; there is nothing to import.");
        }

        var merged = plans
            .GroupBy(p => p.Id, StringComparer.Ordinal)
            .Select(g => g.First() with { Tags = [.. g.SelectMany(p => p.Tags).Distinct(StringComparer.Ordinal)] })
            .ToList();
        if (tag is null)
        {
            return merged;
        }

        if (merged.Count > 1)
        {
            throw new ComputeException(
                ComputeErrorCode.InvalidArgument,
                $"The archive holds {merged.Count} images, so the tag '{tag}' cannot name one of them. Import without a tag (the archive's own names are used), then tag the image you want.");
        }

        return [merged[0] with { Tags = [tag] }];
    }
}
