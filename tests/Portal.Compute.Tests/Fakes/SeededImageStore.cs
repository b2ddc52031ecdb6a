using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Portal.Compute.Images;

namespace Portal.Compute.Tests.Fakes;

/// <summary>
/// A real image store opened on a directory seeded with one busybox-like image (its image.json and an empty disk file),
/// so that unit tests resolve images, aliases and defaults without building an erofs disk.
/// </summary>
public static class SeededImageStore
{
    public static ImageStore Open(string root, IReadOnlyDictionary<string, string> aliases)
    {
        var hex = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("seeded busybox")));
        var directory = Path.Combine(root, hex);
        Directory.CreateDirectory(directory);
        File.WriteAllBytes(Path.Combine(directory, "disk.erofs"), []);
        var record = new
        {
            id = "sha256:" + hex,
            tags = new[] { "busybox:latest" },
            layers = new[] { "sha256:" + hex },
            config = new { entrypoint = Array.Empty<string>(), cmd = new[] { "sh" }, env = new[] { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" } },
            createdAt = DateTimeOffset.UnixEpoch,
            sizeBytes = 0,
            diskPath = Path.Combine(directory, "disk.erofs"),
        };
        File.WriteAllText(Path.Combine(directory, "image.json"), JsonSerializer.Serialize(record));
        return new ImageStore(new ImageStoreOptions { Root = root, Aliases = aliases }, NullLogger<ImageStore>.Instance);
    }
}
