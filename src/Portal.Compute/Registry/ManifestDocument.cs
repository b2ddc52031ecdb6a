using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Portal.Compute.Registry;

/// <summary>A content descriptor of a manifest, index or blob: what it is, its digest and size, and for an index entry its platform.</summary>
public sealed record Descriptor(string MediaType, string Digest, long Size, RegistryPlatform? Platform = null);

/// <summary>An index entry's platform (OCI image index "platform").</summary>
public sealed record RegistryPlatform(string Os, string Architecture, string? Variant, string? OsVersion)
{
    public override string ToString() => $"{Os}/{Architecture}{(Variant is null ? string.Empty : "/" + Variant)}";
}

/// <summary>
/// A manifest as fetched from a registry: an image index (OCI index or Docker manifest list: one manifest per platform)
/// or an image manifest (OCI or Docker schema 2: a config and the layers). Anything else, and any descriptor with a digest
/// that is not sha256 or a negative size, is refused: every later step trusts these digests and sizes.
/// </summary>
public sealed partial record ManifestDocument
{
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string DockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";

    /// <summary>The Accept header of a manifest request: the four kinds this client reads.</summary>
    public static readonly string[] AcceptedTypes = [OciIndex, OciManifest, DockerList, DockerManifest];

    private static readonly HashSet<string> LayerTypes =
    [
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.diff.tar",
    ];

    public required string MediaType { get; init; }

    /// <summary>The digest of the manifest's bytes, computed here.</summary>
    public required string Digest { get; init; }

    public required byte[] Bytes { get; init; }

    public bool IsIndex => MediaType is OciIndex or DockerList;

    /// <summary>An index's manifests.</summary>
    public IReadOnlyList<Descriptor> Manifests { get; init; } = [];

    /// <summary>An image manifest's config blob.</summary>
    public Descriptor? Config { get; init; }

    /// <summary>An image manifest's layers, lowest first.</summary>
    public IReadOnlyList<Descriptor> Layers { get; init; } = [];

    /// <summary>Reads a manifest of <paramref name="contentType"/> (the response's, or the document's own mediaType when the registry sends none).</summary>
    public static ManifestDocument Parse(byte[] bytes, string? contentType, string digest, string what)
    {
        JsonElement root;
        try
        {
            root = JsonDocument.Parse(bytes).RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw Refused(what, $"it is not JSON ({e.Message})");
        }

        if (root.ValueKind != JsonValueKind.Object)
        {
            throw Refused(what, "it is not a JSON object");
        }

        var own = root.TryGetProperty("mediaType", out var mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString() : null;
        var mediaType = own ?? contentType?.Split(';')[0].Trim();
        if (mediaType is null && root.TryGetProperty("manifests", out _))
        {
            mediaType = OciIndex; // an OCI index may leave mediaType out
        }
        else if (mediaType is null && root.TryGetProperty("config", out _))
        {
            mediaType = OciManifest;
        }

        if (mediaType is OciIndex or DockerList)
        {
            var manifests = Array(root, "manifests", what).Select(d => ReadDescriptor(d, what, withPlatform: true)).ToList();
            return new ManifestDocument { MediaType = mediaType, Digest = digest, Bytes = bytes, Manifests = manifests };
        }

        if (mediaType is OciManifest or DockerManifest)
        {
            if (!root.TryGetProperty("config", out var config) || config.ValueKind != JsonValueKind.Object)
            {
                throw Refused(what, "it has no config descriptor");
            }

            var layers = Array(root, "layers", what).Select(d => ReadDescriptor(d, what, withPlatform: false)).ToList();
            foreach (var layer in layers.Where(l => !LayerTypes.Contains(l.MediaType)))
            {
                throw Refused(what, $"layer {layer.Digest} has the media type '{layer.MediaType}', which is not a tar layer this host can read "
                    + "(uncompressed, gzip or zstd tar; foreign and non-distributable layers are not fetched)");
            }

            return new ManifestDocument
            {
                MediaType = mediaType,
                Digest = digest,
                Bytes = bytes,
                Config = ReadDescriptor(config, what, withPlatform: false),
                Layers = layers,
            };
        }

        throw Refused(what, $"its media type '{mediaType ?? "(none)"}' is not an image manifest or index "
            + "(schema 1 manifests are not supported; push the image again with a current docker or buildah)");
    }

    /// <summary>
    /// The index entry for this host: linux and the host's architecture, the architecture's usual variant preferred
    /// (arm64: v8), attestation entries (unknown/unknown) never chosen. Null when the index has none.
    /// </summary>
    public Descriptor? PickPlatform(string os, string architecture, string? variant)
    {
        var candidates = Manifests.Where(m => m.Platform is { } p && p.Os == os && p.Architecture == architecture).ToList();
        return candidates.FirstOrDefault(m => m.Platform!.Variant == variant)
            ?? candidates.FirstOrDefault(m => m.Platform!.Variant is null)
            ?? candidates.FirstOrDefault();
    }

    /// <summary>This host's platform as an index names it: ("amd64", null), ("arm64", "v8").</summary>
    public static (string Architecture, string? Variant) HostPlatform() => RuntimeInformation.OSArchitecture switch
    {
        Architecture.X64 => ("amd64", null),
        Architecture.Arm64 => ("arm64", "v8"),
        Architecture.Arm => ("arm", "v7"),
        Architecture.X86 => ("386", null),
        Architecture.S390x => ("s390x", null),
        Architecture.Ppc64le => ("ppc64le", null),
        Architecture.RiscV64 => ("riscv64", null),
        var other => (other.ToString().ToLowerInvariant(), null),
    };

    /// <summary>True when <paramref name="digest"/> is a sha256 digest in canonical form.</summary>
    public static bool IsDigest(string? digest) => digest is not null && DigestPattern().IsMatch(digest);

    private static IEnumerable<JsonElement> Array(JsonElement root, string name, string what) =>
        root.TryGetProperty(name, out var array) && array.ValueKind == JsonValueKind.Array
            ? array.EnumerateArray()
            : throw Refused(what, $"it has no '{name}' array");

    private static Descriptor ReadDescriptor(JsonElement element, string what, bool withPlatform)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw Refused(what, "a descriptor is not an object");
        }

        var mediaType = element.TryGetProperty("mediaType", out var mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString()! : string.Empty;
        var digest = element.TryGetProperty("digest", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null;
        if (!IsDigest(digest))
        {
            throw Refused(what, $"a descriptor's digest '{digest}' is not sha256: followed by 64 lowercase hex digits");
        }

        if (!element.TryGetProperty("size", out var s) || s.ValueKind != JsonValueKind.Number || !s.TryGetInt64(out var size) || size < 0)
        {
            throw Refused(what, $"the descriptor of {digest} has no valid size");
        }

        RegistryPlatform? platform = null;
        if (withPlatform && element.TryGetProperty("platform", out var p) && p.ValueKind == JsonValueKind.Object)
        {
            platform = new RegistryPlatform(
                Text(p, "os") ?? string.Empty, Text(p, "architecture") ?? string.Empty, Text(p, "variant"), Text(p, "os.version"));
        }

        return new Descriptor(mediaType, digest!, size, platform);
    }

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static ComputeException Refused(string what, string why) =>
        new(ComputeErrorCode.ImageRejected, $"The manifest of {what} was refused: {why}.");

    [GeneratedRegex("^sha256:[a-f0-9]{64}$")]
    private static partial Regex DigestPattern();
}
