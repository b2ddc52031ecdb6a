using System.Runtime.CompilerServices;
using Portal.Contracts;

namespace Portal.Compute.Containers;

/// <summary>
/// A container's output and input: its log (tail, follow), attaching to its first process (output, stdin, terminal
/// size), even before it starts, so that `docker run` sees everything from the first byte.
/// </summary>
public sealed class ContainerStreams(ContainerStore store, ContainerRuns runs)
{
    public IAsyncEnumerable<LogEntry> ReadLogsAsync(string idOrName, int? tail, bool follow, CancellationToken ct)
    {
        var id = store.Find(idOrName).Id;
        if (tail is < 0)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "tail must be zero or more lines.");
        }

        return ContainerLog.ReadAsync(store.LogPath(id), tail, () => follow && store.Get(id)?.State is ContainerState.Running or ContainerState.Stopping, ct);
    }

    /// <summary>
    /// Output (all of the attached run's when <paramref name="includeEarlierOutput"/>, else from now) until that run ends,
    /// stdin when asked for, and terminal resize. Attaching to a container that is not running attaches to its next run.
    /// </summary>
    public ContainerAttachment Attach(string idOrName, bool includeEarlierOutput, bool stdin, CancellationToken ct)
    {
        var record = store.Find(idOrName);
        var run = runs.Of(record.Id);
        if (stdin && !record.OpenStdin)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Container '{record.Name}' was created without an open stdin; create it with stdin open (docker run -i) to send it input.");
        }

        var logPath = store.LogPath(record.Id);
        var running = record.State is ContainerState.Running or ContainerState.Stopping;
        var nextStart = running ? Task.CompletedTask : run.NextStart.Task;
        var exit = running ? run.Exit.Task : null;
        var nowOffset = File.Exists(logPath) ? new FileInfo(logPath).Length : 0;

        async Task<IContainer> RunningContainerAsync(CancellationToken token)
        {
            await nextStart.WaitAsync(token).ConfigureAwait(false);
            return run.Running ?? throw new ComputeException(ComputeErrorCode.InvalidTransition, $"Container '{record.Name}' is not running.");
        }

        async IAsyncEnumerable<LogEntry> OutputAsync([EnumeratorCancellation] CancellationToken token = default)
        {
            await nextStart.WaitAsync(token).ConfigureAwait(false);
            var runEnded = exit ?? run.Exit.Task;
            var offset = includeEarlierOutput || !running ? store.Get(record.Id)?.LogOffset ?? 0 : nowOffset;
            await foreach (var item in ContainerLog.ReadAsync(logPath, null, () => !runEnded.IsCompleted, token, offset).ConfigureAwait(false))
            {
                yield return item;
            }
        }

        var stdinStream = stdin ? new DeferredStdinStream(async token => await (await RunningContainerAsync(token).ConfigureAwait(false)).OpenStdinAsync(token).ConfigureAwait(false)) : null;
        return new ContainerAttachment(
            OutputAsync(ct),
            stdinStream,
            async (columns, rows, token) =>
            {
                if (columns is < 1 or > 1000 || rows is < 1 or > 1000)
                {
                    throw new ComputeException(ComputeErrorCode.InvalidArgument, "Terminal size must be 1 to 1000 columns and rows.");
                }

                run.TerminalSize = (columns, rows);
                if (run.Running is { } container && record.Tty)
                {
                    await container.ResizeAsync(columns, rows, token).ConfigureAwait(false);
                }
            });
    }
}
