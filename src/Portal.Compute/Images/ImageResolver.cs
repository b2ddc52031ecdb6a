using System.Text.RegularExpressions;

namespace Portal.Compute.Images;

/// <summary>
/// Finds the image a reference names in one snapshot of the catalog: an alias (case-insensitive), "sha256:" with
/// the full id or a prefix, a docker-normalized name[:tag], or a bare id prefix. Pure: it reads the snapshot it
/// is given and nothing else.
/// </summary>
internal sealed partial class ImageResolver
{
    public const int MinimumIdPrefix = 4;

    private readonly Dictionary<string, string> _aliases;

    public ImageResolver(IReadOnlyDictionary<string, string> aliases)
    {
        _aliases = new Dictionary<string, string>(aliases, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>
    /// The image <paramref name="reference"/> names, with the normalized tag when it matched by name (null when it
    /// matched by id). Throws ImageNotFound, or InvalidArgument for an empty, malformed or ambiguous reference.
    /// </summary>
    public (ImageRecord Image, string? Tag) Resolve(IReadOnlyDictionary<string, ImageRecord> images, string reference)
    {
        if (string.IsNullOrWhiteSpace(reference))
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "An image reference is required: name[:tag], an image id or an id prefix.");
        }

        var text = reference.Trim();
        var aliasTarget = FindAlias(text);
        if (aliasTarget is not null)
        {
            text = aliasTarget;
        }

        if (text.StartsWith("sha256:", StringComparison.OrdinalIgnoreCase))
        {
            var hex = text["sha256:".Length..].ToLowerInvariant();
            if (!HexPrefixPattern().IsMatch(hex))
            {
                throw new ComputeException(
                    ComputeErrorCode.InvalidArgument,
                    $"'{reference}' is not a valid image id: after 'sha256:' give {MinimumIdPrefix} to 64 hex digits.");
            }

            return (ByIdPrefix(images, hex, reference) ?? throw NotFound(images, reference, aliasTarget), null);
        }

        if (ImageReference.TryParse(text) is { } name && FindByTag(images, name.ToString()) is { } tagged)
        {
            return (tagged, name.ToString());
        }

        var lowered = text.ToLowerInvariant();
        if (HexPrefixPattern().IsMatch(lowered) && ByIdPrefix(images, lowered, reference) is { } byId)
        {
            return (byId, null);
        }

        throw NotFound(images, reference, aliasTarget);
    }

    /// <summary>The image that holds <paramref name="tag"/> (a normalized name:tag), if any.</summary>
    public static ImageRecord? FindByTag(IReadOnlyDictionary<string, ImageRecord> images, string tag) =>
        images.Values.FirstOrDefault(i => i.Tags.Contains(tag, StringComparer.Ordinal));

    /// <summary>The alias target for the whole reference, its name without tag, or its last path component.</summary>
    private string? FindAlias(string reference)
    {
        if (_aliases.Count == 0)
        {
            return null;
        }

        if (_aliases.TryGetValue(reference, out var target))
        {
            return target;
        }

        var withoutTag = reference;
        var colon = reference.LastIndexOf(':');
        if (colon > reference.LastIndexOf('/'))
        {
            withoutTag = reference[..colon];
        }

        if (_aliases.TryGetValue(withoutTag, out target))
        {
            return target;
        }

        // mcr.microsoft.com/windows/nanoserver:ltsc2022 -> "nanoserver" (for aliases that name no registry).
        var lastComponent = withoutTag[(withoutTag.LastIndexOf('/') + 1)..];
        return lastComponent != withoutTag && _aliases.TryGetValue(lastComponent, out target) && !lastComponent.Contains(':')
            ? target
            : null;
    }

    private static ImageRecord? ByIdPrefix(IReadOnlyDictionary<string, ImageRecord> images, string hexPrefix, string reference)
    {
        var matches = images.Values.Where(i => i.HexId.StartsWith(hexPrefix, StringComparison.Ordinal)).ToList();
        if (matches.Count > 1)
        {
            var candidates = string.Join(", ", matches
                .OrderBy(m => m.Id, StringComparer.Ordinal)
                .Select(m => m.Tags.Count > 0 ? $"{m.ShortId} ({string.Join(", ", m.Tags)})" : m.ShortId));
            throw new ComputeException(
                ComputeErrorCode.InvalidArgument,
                $"The image id prefix '{reference}' is ambiguous: it matches {candidates}. Give more digits of the id or use a name.");
        }

        return matches.Count == 1 ? matches[0] : null;
    }

    private static ComputeException NotFound(IReadOnlyDictionary<string, ImageRecord> images, string reference, string? aliasTarget)
    {
        var known = images.Values.SelectMany(i => i.Tags).Order(StringComparer.Ordinal).Take(20).ToList();
        var alias = aliasTarget is null ? string.Empty : $" (an alias of '{aliasTarget}')";
        var hint = known.Count == 0
            ? "The store has no images yet."
            : $"Known images: {string.Join(", ", known)}{(images.Count > 20 ? ", ..." : string.Empty)}.";
        return new ComputeException(
            ComputeErrorCode.ImageNotFound,
            $"No image matches '{reference}'{alias}. {hint} Import the image first (docker load, or the portal's image import), or use a name:tag, an image id or an id prefix of at least {MinimumIdPrefix} hex digits.");
    }

    [GeneratedRegex("^[0-9a-f]{4,64}$")]
    private static partial Regex HexPrefixPattern();
}
