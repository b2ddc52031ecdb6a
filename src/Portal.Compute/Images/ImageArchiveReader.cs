using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Portal.Compute.Images;

/// <summary>
/// Reads the images described by an unpacked OCI image layout (oci-layout + index.json) or docker save archive
/// (manifest.json), verifying every digest the format gives for manifests and configs. Every file name taken
/// from a manifest is resolved inside the directory; nothing outside it is read.
/// </summary>
internal static partial class ImageArchiveReader
{
    private const long MaxDocumentBytes = 16 * 1024 * 1024;
    private const string RefNameAnnotation = "org.opencontainers.image.ref.name";
    private const string ContainerdNameAnnotation = "io.containerd.image.name";

    public static bool IsDockerSave(string directory) => File.Exists(Path.Combine(directory, "manifest.json"));

    public static bool IsOciLayout(string directory) =>
        File.Exists(Path.Combine(directory, "oci-layout")) && File.Exists(Path.Combine(directory, "index.json"));

    /// <summary>The images of a docker save archive: manifest.json lists Config, RepoTags and Layers per image.</summary>
    public static async Task<IReadOnlyList<ImagePlan>> ReadDockerSaveAsync(string directory, CancellationToken ct)
    {
        var manifest = await ReadDocumentAsync(directory, "manifest.json", null, ct).ConfigureAwait(false);
        var plans = new List<ImagePlan>();
        try
        {
            using var document = JsonDocument.Parse(manifest);
            if (document.RootElement.ValueKind != JsonValueKind.Array)
            {
                throw new JsonException("the top level is not an array");
            }

            var index = 0;
            foreach (var image in document.RootElement.EnumerateArray())
            {
                index++;
                var configPath = RequiredString(image, "Config", $"manifest.json image {index}");
                var configDigest = DigestFromFileName(configPath);
                var configJson = await ReadDocumentAsync(directory, configPath, configDigest, ct).ConfigureAwait(false);
                var id = Sha256(configJson);
                var config = ImageConfigDocument.Parse(configJson, $"image config '{configPath}'");

                var tags = new List<string>();
                if (image.TryGetProperty("RepoTags", out var repoTags) && repoTags.ValueKind == JsonValueKind.Array)
                {
                    foreach (var tag in repoTags.EnumerateArray())
                    {
                        tags.Add(NormalizeTag(tag.GetString() ?? string.Empty, "manifest.json RepoTags"));
                    }
                }

                var layerPaths = image.TryGetProperty("Layers", out var layers) && layers.ValueKind == JsonValueKind.Array
                    ? layers.EnumerateArray().Select(l => l.GetString() ?? string.Empty).ToList()
                    : throw new JsonException($"image {index} has no Layers array");
                var diffIds = MatchDiffIds(config, layerPaths.Count, $"image config '{configPath}'");

                var blobs = new List<LayerBlob>();
                for (var i = 0; i < layerPaths.Count; i++)
                {
                    var description = $"layer {i + 1} ({layerPaths[i]})";
                    blobs.Add(new LayerBlob
                    {
                        Path = ResolveFile(directory, layerPaths[i], description),
                        Description = description,
                        Digest = DigestFromFileName(layerPaths[i]),
                        DiffId = diffIds?[i],
                    });
                }

                plans.Add(new ImagePlan { Id = id, ConfigJson = configJson, Config = config, Layers = blobs, Tags = tags });
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            throw new ComputeException(
                ComputeErrorCode.ImageRejected,
                $"manifest.json is not a valid docker save manifest ({ex.Message}). Re-create the archive with `docker save`.",
                ex);
        }

        return plans;
    }

    /// <summary>The images of an OCI layout: index.json -> (nested index ->) manifest -> config + layers.</summary>
    public static async Task<IReadOnlyList<ImagePlan>> ReadOciLayoutAsync(string directory, CancellationToken ct)
    {
        var indexJson = await ReadDocumentAsync(directory, "index.json", null, ct).ConfigureAwait(false);
        var plans = new List<ImagePlan>();
        try
        {
            using var document = JsonDocument.Parse(indexJson);
            foreach (var descriptor in Manifests(document.RootElement, "index.json"))
            {
                var tags = new List<string>();
                var name = Annotation(descriptor, ContainerdNameAnnotation) ?? Annotation(descriptor, RefNameAnnotation);
                if (name is not null)
                {
                    tags.Add(NormalizeTag(name, "index.json annotation"));
                }

                var plan = await ReadManifestAsync(directory, descriptor, depth: 0, ct).ConfigureAwait(false);
                if (plan is not null)
                {
                    plans.Add(plan with { Tags = tags });
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            throw new ComputeException(
                ComputeErrorCode.ImageRejected,
                $"the OCI layout is not valid ({ex.Message}). Re-create it with an OCI tool (skopeo, buildah, docker save).",
                ex);
        }

        return plans;
    }

    private static async Task<ImagePlan?> ReadManifestAsync(string directory, JsonElement descriptor, int depth, CancellationToken ct)
    {
        var mediaType = descriptor.TryGetProperty("mediaType", out var mt) ? mt.GetString() ?? string.Empty : string.Empty;
        var digest = RequiredString(descriptor, "digest", "index.json manifest descriptor");
        var bytes = await ReadDocumentAsync(directory, BlobPath(digest), digest, ct).ConfigureAwait(false);
        using var document = JsonDocument.Parse(bytes);
        var root = document.RootElement;
        if (root.TryGetProperty("mediaType", out var inner) && inner.GetString() is { Length: > 0 } innerType)
        {
            mediaType = innerType;
        }

        var isIndex = mediaType.Contains("image.index", StringComparison.Ordinal)
            || mediaType.Contains("manifest.list", StringComparison.Ordinal)
            || (root.TryGetProperty("manifests", out _) && !root.TryGetProperty("layers", out _));
        if (isIndex)
        {
            if (depth > 4)
            {
                throw new ComputeException(ComputeErrorCode.ImageRejected, $"the OCI index {digest} nests more than 4 levels deep.");
            }

            var chosen = ChoosePlatform([.. Manifests(root, $"index {digest}")], digest);
            return await ReadManifestAsync(directory, chosen, depth + 1, ct).ConfigureAwait(false);
        }

        if (!root.TryGetProperty("config", out var configDescriptor) || !root.TryGetProperty("layers", out var layers))
        {
            // Not an image (e.g. an attestation or signature manifest): nothing to import.
            return null;
        }

        var configDigest = RequiredString(configDescriptor, "digest", $"manifest {digest} config");
        var configJson = await ReadDocumentAsync(directory, BlobPath(configDigest), configDigest, ct).ConfigureAwait(false);
        var config = ImageConfigDocument.Parse(configJson, $"image config {configDigest}");
        var layerDescriptors = layers.EnumerateArray().ToList();
        var diffIds = MatchDiffIds(config, layerDescriptors.Count, $"image config {configDigest}");
        var blobs = new List<LayerBlob>();
        for (var i = 0; i < layerDescriptors.Count; i++)
        {
            var layerDigest = RequiredString(layerDescriptors[i], "digest", $"manifest {digest} layer {i + 1}");
            var relative = BlobPath(layerDigest);
            var description = $"layer {i + 1} ({relative})";
            blobs.Add(new LayerBlob
            {
                Path = ResolveFile(directory, relative, description),
                Description = description,
                Digest = layerDigest,
                Size = layerDescriptors[i].TryGetProperty("size", out var size) && size.TryGetInt64(out var n) ? n : null,
                DiffId = diffIds?[i],
            });
        }

        return new ImagePlan { Id = Sha256(configJson), ConfigJson = configJson, Config = config, Layers = blobs, Tags = [] };
    }

    private static IEnumerable<JsonElement> Manifests(JsonElement index, string what)
    {
        if (index.ValueKind != JsonValueKind.Object
            || !index.TryGetProperty("manifests", out var manifests)
            || manifests.ValueKind != JsonValueKind.Array)
        {
            throw new JsonException($"{what} has no manifests array");
        }

        return manifests.EnumerateArray().ToList();
    }

    /// <summary>From a multi-platform index, the manifest for linux on this host's architecture.</summary>
    private static JsonElement ChoosePlatform(IReadOnlyList<JsonElement> manifests, string digest)
    {
        var arch = ImageConfigDocument.HostArchitecture;
        foreach (var manifest in manifests)
        {
            if (manifest.TryGetProperty("platform", out var platform)
                && platform.TryGetProperty("os", out var os) && os.GetString() == "linux"
                && platform.TryGetProperty("architecture", out var a) && a.GetString() == arch)
            {
                return manifest;
            }
        }

        var withoutPlatform = manifests.Where(m => !m.TryGetProperty("platform", out _)).ToList();
        if (withoutPlatform.Count > 0)
        {
            return withoutPlatform[0];
        }

        var offered = string.Join(", ", manifests.Select(m => m.TryGetProperty("platform", out var p)
            ? $"{(p.TryGetProperty("os", out var o) ? o.GetString() : "?")}/{(p.TryGetProperty("architecture", out var a) ? a.GetString() : "?")}"
            : "?"));
        throw new ComputeException(
            ComputeErrorCode.ImageRejected,
            $"the OCI index {digest} has no image for linux/{arch} (it offers: {offered}). Export the image for this platform.");
    }

    private static string? Annotation(JsonElement descriptor, string key) =>
        descriptor.TryGetProperty("annotations", out var annotations)
            && annotations.ValueKind == JsonValueKind.Object
            && annotations.TryGetProperty(key, out var value)
            && value.GetString() is { Length: > 0 } text
            ? text
            : null;

    private static IReadOnlyList<string>? MatchDiffIds(ImageConfigDocument config, int layerCount, string what)
    {
        if (config.DiffIds.Count == 0)
        {
            return null;
        }

        if (config.DiffIds.Count != layerCount)
        {
            throw new ComputeException(
                ComputeErrorCode.ImageRejected,
                $"{what} lists {config.DiffIds.Count} layer diff ids but the manifest has {layerCount} layers. The archive is inconsistent; re-export it.");
        }

        return config.DiffIds;
    }

    private static string NormalizeTag(string name, string where) =>
        ImageReference.TryParse(name)?.ToString() ?? throw new ComputeException(
            ComputeErrorCode.ImageRejected,
            $"{where} names the image '{name}', which is not a valid image name. Fix the name or import with an explicit tag.");

    /// <summary>"blobs/sha256/&lt;hex&gt;" for a digest; refuses other algorithms and malformed digests (no path tricks).</summary>
    private static string BlobPath(string digest)
    {
        if (!DigestPattern().IsMatch(digest))
        {
            throw new ComputeException(
                ComputeErrorCode.ImageRejected,
                $"the digest '{digest}' is not supported; only sha256:<64 lowercase hex> digests are accepted.");
        }

        return "blobs/sha256/" + digest["sha256:".Length..];
    }

    /// <summary>docker save names configs "&lt;hex&gt;.json" (older) or "blobs/sha256/&lt;hex&gt;" (newer): both are digests.</summary>
    private static string? DigestFromFileName(string path)
    {
        var match = DigestFileNamePattern().Match(path);
        return match.Success ? "sha256:" + match.Groups[1].Value : null;
    }

    private static string ResolveFile(string directory, string relative, string what)
    {
        var path = ContainedPath.Resolve(directory, relative);
        if (path is null)
        {
            throw new ComputeException(
                ComputeErrorCode.ImageRejected,
                $"{what}: the path '{relative}' leaves the archive (absolute path, '..' or a symlink pointing outside). The archive was refused.");
        }

        if (!File.Exists(path))
        {
            throw new ComputeException(
                ComputeErrorCode.ImageRejected,
                $"{what}: the archive has no file '{relative}'. The archive is incomplete; re-export it.");
        }

        return path;
    }

    private static async Task<byte[]> ReadDocumentAsync(string directory, string relative, string? digest, CancellationToken ct)
    {
        var path = ResolveFile(directory, relative, $"'{relative}'");
        if (new FileInfo(path).Length > MaxDocumentBytes)
        {
            throw new ComputeException(ComputeErrorCode.ImageRejected, $"'{relative}' is larger than {MaxDocumentBytes} bytes; it is not an image manifest or config.");
        }

        var bytes = await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false);
        if (digest is not null && Sha256(bytes) != digest)
        {
            throw new ComputeException(
                ComputeErrorCode.ImageRejected,
                $"'{relative}' does not match its digest: expected {digest}, got {Sha256(bytes)}. The archive is corrupt or was tampered with; re-export it.");
        }

        return bytes;
    }

    internal static string Sha256(byte[] bytes) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static string RequiredString(JsonElement element, string name, string what) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.GetString() is { Length: > 0 } text
            ? text
            : throw new JsonException($"{what} has no '{name}'");

    [GeneratedRegex("^sha256:[0-9a-f]{64}$")]
    private static partial Regex DigestPattern();

    [GeneratedRegex("(?:^|/)(?:blobs/sha256/)?([0-9a-f]{64})(?:\\.json)?$")]
    private static partial Regex DigestFileNamePattern();
}
