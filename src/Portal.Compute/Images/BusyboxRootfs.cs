using System.ComponentModel;
using System.Diagnostics;
using System.Formats.Tar;
using System.Text;

namespace Portal.Compute.Images;

/// <summary>
/// Writes the built-in busybox base image as one deterministic layer tar: sorted entries, uid/gid 0, a fixed
/// mtime and ustar headers (no PAX atime/ctime), so the same busybox binary always gives the same diff id and
/// image id on every machine.
/// </summary>
internal static class BusyboxRootfs
{
    public const string Tag = "busybox:latest";

    /// <summary>2000-01-01T00:00:00Z: a fixed time for every entry.</summary>
    private static readonly DateTimeOffset FixedTime = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private const string Passwd =
        "root:x:0:0:root:/root:/bin/sh\n" +
        "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";

    private const string Group =
        "root:x:0:\n" +
        "nogroup:x:65534:\n";

    public static async Task WriteLayerAsync(string busyboxPath, string tarPath, CancellationToken ct)
    {
        if (!File.Exists(busyboxPath))
        {
            throw new ComputeException(
                ComputeErrorCode.InvalidArgument,
                $"'{busyboxPath}' does not exist. Install a static busybox (apt-get install busybox-static) or configure its path.");
        }

        var applets = await ListAppletsAsync(busyboxPath, ct).ConfigureAwait(false);

        var directories = new SortedDictionary<string, UnixFileMode>(StringComparer.Ordinal)
        {
            ["bin"] = Mode("755"),
            ["dev"] = Mode("755"),
            ["etc"] = Mode("755"),
            ["proc"] = Mode("555"),
            ["root"] = Mode("700"),
            ["sbin"] = Mode("755"),
            ["sys"] = Mode("555"),
            ["tmp"] = Mode("1777"),
            ["usr"] = Mode("755"),
            ["usr/bin"] = Mode("755"),
            ["usr/sbin"] = Mode("755"),
            ["var"] = Mode("755"),
        };
        var links = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var applet in applets)
        {
            var path = applet.TrimStart('/');
            if (path.Length == 0 || path == "bin/busybox" || ArchivePath.Normalize(path) is not { Length: > 0 } parts)
            {
                continue;
            }

            for (var i = 1; i < parts.Length; i++)
            {
                directories.TryAdd(ArchivePath.Join(parts[..i]), Mode("755"));
            }

            links[ArchivePath.Join(parts)] = "/bin/busybox";
        }

        // One sorted list of every entry: a parent always sorts before what it holds.
        var entries = new SortedDictionary<string, Func<TarEntry>>(StringComparer.Ordinal);
        foreach (var (path, mode) in directories)
        {
            entries[path + "/"] = () => Entry(TarEntryType.Directory, path + "/", mode);
        }

        foreach (var (path, target) in links)
        {
            entries[path] = () =>
            {
                var link = Entry(TarEntryType.SymbolicLink, path, Mode("777"));
                link.LinkName = target;
                return link;
            };
        }

        entries["etc/passwd"] = () => FileEntry("etc/passwd", Mode("644"), Encoding.ASCII.GetBytes(Passwd));
        entries["etc/group"] = () => FileEntry("etc/group", Mode("644"), Encoding.ASCII.GetBytes(Group));

        await using var output = new FileStream(tarPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, useAsync: true);
        await using var writer = new TarWriter(output, TarEntryFormat.Ustar, leaveOpen: true);
        await using var busybox = new FileStream(busyboxPath, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true);
        entries["bin/busybox"] = () =>
        {
            var entry = Entry(TarEntryType.RegularFile, "bin/busybox", Mode("755"));
            entry.DataStream = busybox;
            return entry;
        };

        foreach (var (_, create) in entries)
        {
            await writer.WriteEntryAsync(create(), ct).ConfigureAwait(false);
        }
    }

    private static async Task<IReadOnlyList<string>> ListAppletsAsync(string busyboxPath, CancellationToken ct)
    {
        var start = new ProcessStartInfo(busyboxPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("--list-full");
        try
        {
            using var process = Process.Start(start) ?? throw new InvalidOperationException("Process.Start returned null");
            var stdout = process.StandardOutput.ReadToEndAsync(ct);
            var stderr = process.StandardError.ReadToEndAsync(ct);
            await process.WaitForExitAsync(ct).ConfigureAwait(false);
            var list = await stdout.ConfigureAwait(false);
            if (process.ExitCode != 0)
            {
                throw new ComputeException(
                    ComputeErrorCode.InvalidArgument,
                    $"'{busyboxPath} --list-full' failed with exit code {process.ExitCode}: {(await stderr.ConfigureAwait(false)).Trim()}. " +
                    "Use a busybox built with applet listing (Debian's busybox-static).");
            }

            return list.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        }
        catch (Win32Exception ex)
        {
            throw new ComputeException(
                ComputeErrorCode.InvalidArgument,
                $"Cannot run '{busyboxPath}' ({ex.Message}). It must be an executable static busybox (apt-get install busybox-static).",
                ex);
        }
    }

    private static UstarTarEntry Entry(TarEntryType type, string name, UnixFileMode mode) =>
        new(type, name)
        {
            Mode = mode,
            Uid = 0,
            Gid = 0,
            UserName = string.Empty,
            GroupName = string.Empty,
            ModificationTime = FixedTime,
        };

    private static UstarTarEntry FileEntry(string name, UnixFileMode mode, byte[] content)
    {
        var entry = Entry(TarEntryType.RegularFile, name, mode);
        entry.DataStream = new MemoryStream(content, writable: false);
        return entry;
    }

    private static UnixFileMode Mode(string octal) => (UnixFileMode)Convert.ToInt32(octal, 8);
}
