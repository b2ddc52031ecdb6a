using Portal.Contracts.Guest;

namespace Portal.Compute.Linux.Vm;

/// <summary>
/// One guest process's stdout and stderr on the host, and its exit. Created only by the host: for the container's
/// first process, and for an exec when the guest's response names it (so a guest cannot make the host keep output for
/// ids nobody asked for). Each stream holds at most <see cref="GuestProtocol.OutputWindow"/> bytes.
/// </summary>
internal sealed class GuestProcessOutput
{
    private readonly TaskCompletionSource<int> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public GuestProcessOutput(uint processId, Func<uint, FrameKind, ulong, ValueTask>? acknowledge, int window = GuestProtocol.OutputWindow)
    {
        ProcessId = processId;
        Stdout = new GuestOutputStream(processId, FrameKind.Stdout, acknowledge, window);
        Stderr = new GuestOutputStream(processId, FrameKind.Stderr, acknowledge, window);
    }

    public uint ProcessId { get; }

    /// <summary>True once a start or exec response named this process (a second response naming it is a protocol violation).</summary>
    public bool Announced { get; set; }

    public GuestOutputStream Stdout { get; }

    public GuestOutputStream Stderr { get; }

    public Stream StandardOutput => Stdout;

    public Stream StandardError => Stderr;

    public GuestOutputStream Of(FrameKind kind) => kind == FrameKind.Stderr ? Stderr : Stdout;

    /// <summary>Bytes received and not yet taken by a reader.</summary>
    public long BufferedBytes => Stdout.BufferedBytes + Stderr.BufferedBytes;

    /// <summary>The process's exit code (255 when the channel closed first).</summary>
    public Task<int> Exited => _exit.Task;

    public void SetExit(int code) => _exit.TrySetResult(code);

    public void Complete()
    {
        Stdout.Complete();
        Stderr.Complete();
    }
}

/// <summary>What <see cref="GuestOutputStream.Accept"/> did with a chunk.</summary>
internal enum OutputAccept
{
    Accepted,

    /// <summary>Already delivered (sent again after a reconnect): dropped, to be acknowledged again.</summary>
    Duplicate,

    /// <summary>
    /// Received before and not yet delivered (sent again after a Hello on the same connection): dropped; the reader
    /// acknowledges it when it takes the first copy, not before, or the window would open under a slow reader.
    /// </summary>
    Held,

    /// <summary>The stream is complete: nobody reads it any more; dropped, to be acknowledged.</summary>
    Discarded,

    /// <summary>Past the window: the guest did not wait for acknowledgements.</summary>
    Overflow,
}

/// <summary>
/// One stream of a guest process: chunks as they came off the channel, read either as a stream (each chunk is
/// acknowledged once it was read whole) or chunk by chunk (the reader acknowledges when it has stored the chunk).
/// With an acknowledging guest the read loop never waits here: a guest that sends more than the window is refused.
/// With an older guest (no acknowledgements) the read loop waits for room instead, which holds the whole channel back.
/// </summary>
internal sealed class GuestOutputStream : Stream
{
    private readonly uint _processId;
    private readonly FrameKind _kind;
    private readonly Func<uint, FrameKind, ulong, ValueTask>? _acknowledge;
    private readonly int _window;
    private readonly Lock _gate = new();
    private readonly Queue<OutputChunk> _chunks = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private OutputChunk? _current;
    private int _currentOffset;
    private long _buffered;
    private bool _completed;
    private ulong _last;
    private ulong _acknowledged;

    public GuestOutputStream(uint processId, FrameKind kind, Func<uint, FrameKind, ulong, ValueTask>? acknowledge, int window)
    {
        _processId = processId;
        _kind = kind;
        _acknowledge = acknowledge;
        _window = window;
    }

    public long BufferedBytes
    {
        get
        {
            lock (_gate)
            {
                return _buffered;
            }
        }
    }

