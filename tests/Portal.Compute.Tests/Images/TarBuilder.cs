using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;

namespace Portal.Compute.Tests.Images;

/// <summary>Builds tar archives in memory for tests, including ones no honest tool would write.</summary>
internal sealed class TarBuilder
{
    public static readonly DateTimeOffset Time = new(2020, 1, 2, 3, 4, 5, TimeSpan.Zero);

    private readonly List<Func<TarEntry>> _entries = [];

    public TarBuilder Dir(string name, string mode = "755", int uid = 0, int gid = 0) =>
        Add(() => Entry(TarEntryType.Directory, name, mode, uid, gid));

    public TarBuilder File(string name, string content, string mode = "644", int uid = 0, int gid = 0) =>
        File(name, System.Text.Encoding.UTF8.GetBytes(content), mode, uid, gid);

    public TarBuilder File(string name, byte[] content, string mode = "644", int uid = 0, int gid = 0) =>
        Add(() =>
        {
            var entry = Entry(TarEntryType.RegularFile, name, mode, uid, gid);
            entry.DataStream = new MemoryStream(content);
            return entry;
        });

    public TarBuilder Symlink(string name, string target) =>
        Add(() =>
        {
            var entry = Entry(TarEntryType.SymbolicLink, name, "777", 0, 0);
            entry.LinkName = target;
            return entry;
        });

    public TarBuilder HardLink(string name, string target) =>
        Add(() =>
        {
            var entry = Entry(TarEntryType.HardLink, name, "644", 0, 0);
            entry.LinkName = target;
            return entry;
        });

    public TarBuilder Special(TarEntryType type, string name) =>
        Add(() => Entry(type, name, "600", 0, 0));

    public byte[] ToBytes(bool gzip = false)
    {
        using var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var create in _entries)
            {
                writer.WriteEntry(create());
            }
        }

        return gzip ? Gzip(buffer.ToArray()) : buffer.ToArray();
    }

    public static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }

    /// <summary>zstd-compressed, as a registry's zstd layers are (ZstdSharp, the library the store reads them with).</summary>
    public static byte[] Zstd(byte[] data)
    {
        using var compressor = new ZstdSharp.Compressor(3);
        return compressor.Wrap(data).ToArray();
    }

    public static string Digest(byte[] data) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(data));

    public static UnixFileMode Octal(string mode) => (UnixFileMode)Convert.ToInt32(mode, 8);

    private TarBuilder Add(Func<TarEntry> entry)
    {
        _entries.Add(entry);
        return this;
    }

    private static PaxTarEntry Entry(TarEntryType type, string name, string mode, int uid, int gid) =>
        new(type, name)
        {
            Mode = Octal(mode),
            Uid = uid,
            Gid = gid,
            ModificationTime = Time,
        };
}
