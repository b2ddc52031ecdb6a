using System.Text.RegularExpressions;

namespace Portal.Compute.Registry;

/// <summary>
/// An image reference as docker reads it ("nginx", "library/nginx:1.27", "ghcr.io/org/app@sha256:...",
/// "127.0.0.1:5000/team/app:v2"): the registry, the full repository path there, and a tag or a digest. The grammar is
/// the one of distribution's reference package: a first component with a dot or a port, or "localhost", is a registry;
/// anything else is on Docker Hub, where a one-component name lives under "library/".
/// </summary>
public sealed partial record RegistryReference
{
    /// <summary>The name docker gives Docker Hub in references.</summary>
    public const string DockerHub = "docker.io";

    /// <summary>"docker.io", "ghcr.io", "127.0.0.1:5000".</summary>
    public required string Registry { get; init; }

    /// <summary>The repository path on the registry: "library/nginx", "org/app".</summary>
    public required string Repository { get; init; }

    /// <summary>The tag; "latest" when neither a tag nor a digest was given; null for a reference by digest alone.</summary>
    public string? Tag { get; init; }

    /// <summary>"sha256:..." for a reference by digest.</summary>
    public string? Digest { get; init; }

    /// <summary>The host (and port) requests go to: Docker Hub's API is on registry-1.docker.io.</summary>
    public string Endpoint => Registry == DockerHub ? "registry-1.docker.io" : Registry;

    /// <summary>What the manifest is asked for by: the digest when there is one, else the tag.</summary>
    public string ManifestReference => Digest ?? Tag!;

    /// <summary>The repository as docker shows it: "nginx", "someone/app", "ghcr.io/org/app".</summary>
    public string FamiliarRepository =>
        Registry != DockerHub ? $"{Registry}/{Repository}"
        : Repository.StartsWith("library/", StringComparison.Ordinal) ? Repository["library/".Length..]
        : Repository;

    /// <summary>"nginx:1.27": the name the pulled image gets in the store; null for a reference by digest alone.</summary>
    public string? FamiliarTag => Tag is null ? null : $"{FamiliarRepository}:{Tag}";

    /// <summary>The reference as docker prints it.</summary>
    public override string ToString() =>
        FamiliarRepository + (Tag is null ? string.Empty : ":" + Tag) + (Digest is null ? string.Empty : "@" + Digest);

    /// <summary>Parses <paramref name="text"/>; a reference that is not valid gets an error saying what is wrong with it.</summary>
    public static RegistryReference Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw Invalid(text ?? string.Empty, "it is empty. Give an image reference such as nginx, library/nginx:1.27 or ghcr.io/org/app@sha256:<64 hex digits>.");
        }

        if (text.Length > 512)
        {
            throw Invalid(text[..40] + "...", "it is longer than 512 characters.");
        }

        var name = text.Trim();
        string? digest = null;
        var at = name.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            digest = name[(at + 1)..];
            name = name[..at];
            if (!DigestPattern().IsMatch(digest))
            {
                throw Invalid(text, $"'{digest}' is not a digest; a digest is sha256: followed by 64 lowercase hex digits.");
            }
        }

        string? tag = null;
        var colon = name.LastIndexOf(':');
        if (colon > name.LastIndexOf('/'))
        {
            tag = name[(colon + 1)..];
            name = name[..colon];
            if (!TagPattern().IsMatch(tag))
            {
                throw Invalid(text, $"'{tag}' is not a tag; a tag has up to 128 letters, digits, '_', '.' and '-', and does not start with '.' or '-'.");
            }
        }

        var components = name.Split('/');
        var registry = DockerHub;
        if (components.Length > 1 && (components[0].Contains('.') || components[0].Contains(':') || components[0] == "localhost"))
        {
            registry = components[0];
            components = components[1..];
            if (!RegistryPattern().IsMatch(registry))
            {
                throw Invalid(text, $"'{registry}' is not a registry host; give a host name or address with an optional port.");
            }
        }

        if (registry is "index.docker.io" or "registry-1.docker.io")
        {
            registry = DockerHub;
        }

        foreach (var component in components)
        {
            if (component.Any(char.IsUpper))
            {
                throw Invalid(text, "repository names must be lowercase.");
            }

            if (!ComponentPattern().IsMatch(component))
            {
                throw Invalid(text, $"'{component}' is not a repository name component; use lowercase letters and digits, separated by '.', '_', '__' or dashes.");
            }
        }

        if (registry == DockerHub && components.Length == 1)
        {
            components = ["library", components[0]];
        }

        var repository = string.Join('/', components);
        if (repository.Length > 255)
        {
            throw Invalid(text, "the repository name is longer than 255 characters.");
        }

        return new RegistryReference { Registry = registry, Repository = repository, Tag = tag ?? (digest is null ? "latest" : null), Digest = digest };
    }

    /// <summary>True when <paramref name="text"/> names a registry image (rather than, say, an image id).</summary>
    public static bool TryParse(string text, out RegistryReference? reference)
    {
        try
        {
            reference = Parse(text);
            return true;
        }
        catch (ComputeException)
        {
            reference = null;
            return false;
        }
    }

    private static ComputeException Invalid(string text, string why) =>
        new(ComputeErrorCode.InvalidArgument, $"'{text}' is not a valid image reference: {why}");

    [GeneratedRegex("^sha256:[a-f0-9]{64}$")]
    private static partial Regex DigestPattern();

    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex TagPattern();

    [GeneratedRegex(@"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")]
    private static partial Regex ComponentPattern();

    [GeneratedRegex(@"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[a-fA-F0-9:]+\])(?::[0-9]{1,5})?$")]
    private static partial Regex RegistryPattern();
}