    /// <summary>The highest sequence number received; chunks up to it are duplicates. Set before reading to resume (what is set counts as acknowledged).</summary>
    public ulong Delivered
    {
        get
        {
            lock (_gate)
            {
                return _last;
            }
        }

        set
        {
            lock (_gate)
            {
                _last = Math.Max(_last, value);
                _acknowledged = Math.Max(_acknowledged, value);
            }
        }
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>A sequenced chunk from an acknowledging guest (never waits).</summary>
    public OutputAccept Accept(ulong sequence, ReadOnlyMemory<byte> data)
    {
        lock (_gate)
        {
            if (_completed)
            {
                return OutputAccept.Discarded;
            }

            if (sequence <= _last)
            {
                return sequence <= _acknowledged ? OutputAccept.Duplicate : OutputAccept.Held;
            }

            if (_buffered + data.Length > _window)
            {
                return OutputAccept.Overflow;
            }

            _last = sequence;
            AddLocked(new OutputChunk(data, sequence));
            return OutputAccept.Accepted;
        }
    }

    /// <summary>A chunk from an older guest: waits while the stream holds a window's worth (back-pressure on the channel).</summary>
    public async ValueTask WriteUnsequencedAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (_completed)
                {
                    return;
                }

                if (_buffered == 0 || _buffered + data.Length <= _window)
                {
                    AddLocked(new OutputChunk(data, 0));
                    return;
                }

                changed = _changed.Task;
            }

            await changed.WaitAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>No more output: readers get what is buffered, then the end.</summary>
    public void Complete()
    {
        lock (_gate)
        {
            _completed = true;
            SignalLocked();
        }
    }

    /// <summary>The next whole chunk (null at the end); the caller acknowledges it with <see cref="AcknowledgeAsync"/> once stored.</summary>
    public async ValueTask<OutputChunk?> ReadChunkAsync(CancellationToken ct)
    {
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (_chunks.TryDequeue(out var chunk))
                {
                    _buffered -= chunk.Data.Length;
                    SignalLocked();
                    return chunk;
                }

                if (_completed)
                {
                    return null;
                }

                changed = _changed.Task;
            }

            await changed.WaitAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>Tells the guest this stream's output up to <paramref name="sequence"/> is delivered (it may forget it and send more).</summary>
    public async ValueTask AcknowledgeAsync(ulong sequence)
    {
        if (_acknowledge is not null && sequence > 0)
        {
            lock (_gate)
            {
                _acknowledged = Math.Max(_acknowledged, sequence);
            }

            try
            {
                await _acknowledge(_processId, _kind, sequence).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
            {
                // The connection is gone: the guest sends it again to the next one, which drops it as delivered.
            }
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        while (true)
        {
            Task? changed = null;
            ulong finished = 0;
            var copied = 0;
            lock (_gate)
            {
                if (_current is null && _chunks.TryDequeue(out var next))
                {
                    _current = next;
                    _currentOffset = 0;
                }

                if (_current is { } chunk)
                {
                    copied = Math.Min(buffer.Length, chunk.Data.Length - _currentOffset);
                    chunk.Data.Span.Slice(_currentOffset, copied).CopyTo(buffer.Span);
                    _currentOffset += copied;
                    _buffered -= copied;
                    if (_currentOffset == chunk.Data.Length)
                    {
                        finished = chunk.Sequence;
                        _current = null;
                    }

                    SignalLocked();
                }
                else if (_completed)
                {
                    return 0;
                }
                else
                {
                    changed = _changed.Task;
                }
            }

            if (changed is null)
            {
                await AcknowledgeAsync(finished).ConfigureAwait(false);
                return copied;
            }

            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("Use ReadAsync: guest output arrives asynchronously.");

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private void AddLocked(OutputChunk chunk)
    {
        _chunks.Enqueue(chunk);
        _buffered += chunk.Data.Length;
        SignalLocked();
    }

    private void SignalLocked() => Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
}

/// <summary>A chunk of a guest process's output and its sequence number (0 from a guest that does not number output).</summary>
internal sealed record OutputChunk(ReadOnlyMemory<byte> Data, ulong Sequence);
