using System.Diagnostics;
using System.Formats.Tar;
using System.Text;
using Portal.Compute.Images;

namespace Portal.Compute.Tests.Integration;

/// <summary>
/// A small image of dynamically linked host programs (with the libraries and loader ldd names, at the same paths) and
/// a non-root user "app" (1000:1000): what a non-root user in a container needs to run anything at all.
/// </summary>
internal static class HostFilesImage
{
    public const string UserName = "app";

    public static Task<string> ImportAsync(IImageService images, string tag, params string[] programs) => ImportAsync(images, tag, withEtc: true, programs);

    /// <summary>Without <paramref name="withEtc"/> the image has no /etc at all: the runtime makes it (for /etc/hosts).</summary>
    public static async Task<string> ImportAsync(IImageService images, string tag, bool withEtc, params string[] programs)
    {
        var files = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var program in programs)
        {
            files.Add(program);
            foreach (var library in await LibrariesAsync(program))
            {
                files.Add(library);
            }
        }

        var tar = Path.Combine(Path.GetTempPath(), $"host-files-{Guid.NewGuid():N}.tar");
        try
        {
            await using (var output = File.Create(tar))
            await using (var writer = new TarWriter(output, TarEntryFormat.Pax))
            {
                foreach (var file in files)
                {
                    await using var content = File.OpenRead(file); // through symlinks: the image gets the real file
                    await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, file.TrimStart('/')) { Mode = (UnixFileMode)0x1ED, DataStream = content });
                }

                // Files only, no directory entries: the image's root and its directories are what the agent makes of them.
                if (withEtc)
                {
                    await WriteTextAsync(writer, "etc/passwd", $"root:x:0:0:root:/root:/bin/sh\n{UserName}:x:1000:1000:app:/home/app:/bin/sh\n");
                    await WriteTextAsync(writer, "etc/group", $"root:x:0:\n{UserName}:x:1000:\n");
                    await WriteTextAsync(writer, "etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n");
                }
            }

            await using var archive = File.OpenRead(tar);
            return (await images.ImportAsync(archive, tag, null, CancellationToken.None)).Single().Id;
        }
        finally
        {
            File.Delete(tar);
        }
    }

    private static async Task WriteTextAsync(TarWriter writer, string name, string text) =>
        await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, name) { Mode = (UnixFileMode)0x1A4, DataStream = new MemoryStream(Encoding.ASCII.GetBytes(text)) });

    /// <summary>The absolute paths ldd prints for <paramref name="program"/>: its libraries and the loader.</summary>
    private static async Task<IReadOnlyList<string>> LibrariesAsync(string program)
    {
        using var ldd = Process.Start(new ProcessStartInfo("ldd", [program]) { RedirectStandardOutput = true })!;
        var output = await ldd.StandardOutput.ReadToEndAsync();
        await ldd.WaitForExitAsync();
        return output.Split('\n')
            .Select(l => l.Trim().Split(' '))
            .Select(f => f.Length >= 3 && f[1] == "=>" ? f[2] : f[0])
            .Where(p => p.StartsWith('/'))
            .ToList();
    }
}
