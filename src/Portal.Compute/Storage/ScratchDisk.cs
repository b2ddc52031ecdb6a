using System.Diagnostics;
using Portal.Compute.Linux;
using Portal.Shared.Native;

namespace Portal.Compute.Storage;

/// <summary>
/// The container's writable disk: a sparse ext4 file holding the overlay's upper and work directories.
/// Both runtimes use it as is (loop-mounted for process isolation, virtio-blk for VM isolation).
/// New disks are sparse copies of one pre-formatted template, so creating one costs a few MiB of I/O, not a mkfs.
/// </summary>
public sealed class ScratchDisk : IScratchDiskFactory
{
    private readonly string _cacheDirectory;
    private readonly long _sizeBytes;
    private readonly SemaphoreSlim _templateLock = new(1, 1);

    public ScratchDisk(string cacheDirectory, long sizeBytes)
    {
        _cacheDirectory = cacheDirectory;
        _sizeBytes = sizeBytes;
    }

    /// <summary>Bumped when the template's content changes, so a cached template of an older agent is not copied again.</summary>
    private const string TemplateVersion = "v2";

    private const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    public const string UpperDirectory = "upper";
    public const string WorkDirectory = "work";

    public async Task CreateAsync(string path, CancellationToken ct)
    {
        var template = await EnsureTemplateAsync(ct).ConfigureAwait(false);
        var temp = path + ".tmp";
        CopySparse(template, temp);
        File.Move(temp, path, overwrite: true);
    }

    public async Task<string?> HostMountProblemAsync(string path, CancellationToken ct)
    {
        try
        {
            Directory.CreateDirectory(_cacheDirectory);
            return await ScratchDiskCheck.ProblemAsync(path, _cacheDirectory, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.ComponentModel.Win32Exception or ComputeException)
        {
            // A disk that could not be checked is not mounted: the conversion is refused like a failed check.
            return $"the check could not run ({e.Message})";
        }
    }

    private async Task<string> EnsureTemplateAsync(CancellationToken ct)
    {
        var template = Path.Combine(_cacheDirectory, $"scratch-{TemplateVersion}-{_sizeBytes}.ext4");
        if (File.Exists(template))
        {
            return template;
        }

        await _templateLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (File.Exists(template))
            {
                return template;
            }

            Directory.CreateDirectory(_cacheDirectory);
            var seed = Path.Combine(_cacheDirectory, $"scratch-seed-{Guid.NewGuid():N}");
            var temp = template + ".tmp";
            try
            {
                // The upper directory is the container's root directory: 0755 (as Docker's), whatever the agent's umask
                // (077: a 0700 root keeps every non-root user in the container from running anything). mkfs copies the modes.
                foreach (var directory in new[] { seed, Path.Combine(seed, UpperDirectory), Path.Combine(seed, WorkDirectory) })
                {
                    Directory.CreateDirectory(directory);
                    File.SetUnixFileMode(directory, DirectoryMode);
                }
                await using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write))
                {
                    file.SetLength(_sizeBytes);
                }

                var psi = new ProcessStartInfo("mkfs.ext4")
                {
                    RedirectStandardError = true,
                    RedirectStandardOutput = true,
                    ArgumentList = { "-q", "-F", "-L", "scratch", "-E", "lazy_itable_init=1,lazy_journal_init=1", "-d", seed, temp },
                };
                using var process = Process.Start(psi) ?? throw new IOException("cannot start mkfs.ext4");
                var error = await process.StandardError.ReadToEndAsync(ct).ConfigureAwait(false);
                await process.WaitForExitAsync(ct).ConfigureAwait(false);
                if (process.ExitCode != 0)
                {
                    throw new ComputeException(ComputeErrorCode.RuntimeFailure, $"mkfs.ext4 failed to format the scratch disk template: {error.Trim()} (is e2fsprogs installed?)");
                }

                File.Move(temp, template, overwrite: true);
                foreach (var stale in Directory.EnumerateFiles(_cacheDirectory, "scratch-*.ext4").Where(f => Path.GetFileNameWithoutExtension(f)["scratch-".Length..].All(char.IsAsciiDigit)))
                {
                    File.Delete(stale); // an older agent's template (its upper directory came out 0700)
                }

                return template;
            }
            finally
            {
                Directory.Delete(seed, recursive: true);
                File.Delete(temp);
            }
        }
        finally
        {
            _templateLock.Release();
        }
    }

    /// <summary>Copies only the data extents (SEEK_DATA/SEEK_HOLE), keeping the copy as sparse as the source.</summary>
    internal static unsafe void CopySparse(string source, string destination)
    {
        var src = Libc.open(source, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        if (src < 0)
        {
            throw Libc.Fail($"open {source}");
        }

        var dst = Libc.open(destination, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_TRUNC | Libc.O_CLOEXEC, 0x180 /* 0600 */);
        if (dst < 0)
        {
            Libc.close(src);
            throw Libc.Fail($"create {destination}");
        }

        try
        {
            var size = new FileInfo(source).Length;
            var buffer = new byte[1 << 20];
            long offset = 0;
            while (offset < size)
            {
                var data = Native.lseek(src, offset, Native.SEEK_DATA);
                if (data < 0)
                {
                    break; // ENXIO: only a hole remains
                }

                var hole = Native.lseek(src, data, Native.SEEK_HOLE);
                if (hole < 0)
                {
                    hole = size;
                }

                if (Native.lseek(src, data, Native.SEEK_SET) < 0)
                {
                    throw Libc.Fail("lseek");
                }

                var position = data;
                fixed (byte* p = buffer)
                {
                    while (position < hole)
                    {
                        var want = (nuint)Math.Min(buffer.Length, hole - position);
                        var got = Libc.read(src, p, want);
                        if (got <= 0)
                        {
                            throw Libc.Fail($"read {source}");
                        }

                        for (nint written = 0; written < got;)
                        {
                            var w = Native.pwrite(dst, p + written, (nuint)(got - written), position + written);
                            if (w <= 0)
                            {
                                throw Libc.Fail($"write {destination}");
                            }

                            written += w;
                        }

                        position += got;
                    }
                }

                offset = hole;
            }

            if (Native.ftruncate(dst, size) != 0)
            {
                throw Libc.Fail("ftruncate");
            }
        }
        finally
        {
            Libc.close(src);
            Libc.close(dst);
        }
    }
}
