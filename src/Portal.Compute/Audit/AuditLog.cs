using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using Microsoft.Win32.SafeHandles;
using Portal.Compute.Linux;
using Portal.Contracts;
using Portal.Shared.Native;

namespace Portal.Compute.Audit;

/// <summary>
/// The agent's append-only audit trail: JSON Lines in segment files named by the sequence of their first entry
/// ("audit-00000000000000000001.jsonl"), so a name never changes and a collector's <c>after=</c> finds its place by
/// name. Each entry is numbered (no gaps) and written with one write(2) on a descriptor opened with O_APPEND; with
/// <see cref="AuditLogOptions.SyncEachEntry"/> it is on disk (fdatasync, shared by concurrent appends) before
/// <see cref="Append"/> returns. Nothing here rewrites an entry: segments are only appended to, then deleted whole
/// by retention (the oldest first past <see cref="AuditLogOptions.MaxBytes"/>, or when older than the retention days).
/// Files are 0640 in a 0750 directory, owned by the agent (root).
/// </summary>
public sealed class AuditLog : IDisposable
{
    public const string FilePrefix = "audit-";
    public const string FileSuffix = ".jsonl";
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead;
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute;

    /// <summary>How many entries a subscriber may fall behind before it is dropped (it subscribes again with after=).</summary>
    public const int SubscriberBacklog = 4096;

    private const int TailBytes = 64 << 10;

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly Lock _lock = new();
    private readonly Lock _syncLock = new();
    private readonly AuditLogOptions _options;
    private readonly TimeProvider _time;
    private readonly HashSet<Channel<AuditEntry>> _subscribers = [];
    private Segment _active;
    private long _last;
    private long _durable;
    private DateTimeOffset _nextRetention;
    private bool _disposed;

    private sealed class Segment(string path, long first, SafeFileHandle handle, long bytes, DateOnly day)
    {
        public string Path { get; } = path;
        public long First { get; } = first;
        public SafeFileHandle Handle { get; } = handle;
        public long Bytes { get; set; } = bytes;
        public DateOnly Day { get; } = day;
    }

