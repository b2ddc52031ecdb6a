using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Portal.Docker.Tls;

/// <summary>
/// A docker context as `docker context export` writes it and `docker context import NAME FILE` reads it: a tar with
/// meta.json (the context's name, description and docker endpoint) and the endpoint's TLS files under tls/docker/
/// (ca.pem, cert.pem, key.pem; the key 0600).
/// </summary>
public static class DockerContextArchive
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PrivateDirectory = Private | UnixFileMode.UserExecute;
    private const UnixFileMode Public = Private | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    public static async Task WriteAsync(Stream output, string name, string description, string dockerHost, string caPem, string certPem, string keyPem, CancellationToken ct = default)
    {
        var meta = new
        {
            Name = name,
            Metadata = new { Description = description },
            Endpoints = new { docker = new { Host = dockerHost, SkipTLSVerify = false } },
        };
        var writer = new TarWriter(output, TarEntryFormat.Ustar, leaveOpen: true);
        await using (writer.ConfigureAwait(false))
        {
            await AddFileAsync(writer, "meta.json", JsonSerializer.SerializeToUtf8Bytes(meta), Public, ct).ConfigureAwait(false);
            await writer.WriteEntryAsync(new UstarTarEntry(TarEntryType.Directory, "tls/") { Mode = PrivateDirectory, ModificationTime = DateTimeOffset.UnixEpoch }, ct).ConfigureAwait(false);
            await writer.WriteEntryAsync(new UstarTarEntry(TarEntryType.Directory, "tls/docker/") { Mode = PrivateDirectory, ModificationTime = DateTimeOffset.UnixEpoch }, ct).ConfigureAwait(false);
            await AddFileAsync(writer, "tls/docker/ca.pem", Encoding.ASCII.GetBytes(caPem), Private, ct).ConfigureAwait(false);
            await AddFileAsync(writer, "tls/docker/cert.pem", Encoding.ASCII.GetBytes(certPem), Private, ct).ConfigureAwait(false);
            await AddFileAsync(writer, "tls/docker/key.pem", Encoding.ASCII.GetBytes(keyPem), Private, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Where docker keeps an imported context's files: the SHA-256 of its name, as hex.</summary>
    public static string StorageId(string name) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name)));

    private static async Task AddFileAsync(TarWriter writer, string path, byte[] content, UnixFileMode mode, CancellationToken ct)
    {
        var entry = new UstarTarEntry(TarEntryType.RegularFile, path) { Mode = mode, ModificationTime = DateTimeOffset.UnixEpoch, DataStream = new MemoryStream(content) };
        await writer.WriteEntryAsync(entry, ct).ConfigureAwait(false);
    }
}
