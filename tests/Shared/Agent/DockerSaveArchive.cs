using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Portal.Tests.Shared;

/// <summary>A `docker save` archive as the real tool writes it: manifest.json, &lt;hex&gt;.json config, &lt;hex&gt;/layer.tar.</summary>
internal static class DockerSaveArchive
{
    /// <summary>An archive of one image named <paramref name="repoTag"/>; a different <paramref name="text"/> makes a different image (id).</summary>
    public static byte[] Build(string repoTag, string text = "hello from a loaded image\n")
    {
        var layer = Tar([("hello.txt", Encoding.UTF8.GetBytes(text))]);
        var diffId = Digest(layer);
        var config = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["architecture"] = "amd64",
            ["os"] = "linux",
            ["created"] = "2024-05-06T07:08:09Z",
            ["config"] = new JsonObject
            {
                ["Cmd"] = new JsonArray("/bin/sh"),
                ["Env"] = new JsonArray("PATH=/usr/bin:/bin"),
                ["WorkingDir"] = "/",
            },
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray(diffId) },
        }.ToJsonString());
        var configHex = Digest(config)["sha256:".Length..];
        var layerPath = $"{diffId["sha256:".Length..]}/layer.tar";
        var manifest = Encoding.UTF8.GetBytes(new JsonArray(new JsonObject
        {
            ["Config"] = $"{configHex}.json",
            ["RepoTags"] = new JsonArray(repoTag),
            ["Layers"] = new JsonArray(layerPath),
        }).ToJsonString());
        return Tar([($"{configHex}.json", config), (layerPath, layer), ("manifest.json", manifest)]);
    }

    private static byte[] Tar(IEnumerable<(string Path, byte[] Content)> files)
    {
        using var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var (path, content) in files)
            {
                writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, path)
                {
                    DataStream = new MemoryStream(content),
                    Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                    ModificationTime = new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero),
                });
            }
        }

        return buffer.ToArray();
    }

    private static string Digest(byte[] data) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(data));
}
