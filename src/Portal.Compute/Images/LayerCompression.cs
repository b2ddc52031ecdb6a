using System.IO.Compression;
using ZstdSharp;

namespace Portal.Compute.Images;

/// <summary>Recognizes how a layer or archive is compressed by its first bytes and opens it as a plain tar stream.</summary>
internal static class LayerCompression
{
    /// <summary>
    /// Opens <paramref name="path"/> decompressed; gzip, zstd and plain tar are accepted, anything else is refused.
    /// Also returns the file itself, whose position tells progress.
    /// </summary>
    public static async Task<(Stream Tar, FileStream File)> OpenTarAsync(string path, string what, CancellationToken ct)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true);
        try
        {
            var magic = new byte[6];
            var n = await file.ReadAtLeastAsync(magic, magic.Length, throwOnEndOfStream: false, ct).ConfigureAwait(false);
            file.Position = 0;
            var kind = Detect(magic.AsSpan(0, n));
            switch (kind)
            {
                case "gzip":
                    return (new GZipStream(file, CompressionMode.Decompress, leaveOpen: false), file);
                case "zstd":
                    return (new DecompressionStream(file, leaveOpen: false), file);
                case "tar":
                    return (file, file);
                default:
                    throw new ComputeException(
                        ComputeErrorCode.ImageRejected,
                        $"{what} is {kind}-compressed; only uncompressed, gzip- and zstd-compressed tar layers are supported. " +
                        "Re-export the image with gzip or uncompressed layers (e.g. `docker save`, or `skopeo copy --dest-compress-format gzip`).");
            }
        }
        catch
        {
            await file.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>"gzip", "tar", or the name of an unsupported compression.</summary>
    public static string Detect(ReadOnlySpan<byte> magic)
    {
        if (magic.StartsWith((ReadOnlySpan<byte>)[0x1f, 0x8b]))
        {
            return "gzip";
        }

        if (magic.StartsWith((ReadOnlySpan<byte>)[0x28, 0xb5, 0x2f, 0xfd]))
        {
            return "zstd";
        }

        if (magic.StartsWith((ReadOnlySpan<byte>)[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))
        {
            return "xz";
        }

        if (magic.StartsWith("BZh"u8))
        {
            return "bzip2";
        }

        return "tar";
    }
}
