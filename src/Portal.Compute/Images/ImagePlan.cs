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
}
