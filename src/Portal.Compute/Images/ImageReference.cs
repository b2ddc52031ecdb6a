using System.Text.RegularExpressions;

namespace Portal.Compute.Images;

/// <summary>
/// A docker-style image name: "busybox", "library/busybox:1.36", "docker.io/library/busybox:latest" and
/// "index.docker.io/busybox" all normalize to "busybox:latest"-style names; other registries keep their domain.
/// </summary>
public sealed partial record ImageReference
{
    private const string DefaultTag = "latest";

    /// <summary>The repository, without docker.io/ and library/ ("busybox", "localhost:5000/team/app").</summary>
    public required string Repository { get; init; }

    public required string Tag { get; init; }

    /// <summary>"repository:tag".</summary>
    public override string ToString() => Repository + ":" + Tag;

    /// <summary>Parses and normalizes a name; null when it is not a valid image name.</summary>
    public static ImageReference? TryParse(string reference)
    {
        if (string.IsNullOrWhiteSpace(reference) || reference.Contains('@'))
        {
            return null;
        }

        var name = reference.Trim();
        var tag = DefaultTag;
        var lastSlash = name.LastIndexOf('/');
        var colon = name.LastIndexOf(':');
        if (colon > lastSlash)
        {
            tag = name[(colon + 1)..];
            name = name[..colon];
        }

        if (!TagPattern().IsMatch(tag))
        {
            return null;
        }

        var parts = name.Split('/');
        var hasDomain = parts.Length > 1 && (parts[0].Contains('.') || parts[0].Contains(':') || parts[0] == "localhost");
        if (hasDomain && parts[0] is "docker.io" or "index.docker.io" or "registry-1.docker.io")
        {
            parts = parts[1..];
            hasDomain = false;
        }

        if (!hasDomain && parts.Length == 2 && parts[0] == "library")
        {
            parts = parts[1..];
        }

        if (parts.Length == 0)
        {
            return null;
        }

        for (var i = hasDomain ? 1 : 0; i < parts.Length; i++)
        {
            if (!PathComponentPattern().IsMatch(parts[i]))
            {
                return null;
            }
        }

        if (hasDomain && !DomainPattern().IsMatch(parts[0]))
        {
            return null;
        }

        return new ImageReference { Repository = string.Join('/', parts), Tag = tag };
    }

    /// <summary>Parses a name or throws InvalidArgument explaining the accepted form.</summary>
    public static ImageReference Parse(string reference) =>
        TryParse(reference) ?? throw new ComputeException(
            ComputeErrorCode.InvalidArgument,
            $"'{reference}' is not a valid image name. Use lowercase name[:tag] such as 'busybox', 'busybox:1.36' or " +
            "'registry.example.com/team/app:v1' (tags: letters, digits, '_', '.', '-', at most 128 characters).");

    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex TagPattern();

    [GeneratedRegex("^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")]
    private static partial Regex PathComponentPattern();

    [GeneratedRegex("^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$")]
    private static partial Regex DomainPattern();
}
