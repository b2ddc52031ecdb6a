using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Portal.Tests.Shared;

/// <summary>Runnable test images for registries: busybox (from busybox-static) plus a marker file, as an OCI layout.</summary>
public static class TestImages
{
    private static readonly DateTimeOffset Epoch = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    /// <summary>
    /// Writes an OCI layout of one image: a gzip layer with /bin/busybox and its sh, cat and echo links (the same for every
    /// image, so images share it) and a second layer with /marker holding <paramref name="marker"/>. Returns the image id.
    /// </summary>
    public static string WriteBusyboxLayout(string layout, string marker)
    {
        Directory.CreateDirectory(Path.Combine(layout, "blobs", "sha256"));
        File.WriteAllText(Path.Combine(layout, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        var busybox = Tar(writer =>
        {
            writer.WriteEntry(new UstarTarEntry(TarEntryType.Directory, "bin/") { Mode = (UnixFileMode)0b111_101_101, ModificationTime = Epoch });
            writer.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, "bin/busybox") { DataStream = File.OpenRead("/bin/busybox"), Mode = (UnixFileMode)0b111_101_101, ModificationTime = Epoch });
            foreach (var tool in new[] { "sh", "cat", "echo", "ls" })
            {
                writer.WriteEntry(new UstarTarEntry(TarEntryType.SymbolicLink, $"bin/{tool}") { LinkName = "busybox", ModificationTime = Epoch });
            }
        });
        var markerLayer = Tar(writer => writer.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, "marker")
        {
            DataStream = new MemoryStream(Encoding.UTF8.GetBytes(marker)),
            Mode = (UnixFileMode)0b110_100_100,
            ModificationTime = Epoch,
        }));
        var layers = new[] { busybox, markerLayer };
        var config = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["architecture"] = "amd64",
            ["os"] = "linux",
            ["created"] = "2026-01-02T03:04:05Z",
            ["config"] = new JsonObject { ["Cmd"] = new JsonArray("sh"), ["Env"] = new JsonArray("PATH=/bin") },
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray([.. layers.Select(l => (JsonNode)Digest(l))]) },
        }.ToJsonString());
        var blobs = layers.Select(Gzip).ToList();
        var manifest = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
            ["config"] = Write(layout, "application/vnd.oci.image.config.v1+json", config),
            ["layers"] = new JsonArray([.. blobs.Select(b => (JsonNode)Write(layout, "application/vnd.oci.image.layer.v1.tar+gzip", b))]),
        }.ToJsonString());
        File.WriteAllText(Path.Combine(layout, "index.json"),
            new JsonObject { ["schemaVersion"] = 2, ["manifests"] = new JsonArray(Write(layout, "application/vnd.oci.image.manifest.v1+json", manifest)) }.ToJsonString());
        return Digest(config);
    }

    private static JsonObject Write(string layout, string mediaType, byte[] content)
    {
        var digest = Digest(content);
        File.WriteAllBytes(Path.Combine(layout, "blobs", "sha256", digest["sha256:".Length..]), content);
        return new JsonObject { ["mediaType"] = mediaType, ["digest"] = digest, ["size"] = content.Length };
    }

    private static byte[] Tar(Action<TarWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Ustar, leaveOpen: true))
        {
            write(writer);
        }

        return buffer.ToArray();
    }

    /// <summary>Gzip with a fixed header (no time stamp), so the same layer gives the same blob every time.</summary>
    private static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }

    private static string Digest(byte[] data) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(data));
}
