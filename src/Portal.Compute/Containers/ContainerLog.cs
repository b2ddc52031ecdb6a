using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Portal.Contracts;

namespace Portal.Compute.Containers;

/// <summary>
/// Reads a container's log in the CRI "k8s-file" format conmon writes
/// ("2024-01-02T03:04:05.123456789+00:00 stdout F text"), whatever runtime produced it: the rotated files
/// ("container.log.N" .. ".1", see <see cref="LogRotation"/>) and then the current one. A tail is read from the end
/// backwards (its cost is the lines asked for, not the log's size); a follower notices when the writer rotates the
/// file (conmon starts it over at --log-size-max, the VM log writer renames it) and goes on in the new one.
/// </summary>
public static class ContainerLog
{
    private const int TailChunk = 64 * 1024;

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

        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        try
        {
            if (tail is { } n)
            {
                // The last n as of now, read from the end; a follower goes on from where they end.
                var end = stream.Length;
                foreach (var entry in await TailAsync(path, stream, end, n, ct).ConfigureAwait(false))
                {
                    yield return entry;
                }

                // Not following: exactly the last n as of the scan (`docker logs --tail 2` of a busy container prints 2 lines).
                if (!stillWriting())
                {
                    yield break;
                }

                stream.Position = end;
            }
            else if (startOffset > 0 && startOffset <= stream.Length)
            {
                stream.Position = startOffset;
            }
            else if (startOffset > 0)
            {
                // The file was started over since the offset was taken (a rotation): the run's output begins at the offset
                // in the newest rotated file and goes on in this one.
                await foreach (var entry in ReadWholeAsync(LogRotation.RotatedPath(path, 1), ct, startOffset).ConfigureAwait(false))
                {
                    yield return entry;
                }
            }
            else
            {
                // Everything: the rotated files, oldest first, then the current one.
                foreach (var older in LogRotation.Files(path).SkipLast(1))
                {
                    await foreach (var entry in ReadWholeAsync(older, ct).ConfigureAwait(false))
                    {
                        yield return entry;
                    }
                }
            }

            // Woken by inotify when the writer appends or replaces the file (conmon or our VM log writer), so a follower sees
            // a line as soon as it is written; the timeout only bounds how late the end of the writer is noticed.
            using var changed = new FileChangeSignal(path);
            var reader = new StreamReader(stream, Encoding.UTF8);
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

                if (Rotated(stream, path))
                {
                    // The writer moved on to a new file: read what it wrote to this one before it moved, then go on at the
                    // start of the new one.
                    while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } rest)
                    {
                        if (Parse(rest) is { } entry)
                        {
                            yield return entry;
                        }
                    }

                    reader.Dispose();
                    stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                    reader = new StreamReader(stream, Encoding.UTF8);
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
        finally
        {
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The last <paramref name="n"/> entries: the current file (up to <paramref name="end"/>) read backwards in chunks, then
    /// the rotated files, newest first, until there are enough.
    /// </summary>
    internal static async Task<IReadOnlyList<LogEntry>> TailAsync(string path, FileStream current, long end, int n, CancellationToken ct)
    {
        var newestFirst = new List<LogEntry>();
        if (n == 0)
        {
            return newestFirst;
        }

        await TailOfAsync(current, end, n, newestFirst, ct).ConfigureAwait(false);
        foreach (var older in LogRotation.Files(path).SkipLast(1).Reverse())
        {
            if (newestFirst.Count >= n)
            {
                break;
            }

            try
            {
                await using var file = new FileStream(older, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                await TailOfAsync(file, file.Length, n, newestFirst, ct).ConfigureAwait(false);
            }
            catch (FileNotFoundException)
            {
                // Rotated away meanwhile.
            }
        }

        newestFirst.Reverse();
        return newestFirst;
    }

    /// <summary>Adds the entries of <paramref name="file"/> before <paramref name="end"/>, newest first, until <paramref name="into"/> holds <paramref name="n"/>.</summary>
    private static async Task TailOfAsync(FileStream file, long end, int n, List<LogEntry> into, CancellationToken ct)
    {
        var buffer = new byte[TailChunk];
        var carry = Array.Empty<byte>(); // the start of a line whose beginning is in an earlier chunk
        var position = end;
        while (position > 0 && into.Count < n)
        {
            var size = (int)Math.Min(TailChunk, position);
            position -= size;
            file.Position = position;
            await file.ReadExactlyAsync(buffer.AsMemory(0, size), ct).ConfigureAwait(false);
            var chunk = new byte[size + carry.Length];
            buffer.AsSpan(0, size).CopyTo(chunk);
            carry.CopyTo(chunk, size);

            // Lines after the first newline are complete; what precedes it waits for the next (earlier) chunk.
            var span = chunk.AsSpan();
            var lineEnd = span.Length;
            if (lineEnd > 0 && span[lineEnd - 1] == '\n')
            {
                lineEnd--;
            }

            while (into.Count < n)
            {
                var newline = span[..lineEnd].LastIndexOf((byte)'\n');
                if (newline < 0)
                {
                    break;
                }

                if (Parse(Encoding.UTF8.GetString(span[(newline + 1)..lineEnd])) is { } entry)
                {
                    into.Add(entry);
                }

                lineEnd = newline;
            }

            carry = span[..lineEnd].ToArray();
            if (carry.Length > 16 << 20)
            {
                // A "line" this long is not a log record; skip it rather than hold it.
                carry = [];
            }
        }

        if (position == 0 && into.Count < n && carry.Length > 0 && Parse(Encoding.UTF8.GetString(carry)) is { } first)
        {
            into.Add(first);
        }
    }

    private static async IAsyncEnumerable<LogEntry> ReadWholeAsync(string path, [EnumeratorCancellation] CancellationToken ct, long from = 0)
    {
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (FileNotFoundException)
        {
            yield break; // rotated away meanwhile
        }

        await using (file.ConfigureAwait(false))
        {
            file.Position = Math.Min(from, file.Length);
            using var reader = new StreamReader(file, Encoding.UTF8);
            while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
            {
                if (Parse(line) is { } entry)
                {
                    yield return entry;
                }
            }
        }
    }

    /// <summary>Whether the file open as <paramref name="stream"/> is no longer the one at <paramref name="path"/> (renamed or replaced).</summary>
    private static bool Rotated(FileStream stream, string path)
    {
        try
        {
            var open = File.ResolveLinkTarget($"/proc/self/fd/{stream.SafeFileHandle.DangerousGetHandle()}", returnFinalTarget: false)?.FullName;
            return open is not null && open != Path.GetFullPath(path) && File.Exists(path);
        }
        catch (IOException)
        {
            return false;
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
