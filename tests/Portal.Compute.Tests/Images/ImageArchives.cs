using System.Formats.Tar;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Portal.Compute.Tests.Images;

/// <summary>A layer for a test image: its uncompressed tar and whether the archive stores it gzip- or zstd-compressed.</summary>
internal sealed record TestLayer(byte[] Tar, bool Gzip = false, bool Zstd = false)
{
    public byte[] Blob => Gzip ? TarBuilder.Gzip(Tar) : Zstd ? TarBuilder.Zstd(Tar) : Tar;

    /// <summary>The OCI media type of <see cref="Blob"/>.</summary>
    public string MediaType => "application/vnd.oci.image.layer.v1.tar" + (Gzip ? "+gzip" : Zstd ? "+zstd" : string.Empty);

    public string DiffId => TarBuilder.Digest(Tar);
}

/// <summary>Writes OCI image layouts and docker save archives the way the real tools do.</summary>
internal static class ImageArchives
{
    public static byte[] Config(IEnumerable<TestLayer> layers, string[]? cmd = null, string? workingDir = null) =>
        Encoding.UTF8.GetBytes(new JsonObject
        {
            ["architecture"] = "amd64",
            ["os"] = "linux",
            ["created"] = "2021-06-07T08:09:10Z",
            ["config"] = new JsonObject
            {
                ["Cmd"] = new JsonArray([.. (cmd ?? ["/bin/app"]).Select(c => (JsonNode)c)]),
                ["Env"] = new JsonArray("PATH=/usr/bin:/bin", "APP=1"),
                ["WorkingDir"] = workingDir ?? "/srv",
            },
            ["rootfs"] = new JsonObject
            {
                ["type"] = "layers",
                ["diff_ids"] = new JsonArray([.. layers.Select(l => (JsonNode)l.DiffId)]),
            },
        }.ToJsonString());

    /// <summary>Writes an OCI layout into <paramref name="directory"/>; returns the image id (config digest).</summary>
    public static string WriteOciLayout(
        string directory, IReadOnlyList<TestLayer> layers, string? refName, bool nestedIndex = false, byte[]? config = null)
    {
        Directory.CreateDirectory(Path.Combine(directory, "blobs", "sha256"));
        System.IO.File.WriteAllText(Path.Combine(directory, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        config ??= Config(layers);
        var configDigest = WriteBlob(directory, config);
        var manifest = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
            ["config"] = Descriptor("application/vnd.oci.image.config.v1+json", config),
            ["layers"] = new JsonArray([.. layers.Select(l => (JsonNode)Descriptor(l.MediaType, l.Blob))]),
        }.ToJsonString());
        foreach (var layer in layers)
        {
            WriteBlob(directory, layer.Blob);
        }

        WriteBlob(directory, manifest);
        var top = Descriptor("application/vnd.oci.image.manifest.v1+json", manifest);
        if (nestedIndex)
        {
            var other = Descriptor("application/vnd.oci.image.manifest.v1+json", manifest);
            other["platform"] = new JsonObject { ["os"] = "linux", ["architecture"] = "s390x" };
            var mine = Descriptor("application/vnd.oci.image.manifest.v1+json", manifest);
            mine["platform"] = new JsonObject { ["os"] = "linux", ["architecture"] = "amd64" };
            var index = Encoding.UTF8.GetBytes(new JsonObject
            {
                ["schemaVersion"] = 2,
                ["mediaType"] = "application/vnd.oci.image.index.v1+json",
                ["manifests"] = new JsonArray(other, mine),
            }.ToJsonString());
            WriteBlob(directory, index);
            top = Descriptor("application/vnd.oci.image.index.v1+json", index);
        }

        if (refName is not null)
        {
            top["annotations"] = new JsonObject { ["org.opencontainers.image.ref.name"] = refName };
        }

        System.IO.File.WriteAllText(
            Path.Combine(directory, "index.json"),
            new JsonObject { ["schemaVersion"] = 2, ["manifests"] = new JsonArray(top) }.ToJsonString());
        return configDigest;
    }

    /// <summary>
    /// A docker save archive. Classic: &lt;hex&gt;.json configs and &lt;id&gt;/layer.tar; ociStyle: blobs/sha256 plus
    /// oci-layout and index.json, as docker 25+ writes.
    /// </summary>
    public static byte[] DockerSave(IReadOnlyList<(string[] RepoTags, IReadOnlyList<TestLayer> Layers)> images, bool ociStyle = false)
    {
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        var manifest = new JsonArray();
        foreach (var (repoTags, layers) in images)
        {
            var config = Config(layers);
            var configHex = TarBuilder.Digest(config)["sha256:".Length..];
            var configPath = ociStyle ? $"blobs/sha256/{configHex}" : $"{configHex}.json";
            files[configPath] = config;
            var layerPaths = new JsonArray();
            foreach (var layer in layers)
            {
                var hex = TarBuilder.Digest(layer.Blob)["sha256:".Length..];
                var path = ociStyle ? $"blobs/sha256/{hex}" : $"{hex}/layer.tar";
                files[path] = layer.Blob;
                layerPaths.Add(path);
            }

            manifest.Add(new JsonObject
            {
                ["Config"] = configPath,
                ["RepoTags"] = new JsonArray([.. repoTags.Select(t => (JsonNode)t)]),
                ["Layers"] = layerPaths,
            });
        }

        files["manifest.json"] = Encoding.UTF8.GetBytes(manifest.ToJsonString());
        if (ociStyle)
        {
            files["oci-layout"] = Encoding.UTF8.GetBytes("{\"imageLayoutVersion\":\"1.0.0\"}");
            files["index.json"] = Encoding.UTF8.GetBytes("{\"schemaVersion\":2,\"manifests\":[]}");
        }

        using var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            // docker save writes manifest.json last; keep that order so detection must read to the end.
            foreach (var (path, content) in files.OrderBy(f => f.Key == "manifest.json" ? 1 : 0))
            {
                writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, path) { DataStream = new MemoryStream(content), Mode = TarBuilder.Octal("644") });
            }
        }

        return buffer.ToArray();
    }

    /// <summary>Tars a directory's contents (no base directory), as `tar -C dir -cf - .` would.</summary>
    public static byte[] TarDirectory(string directory)
    {
        using var buffer = new MemoryStream();
        TarFile.CreateFromDirectory(directory, buffer, includeBaseDirectory: false);
        return buffer.ToArray();
    }

    public static string WriteBlob(string layout, byte[] content)
    {
        var digest = TarBuilder.Digest(content);
        System.IO.File.WriteAllBytes(Path.Combine(layout, "blobs", "sha256", digest["sha256:".Length..]), content);
        return digest;
    }

    public static JsonObject Descriptor(string mediaType, byte[] content) =>
        new()
        {
            ["mediaType"] = mediaType,
            ["digest"] = TarBuilder.Digest(content),
            ["size"] = content.Length,
        };

    public static JsonElement Parse(byte[] json) => JsonDocument.Parse(json).RootElement.Clone();
}
