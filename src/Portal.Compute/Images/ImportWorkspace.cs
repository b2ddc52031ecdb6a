namespace Portal.Compute.Images;

/// <summary>
/// A scratch directory under &lt;Root&gt;/.tmp for one import, removed on dispose whatever happened. A lock file
/// beside it (held with an exclusive lock while in use) tells a later start that a leftover is stale.
/// </summary>
internal sealed class ImportWorkspace : IAsyncDisposable
{
    private readonly FileStream _lock;

    private ImportWorkspace(string path, FileStream lockFile)
    {
        Path = path;
        _lock = lockFile;
    }

    public string Path { get; }

    public static ImportWorkspace Create(string tmpRoot)
    {
        var path = System.IO.Path.Combine(tmpRoot, "import-" + Guid.NewGuid().ToString("N"));
        var lockFile = new FileStream(path + ".lock", FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        Directory.CreateDirectory(path);
        PosixFile.Chmod(path, 0b111_000_000);
        return new ImportWorkspace(path, lockFile);
    }

    /// <summary>Deletes leftovers of imports that no live process holds (a crash or kill mid-import).</summary>
    public static void RemoveStale(string tmpRoot, Action<string, Exception> onError)
    {
        var names = Directory.EnumerateFileSystemEntries(tmpRoot)
            .Select(e => e.EndsWith(".lock", StringComparison.Ordinal) ? e[..^".lock".Length] : e)
            .Distinct(StringComparer.Ordinal)
            .ToList();
        foreach (var entry in names)
        {
            var lockPath = entry + ".lock";
            try
            {
                if (File.Exists(lockPath))
                {
                    // Opening with FileShare.None fails while a live import holds its lock.
                    using (new FileStream(lockPath, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
                    {
                        PosixFile.RemoveTree(entry);
                    }

                    File.Delete(lockPath);
                }
                else
                {
                    PosixFile.RemoveTree(entry);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                onError(entry, ex);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Task.Run(() => PosixFile.RemoveTree(Path)).ConfigureAwait(false);
        }
        finally
        {
            await _lock.DisposeAsync().ConfigureAwait(false);
            File.Delete(Path + ".lock");
        }
    }
}
