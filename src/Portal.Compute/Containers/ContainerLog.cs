using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Portal.Contracts;

namespace Portal.Compute.Containers;

/// <summary>
/// Reads a container's log file in the CRI "k8s-file" format conmon writes
/// ("2024-01-02T03:04:05.123456789+00:00 stdout F text"), whatever runtime produced it.
/// </summary>
public static class ContainerLog
{
    public static async IAsyncEnumerable<LogEntry> ReadAsync(string path, int? tail, Func<bool> stillWriting, [EnumeratorCancellation] CancellationToken ct = default, long startOffset = 0)
    {
        if (!File.Exists(path))
        {
            if (!stillWriting())
            {
                yield break;
            }

            await using (File.Open(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
            {
            }
        }

        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        stream.Position = Math.Min(startOffset, stream.Length);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        if (tail is { } n)
        {
            var last = new Queue<LogEntry>();
            while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
            {
                if (Parse(line) is { } entry)
                {
                    last.Enqueue(entry);
                    if (last.Count > n)
                    {
                        last.Dequeue();
                    }
                }
            }

            foreach (var entry in last)
            {
                yield return entry;
            }

            // Not following: exactly the last n as of the scan (`docker logs --tail 2` of a busy container prints 2 lines).
            if (!stillWriting())
            {
                yield break;
            }
        }

        // Woken by inotify when the writer appends (conmon or our VM log writer), so a follower sees a line as soon as it
        // is written; the timeout only bounds how late the end of the writer is noticed.
        using var changed = new FileChangeSignal(path);
        while (!ct.IsCancellationRequested)
        {
            var line = await reader.ReadLineAsync(ct).ConfigureAwait(false);
            if (line is not null)
            {
                if (Parse(line) is { } entry)
                {
                    yield return entry;
                }

                continue;
            }

            if (!stillWriting())
            {
                // One last read: the writer may have finished between our EOF and the check.
                while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } rest)
                {
                    if (Parse(rest) is { } entry)
                    {
                        yield return entry;
                    }
                }

                yield break;
            }

            await changed.WaitAsync(TimeSpan.FromMilliseconds(250), ct).ConfigureAwait(false);
        }
    }

    internal static LogEntry? Parse(string line)
    {
        var first = line.IndexOf(' ');
        var second = first < 0 ? -1 : line.IndexOf(' ', first + 1);
        var third = second < 0 ? -1 : line.IndexOf(' ', second + 1);
        if (third < 0 || !DateTimeOffset.TryParse(line.AsSpan(0, first), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var timestamp))
        {
            return null;
        }

        var stream = line.AsSpan(first + 1, second - first - 1).SequenceEqual("stderr") ? LogStream.Stderr : LogStream.Stdout;
        var full = line.AsSpan(second + 1, third - second - 1).SequenceEqual("F");
        var text = line[(third + 1)..];
        return new LogEntry(timestamp, stream, full ? text + "\n" : text);
    }
}
