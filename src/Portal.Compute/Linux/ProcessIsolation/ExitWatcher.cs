using System.Collections.Concurrent;
using System.Globalization;
using Portal.Compute.Containers;

namespace Portal.Compute.Linux.ProcessIsolation;

/// <summary>
/// Turns conmon's exit files into completed tasks. inotify tells us at once; a slow poll catches what
/// inotify might miss and notices a monitor that died without writing its file.
/// </summary>
internal sealed class ExitWatcher : IDisposable
{
    private readonly string _directory;
    private readonly ConcurrentDictionary<string, Watch> _watches = new(StringComparer.Ordinal);
    private readonly FileSystemWatcher _watcher;
    private readonly Timer _poll;

    private sealed record Watch(TaskCompletionSource<ContainerExit> Completion, Func<bool> MonitorAlive);

    public ExitWatcher(string directory)
    {
        _directory = directory;
        Directory.CreateDirectory(directory);
        _watcher = new FileSystemWatcher(directory) { NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite };
        _watcher.Created += (_, e) => Check(e.Name);
        _watcher.Changed += (_, e) => Check(e.Name);
        _watcher.Renamed += (_, e) => Check(e.Name);
        _watcher.EnableRaisingEvents = true;
        _poll = new Timer(_ => PollAll(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    public string PathOf(string id) => Path.Combine(_directory, id);

    /// <summary>Completes when the container's exit file appears, or its monitor is gone without one.</summary>
    public Task<ContainerExit> WaitAsync(string id, Func<bool> monitorAlive)
    {
        var watch = _watches.GetOrAdd(id, _ => new Watch(new TaskCompletionSource<ContainerExit>(TaskCreationOptions.RunContinuationsAsynchronously), monitorAlive));
        Check(id);
        return watch.Completion.Task;
    }

    /// <summary>The exit code in the container's exit file, if conmon wrote one.</summary>
    public int? TryRead(string id)
    {
        try
        {
            var text = File.ReadAllText(PathOf(id)).Trim();
            return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var code) ? code : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    public void Forget(string id)
    {
        _watches.TryRemove(id, out _);
        File.Delete(PathOf(id));
    }

    private void Check(string? id)
    {
        if (id is null || !_watches.TryGetValue(id, out var watch))
        {
            return;
        }

        if (TryRead(id) is { } code)
        {
            watch.Completion.TrySetResult(new ContainerExit(code));
        }
    }

    private void PollAll()
    {
        foreach (var (id, watch) in _watches)
        {
            Check(id);
            if (!watch.Completion.Task.IsCompleted && !watch.MonitorAlive())
            {
                // conmon writes the file before it exits; give a racing write one more look.
                Check(id);
                watch.Completion.TrySetResult(new ContainerExit(255, "The container's monitor (conmon) ended without recording an exit code; it was probably killed."));
            }
        }
    }

    public void Dispose()
    {
        _poll.Dispose();
        _watcher.Dispose();
    }
}
