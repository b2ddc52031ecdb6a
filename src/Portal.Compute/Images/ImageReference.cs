using Portal.Compute.Registry;

namespace Portal.Compute.Images;

/// <summary>
/// A docker-style image name: "busybox", "library/busybox:1.36", "docker.io/library/busybox:latest" and
/// "index.docker.io/busybox" all normalize to "busybox:latest"-style names; other registries keep their domain.
/// </summary>
public sealed record ImageReference
{
    /// <summary>The repository, without docker.io/ and library/ ("busybox", "localhost:5000/team/app").</summary>
    public required string Repository { get; init; }

    public required string Tag { get; init; }

    /// <summary>"repository:tag".</summary>
    public override string ToString() => Repository + ":" + Tag;

    /// <summary>
    /// Parses and normalizes a name with the registry reference grammar (<see cref="RegistryReference"/>); null when it
    /// is not a valid image name or names a digest (a local name has a tag).
    /// </summary>
    public static ImageReference? TryParse(string reference) =>
        RegistryReference.TryParse(reference, out var parsed) && parsed is { Digest: null, Tag: { } tag }
            ? new ImageReference { Repository = parsed.FamiliarRepository, Tag = tag }
            : null;

    /// <summary>Parses a name or throws InvalidArgument explaining the accepted form.</summary>
    public static ImageReference Parse(string reference) =>
        TryParse(reference) ?? throw new ComputeException(
            ComputeErrorCode.InvalidArgument,
            $"'{reference}' is not a valid image name. Use lowercase name[:tag] such as 'busybox', 'busybox:1.36' or " +
            "'registry.example.com/team/app:v1' (tags: letters, digits, '_', '.', '-', at most 128 characters).");
}
