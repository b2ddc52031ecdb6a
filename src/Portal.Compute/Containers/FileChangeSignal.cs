namespace Portal.Compute.Containers;

/// <summary>
/// Tells a reader that one file changed. inotify-backed (.NET shares one inotify instance among all watchers of a
/// process, so many followers cost watches, not instances); changes that arrive while nobody waits are remembered once.
/// </summary>
internal sealed class FileChangeSignal : IDisposable
{
    private readonly FileSystemWatcher _watcher;
    private readonly SemaphoreSlim _changed = new(0, 1);

    public FileChangeSignal(string path)
    {
        _watcher = new FileSystemWatcher(Path.GetDirectoryName(Path.GetFullPath(path))!, Path.GetFileName(path))
        {
            NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.FileName,
        };
        _watcher.Changed += (_, _) => Signal();
        _watcher.Created += (_, _) => Signal(); // the writer rotated the file
        _watcher.Renamed += (_, _) => Signal();
        _watcher.EnableRaisingEvents = true;
    }

    /// <summary>True when the file changed since the last wait; false after <paramref name="timeout"/> without a change.</summary>
    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken ct) => _changed.WaitAsync(timeout, ct);

    public void Dispose()
    {
        _watcher.Dispose();
        _changed.Dispose();
    }

    private void Signal()
    {
        try
        {
            if (_changed.CurrentCount == 0)
            {
                _changed.Release();
            }
        }
        catch (Exception e) when (e is SemaphoreFullException or ObjectDisposedException)
        {
            // Already signalled, or the reader is gone.
        }
    }
}
