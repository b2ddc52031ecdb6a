using Portal.Compute.Containers;
using Portal.Compute.Images;

namespace Portal.Compute.Linux.ProcessIsolation;

/// <summary>
/// Keeps the files conmon drops. At --log-size-max conmon starts the log over: it creates "container.log.tmp" and
/// renames it over "container.log", so the old content would be gone. The keeper holds a hard link,
/// "container.log.keep", to the file conmon writes; when conmon replaces it (inotify tells), the kept inode becomes
/// "container.log.1" (older ones shift up, those beyond the count go) and the link moves to the new file. A second
/// replacement before the keeper reacts (max-size bytes written within milliseconds) loses the file in between.
/// </summary>
internal sealed class ConmonLogKeeper : IDisposable
{
    private readonly string _path;
    private readonly string _keep;
    private readonly LogRotation _rotation;
    private readonly FileSystemWatcher _watcher;
    private readonly Lock _lock = new();
    private bool _disposed;

    private ConmonLogKeeper(string path, LogRotation rotation)
    {
        _path = path;
        _keep = path + ".keep";
        _rotation = rotation;
        _watcher = new FileSystemWatcher(Path.GetDirectoryName(path)!, Path.GetFileName(path))
        {
            NotifyFilter = NotifyFilters.FileName,
        };
        _watcher.Created += (_, _) => Check();
        _watcher.Renamed += (_, _) => Check();
        _watcher.EnableRaisingEvents = true;
    }

    /// <summary>A keeper for the log at <paramref name="path"/>, or null when only one file is kept (conmon's own behaviour).</summary>
    public static ConmonLogKeeper? Start(string path, LogRotation rotation)
    {
        if (rotation.MaxFiles <= 1 || !Directory.Exists(Path.GetDirectoryName(path)))
        {
            return null;
        }

        var keeper = new ConmonLogKeeper(path, rotation);
        keeper.Check(); // after an agent restart conmon may have replaced the file meanwhile
        return keeper;
    }

    /// <summary>Keeps a replaced file, and links the current one.</summary>
    public void Check()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            try
            {
                var current = PosixFile.Inode(_path);
                var kept = PosixFile.Inode(_keep);
                if (kept is not null && kept != current)
                {
                    // conmon replaced the file: the kept one is the newest rotated file now.
                    _rotation.Rotate(_path, current: _keep);
                    kept = null;
                }

                if (kept is null && current is not null)
                {
                    PosixFile.Link(_path, _keep);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Raced with conmon (the file went between our looks), or a file it may not touch: the next event checks
                // again. Never thrown: this runs on the watcher's thread, where an exception would end the agent.
            }
        }
    }

    /// <summary>Stops watching (the container's run ended): a last check, then the link goes (the log itself stays).</summary>
    public void Dispose()
    {
        Check();
        lock (_lock)
        {
            _disposed = true;
            _watcher.Dispose();
            if (PosixFile.Inode(_keep) is { } kept && kept == PosixFile.Inode(_path))
            {
                File.Delete(_keep);
            }
        }
    }
}