    public AuditLog(AuditLogOptions options, string directory, TimeProvider? time = null)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("The audit trail is written on Linux hosts.");
        }

        options.Validate();
        _options = options;
        _time = time ?? TimeProvider.System;
        Directory = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(Directory, DirectoryMode);
        File.SetUnixFileMode(Directory, DirectoryMode);

        var segments = Segments(Directory);
        if (segments.Count == 0)
        {
            _last = 0;
            _active = Open(1, Today());
        }
        else
        {
            var (first, path) = segments[^1];
            TerminateTornLine(path);
            _last = LastSequenceIn(path) ?? first - 1;
            _active = Open(first, DateOnly.FromDateTime(File.GetLastWriteTimeUtc(path)));
        }

        _durable = _last;
        lock (_lock)
        {
            ApplyRetention(_time.GetUtcNow());
        }
    }

    /// <summary>Where the segment files are.</summary>
    public string Directory { get; }

    /// <summary>The newest entry's sequence (0 when there is none yet).</summary>
    public long LastSequence => Interlocked.Read(ref _last);

    /// <summary>
    /// Numbers, stamps (UTC now) and appends <paramref name="entry"/>, tells subscribers, and returns it as stored.
    /// Throws IOException when it cannot be written: an action that cannot be recorded is reported, not hidden.
    /// </summary>
    public AuditEntry Append(AuditEntry entry)
    {
        AuditEntry stored;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var now = _time.GetUtcNow();
            stored = entry with { Sequence = _last + 1, Time = now };
            var line = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(stored, Json) + "\n");
            if (_active.Bytes > 0 && (_active.Bytes + line.Length > _options.SegmentBytes || _active.Day != DateOnly.FromDateTime(now.UtcDateTime)))
            {
                Roll(stored.Sequence, now);
            }

            WriteAll(_active.Handle, line);
            _active.Bytes += line.Length;
            Interlocked.Exchange(ref _last, stored.Sequence);
            Publish(stored);
            if (now >= _nextRetention)
            {
                ApplyRetention(now);
            }
        }

        if (_options.SyncEachEntry)
        {
            SyncThrough(stored.Sequence);
        }

        return stored;
    }

    /// <summary>The entries <paramref name="query"/> selects, in sequence order, at most its limit (1 to <see cref="AuditQuery.MaxLimit"/>).</summary>
    public AuditPage Read(AuditQuery query)
    {
        var limit = Math.Clamp(query.Limit, 1, AuditQuery.MaxLimit);
        var upTo = LastSequence;
        var entries = new List<AuditEntry>();
        var segments = Segments(Directory);
        for (var i = 0; i < segments.Count; i++)
        {
            // Every entry of a segment comes before the next segment's first: skip the ones wholly at or before `after`.
            if (i + 1 < segments.Count && segments[i + 1].First <= query.After + 1)
            {
                continue;
            }

            foreach (var entry in ReadSegment(segments[i].Path))
            {
                if (entry.Sequence > upTo)
                {
                    break; // being written now: the next read has it
                }

                if (!query.Matches(entry))
                {
                    continue;
                }

                if (entries.Count == limit)
                {
                    return new AuditPage(entries, entries[^1].Sequence, upTo);
                }

                entries.Add(entry);
            }
        }

        return new AuditPage(entries, null, upTo);
    }

    /// <summary>
    /// New entries from now on, each once and in order. A subscriber more than <see cref="SubscriberBacklog"/> entries behind
    /// is dropped: its reader ends with Unavailable and it subscribes again, reading what it missed with after=.
    /// </summary>
    public Subscription Subscribe()
    {
        var channel = Channel.CreateBounded<AuditEntry>(new BoundedChannelOptions(SubscriberBacklog) { SingleReader = true, SingleWriter = true });
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _subscribers.Add(channel);
        }

        return new Subscription(this, channel);
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (var subscriber in _subscribers)
            {
                subscriber.Writer.TryComplete();
            }

            _subscribers.Clear();
            _active.Handle.Dispose();
        }
    }

    /// <summary>The segment files of <paramref name="directory"/> by their first sequence, oldest first.</summary>
    public static IReadOnlyList<(long First, string Path)> Segments(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
        {
            return [];
        }

        var segments = new List<(long, string)>();
        foreach (var path in System.IO.Directory.EnumerateFiles(directory, FilePrefix + "*" + FileSuffix))
        {
            var name = Path.GetFileName(path);
            if (long.TryParse(name.AsSpan(FilePrefix.Length, name.Length - FilePrefix.Length - FileSuffix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var first))
            {
                segments.Add((first, path));
            }
        }

        segments.Sort((a, b) => a.Item1.CompareTo(b.Item1));
        return segments;
    }

    /// <summary>The entries of one segment file; lines that are not whole entries (a write cut by a power loss) are skipped.</summary>
    public static IEnumerable<AuditEntry> ReadSegment(string path)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(path, System.IO.FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
        }
        catch (FileNotFoundException)
        {
            yield break; // retention took it meanwhile
        }

        using (stream)
        using (var reader = new StreamReader(stream, Encoding.UTF8))
        {
            while (reader.ReadLine() is { } line)
            {
                if (Parse(line) is { } entry)
                {
                    yield return entry;
                }
            }
        }
    }

    private static AuditEntry? Parse(string line)
    {
        if (line.Length == 0)
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<AuditEntry>(line, Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private DateOnly Today() => DateOnly.FromDateTime(_time.GetUtcNow().UtcDateTime);

    private Segment Open(long first, DateOnly day)
    {
        var path = Path.Combine(Directory, $"{FilePrefix}{first.ToString("D20", CultureInfo.InvariantCulture)}{FileSuffix}");
        var fd = Libc.open(path, Libc.O_WRONLY | Libc.O_CREAT | Native.O_APPEND | Libc.O_CLOEXEC, 0x1A0 /* 0640 */);
        if (fd < 0)
        {
            throw new IOException($"Could not open the audit segment {path} (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}): check that {Directory} is writable by the agent.");
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        File.SetUnixFileMode(path, FileMode); // the agent's umask (077) narrowed the create mode
        return new Segment(path, first, handle, RandomAccess.GetLength(handle), day);
    }

    /// <summary>Closes the active segment (on disk first) and starts one whose first entry is <paramref name="first"/>.</summary>
    private void Roll(long first, DateTimeOffset now)
    {
        var old = _active;
        if (_options.SyncEachEntry && Native.fdatasync((int)old.Handle.DangerousGetHandle()) != 0)
        {
            throw new IOException($"Could not flush the audit segment {old.Path} (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}).");
        }

        _active = Open(first, DateOnly.FromDateTime(now.UtcDateTime));
        old.Handle.Dispose(); // a flush in progress holds a reference: the descriptor closes after it
        _nextRetention = DateTimeOffset.MinValue;
    }

    /// <summary>Drops whole closed segments: the oldest while all together exceed MaxBytes, and those last written before the retention days.</summary>
    private void ApplyRetention(DateTimeOffset now)
    {
        _nextRetention = now.AddMinutes(10);
        var segments = Segments(Directory).Where(s => s.Path != _active.Path).Select(s => new FileInfo(s.Path)).ToList();
        var total = segments.Sum(f => f.Length) + _active.Bytes;
        var cutoff = _options.RetentionDays > 0 ? now.UtcDateTime.AddDays(-_options.RetentionDays) : DateTime.MinValue;
        foreach (var file in segments)
        {
            if (total <= _options.MaxBytes && file.LastWriteTimeUtc >= cutoff)
            {
                continue;
            }

            try
            {
                var length = file.Length;
                file.Delete();
                total -= length;
            }
            catch (IOException)
            {
                // Tried again at the next pass.
            }
        }
    }

    /// <summary>Makes entries up to <paramref name="sequence"/> durable; concurrent callers share one fdatasync.</summary>
    private void SyncThrough(long sequence)
    {
        lock (_syncLock)
        {
            if (_durable >= sequence)
            {
                return;
            }

            SafeFileHandle handle;
            long upTo;
            var added = false;
            lock (_lock)
            {
                // Entries before the active segment were flushed when it was rolled: flushing it covers all up to _last.
                handle = _active.Handle;
                upTo = _last;
                handle.DangerousAddRef(ref added);
            }

            try
            {
                if (Native.fdatasync((int)handle.DangerousGetHandle()) != 0)
                {
                    throw new IOException($"Could not flush the audit trail in {Directory} (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}).");
                }
            }
            finally
            {
                if (added)
                {
                    handle.DangerousRelease();
                }
            }

            _durable = upTo;
        }
    }

    private void Publish(AuditEntry entry)
    {
        List<Channel<AuditEntry>>? behind = null;
        foreach (var subscriber in _subscribers)
        {
            if (!subscriber.Writer.TryWrite(entry))
            {
                (behind ??= []).Add(subscriber);
            }
        }

        foreach (var subscriber in behind ?? [])
        {
            _subscribers.Remove(subscriber);
            subscriber.Writer.TryComplete(new ComputeException(ComputeErrorCode.Unavailable,
                $"This audit subscription fell more than {SubscriberBacklog} entries behind and was ended; subscribe again with after=<the last sequence you have>."));
        }
    }

    private void Remove(Channel<AuditEntry> channel)
    {
        lock (_lock)
        {
            _subscribers.Remove(channel);
        }

        channel.Writer.TryComplete();
    }

    private static unsafe void WriteAll(SafeFileHandle handle, byte[] bytes)
    {
        fixed (byte* start = bytes)
        {
            var done = 0;
            while (done < bytes.Length)
            {
                var written = Libc.write((int)handle.DangerousGetHandle(), start + done, (nuint)(bytes.Length - done));
                if (written < 0)
                {
                    var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
                    if (errno == Libc.EINTR)
                    {
                        continue;
                    }

                    throw new IOException($"Could not write the audit trail (errno {errno}): is its filesystem full?");
                }

                done += (int)written;
            }
        }
    }

    /// <summary>A power loss can cut the last line: end it, so the next entry starts on a line of its own.</summary>
    private static void TerminateTornLine(string path)
    {
        using var stream = new FileStream(path, System.IO.FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        if (stream.Length == 0)
        {
            return;
        }

        stream.Seek(-1, SeekOrigin.End);
        if (stream.ReadByte() != '\n')
        {
            stream.Seek(0, SeekOrigin.End);
            stream.WriteByte((byte)'\n');
            stream.Flush(flushToDisk: true);
        }
    }

    /// <summary>The sequence of the last whole entry in <paramref name="path"/>, read from its end.</summary>
    private static long? LastSequenceIn(string path)
    {
        using var stream = new FileStream(path, System.IO.FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var start = Math.Max(0, stream.Length - TailBytes);
        stream.Seek(start, SeekOrigin.Begin);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var lines = reader.ReadToEnd().Split('\n');
        for (var i = lines.Length - 1; i >= 0; i--)
        {
            if (Parse(lines[i]) is { } entry)
            {
                return entry.Sequence;
            }
        }

        // No whole entry in the tail (a long run of cut lines): read all of it.
        return start == 0 ? null : ReadSegment(path).Select(e => (long?)e.Sequence).LastOrDefault();
    }

    public sealed class Subscription(AuditLog log, Channel<AuditEntry> channel) : IDisposable
    {
        public ChannelReader<AuditEntry> Entries => channel.Reader;

        public void Dispose() => log.Remove(channel);
    }
}
