using Portal.Contracts.Guest;

namespace Portal.Guest.Wire;

/// <summary>
/// What the guest has to say to the host, kept while no host listens.
///
/// With a host of protocol 3 or later, output is acknowledged: every output frame gets a sequence number (per process
/// and stream) and is kept after it was written until the host acknowledges it; a stream has at most
/// <see cref="GuestProtocol.OutputWindow"/> bytes queued or unacknowledged, and <see cref="EnqueueOutput"/> blocks the
/// process's pump past that (the process then blocks on its write), so nothing is dropped and memory stays bounded.
/// With an older host output is bounded by dropping the oldest output frames; responses and events are never dropped.
///
/// A new session (a HelloRequest) sends, in this order: the Hello response, the output written but not acknowledged
/// (the host drops what it already has by sequence), every exit event already written (a connection that dropped may
/// have lost it; the host treats repeats as no-ops), then everything still queued. Queued responses stay, in their
/// place before the output of the process they name, when the host speaks protocol 4: its request ids are random per
/// connection, so it ignores answers meant for an earlier one and matches those meant for itself (a Hello it sent again
/// on the same connection). For an older host, whose ids start again at every connection, they are dropped.
/// </summary>
internal sealed class OutboundQueue(long outputLimitBytes = OutboundQueue.DefaultOutputLimit, int version = GuestProtocol.Version, int window = GuestProtocol.OutputWindow)
{
    public const long DefaultOutputLimit = 4L << 20;

    private readonly object _gate = new();
    private readonly LinkedList<OutboundFrame> _frames = new();
    private readonly LinkedList<OutboundFrame> _sent = new();
    private readonly List<OutboundFrame> _writtenExits = [];
    private readonly Dictionary<(uint Process, FrameKind Kind), OutputStream> _streams = [];
    private long _outputBytes;
    private long _droppedOutputBytes;
    private bool _sessionActive;
    private bool _stopped;
    private int _inFlight;
    private int _session;
    private int _version = version;

    public bool SessionActive
    {
        get
        {
            lock (_gate)
            {
                return _sessionActive;
            }
        }
    }

    /// <summary>The protocol version of the current (or last) session.</summary>
    public int Version
    {
        get
        {
            lock (_gate)
            {
                return _version;
            }
        }
    }

    /// <summary>Output bytes queued and not yet written.</summary>
    public long BufferedOutputBytes
    {
        get
        {
            lock (_gate)
            {
                return _outputBytes;
            }
        }
    }

    /// <summary>Output bytes written but not yet acknowledged (kept to be sent again).</summary>
    public long UnacknowledgedOutputBytes
    {
        get
        {
            lock (_gate)
            {
                return _sent.Sum(f => (long)f.Payload.Length);
            }
        }
    }

    public long DroppedOutputBytes
    {
        get
        {
            lock (_gate)
            {
                return _droppedOutputBytes;
            }
        }
    }

    /// <summary>True when nothing waits and nothing is being written.</summary>
    public bool IsDrained
    {
        get
        {
            lock (_gate)
            {
                return _frames.Count == 0 && _inFlight == 0;
            }
        }
    }

    private bool Acknowledged => _version >= GuestProtocol.AcknowledgedOutputVersion;

    public IReadOnlyList<OutboundFrame> Snapshot()
    {
        lock (_gate)
        {
            return [.. _frames];
        }
    }

    /// <summary>Queues a frame without waiting (output is numbered; with an older host the oldest output may go).</summary>
    public void Enqueue(OutboundFrame frame)
    {
        lock (_gate)
        {
            EnqueueLocked(frame);
        }
    }

    /// <summary>
    /// Queues a chunk of a process's output, first waiting while its stream's window is full (acknowledged sessions).
    /// Returns false, dropping the chunk, when <paramref name="cancelled"/> says to stop waiting or the queue stopped.
    /// </summary>
    public bool EnqueueOutput(FrameKind kind, uint process, byte[] data, Func<bool> cancelled)
    {
        lock (_gate)
        {
            var stream = Stream(process, kind);
            while (Acknowledged && stream.Unacknowledged > 0 && stream.Unacknowledged + data.Length > window)
            {
                if (_stopped || cancelled())
                {
                    return false;
                }

                Monitor.Wait(_gate, 100);
            }

            EnqueueLocked(new OutboundFrame(kind, process, data));
            return true;
        }
    }

    /// <summary>The host delivered a stream's output up to <paramref name="sequence"/>: forget it and open the window.</summary>
    public void Acknowledge(uint process, FrameKind kind, ulong sequence)
    {
        lock (_gate)
        {
            if (!_streams.TryGetValue((process, kind), out var stream))
            {
                return;
            }

            stream.Acknowledged = Math.Max(stream.Acknowledged, sequence);
            stream.Unacknowledged -= Remove(_sent, process, kind, sequence);
            var queued = Remove(_frames, process, kind, sequence);
            _outputBytes -= queued;
            stream.Unacknowledged -= queued;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>A host said Hello: answer first, then re-send unacknowledged output and written exit events, then everything still queued.</summary>
    public void StartSession(OutboundFrame helloResponse, int sessionVersion = GuestProtocol.Version)
    {
        lock (_gate)
        {
            for (var node = _frames.First; node is not null && !KeepsResponses(sessionVersion);)
            {
                var next = node.Next;
                if (node.Value.Kind == FrameKind.Response)
                {
                    _frames.Remove(node);
                }

                node = next;
            }

            for (var i = _writtenExits.Count - 1; i >= 0; i--)
            {
                _frames.AddFirst(_writtenExits[i]);
            }

            _writtenExits.Clear();
            for (var node = _sent.Last; node is not null; node = node.Previous)
            {
                _frames.AddFirst(node.Value);
                _outputBytes += node.Value.Payload.Length;
            }

            _sent.Clear();
            _frames.AddFirst(helloResponse);
            _version = sessionVersion;
            _sessionActive = true;
            _session++;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>
    /// The host went away: keep everything, write nothing until the next Hello. With <paramref name="session"/>, only
    /// that session ends: a failure seen on an old connection must not end the one a newer Hello started.
    /// </summary>
    public void EndSession(int? session = null)
    {
        lock (_gate)
        {
            if (session is null || session == _session)
            {
                _sessionActive = false;
            }
        }
    }

    public void Stop()
    {
        lock (_gate)
        {
            _stopped = true;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>The next frame to write, or null when none is ready (no session or nothing queued).</summary>
    public OutboundFrame? TryTake()
    {
        lock (_gate)
        {
            return TakeLocked();
        }
    }

    /// <summary>Blocks the (dedicated) writer thread until a frame can be written (and says in which session and version); null once stopped.</summary>
    public OutboundFrame? Take(out int session, out int sessionVersion)
    {
        lock (_gate)
        {
            session = _session;
            sessionVersion = _version;
            while (!_stopped)
            {
                if (TakeLocked() is { } frame)
                {
                    session = _session;
                    sessionVersion = _version;
                    return frame;
                }

                Monitor.Wait(_gate);
            }

            return null;
        }
    }

    /// <summary>The frame reached the port (or part of it did: then the rest is lost with the connection).</summary>
    public void Written(OutboundFrame frame)
    {
        lock (_gate)
        {
            _inFlight--;
            if (frame.ExitedProcess is not null)
            {
                _writtenExits.Add(frame);
            }

            if (frame.IsOutput)
            {
                var stream = Stream(frame.Channel, frame.Kind);
                if (Acknowledged && frame.Sequence > stream.Acknowledged)
                {
                    _sent.AddLast(frame); // until the host acknowledges it; sent again on the next Hello
                }
                else
                {
                    // An older host does not acknowledge; a quick one may have acknowledged it before this ran.
                    stream.Unacknowledged -= frame.Payload.Length;
                    Monitor.PulseAll(_gate);
                }
            }
        }
    }

    /// <summary>The frame could not be written (the host went away before any of it left): it goes first next time.</summary>
    public void Unsent(OutboundFrame frame)
    {
        lock (_gate)
        {
            _inFlight--;
            if (frame.Kind != FrameKind.Response || KeepsResponses(_version))
            {
                _frames.AddFirst(frame);
                if (frame.IsOutput)
                {
                    _outputBytes += frame.Payload.Length;
                }
            }
        }
    }

    private static bool KeepsResponses(int sessionVersion) => sessionVersion >= GuestProtocol.RepeatableRequestsVersion;

    private void EnqueueLocked(OutboundFrame frame)
    {
        if (frame.IsOutput)
        {
            var stream = Stream(frame.Channel, frame.Kind);
            if (frame.Sequence == 0)
            {
                frame = frame with { Sequence = ++stream.Next };
            }

            stream.Unacknowledged += frame.Payload.Length;
        }

        _frames.AddLast(frame);
        if (frame.IsOutput)
        {
            _outputBytes += frame.Payload.Length;
            if (!Acknowledged)
            {
                DropOldestOutput();
            }
        }

        Monitor.PulseAll(_gate);
    }

    private OutputStream Stream(uint process, FrameKind kind)
    {
        if (!_streams.TryGetValue((process, kind), out var stream))
        {
            stream = new OutputStream();
            _streams[(process, kind)] = stream;
        }

        return stream;
    }

    private static long Remove(LinkedList<OutboundFrame> frames, uint process, FrameKind kind, ulong sequence)
    {
        long bytes = 0;
        for (var node = frames.First; node is not null;)
        {
            var next = node.Next;
            if (node.Value is { IsOutput: true } f && f.Channel == process && f.Kind == kind && f.Sequence <= sequence)
            {
                bytes += f.Payload.Length;
                frames.Remove(node);
            }

            node = next;
        }

        return bytes;
    }

    private OutboundFrame? TakeLocked()
    {
        if (!_sessionActive || _frames.First is not { } first)
        {
            return null;
        }

        _frames.RemoveFirst();
        if (first.Value.IsOutput)
        {
            _outputBytes -= first.Value.Payload.Length;
        }

        _inFlight++;
        return first.Value;
    }

    private void DropOldestOutput()
    {
        for (var node = _frames.First; node is not null && _outputBytes > outputLimitBytes;)
        {
            var next = node.Next;
            if (node.Value.IsOutput)
            {
                _outputBytes -= node.Value.Payload.Length;
                _droppedOutputBytes += node.Value.Payload.Length;
                Stream(node.Value.Channel, node.Value.Kind).Unacknowledged -= node.Value.Payload.Length;
                _frames.Remove(node);
            }

            node = next;
        }
    }

    /// <summary>One process's stdout or stderr: the last sequence number given and the bytes not yet acknowledged.</summary>
    private sealed class OutputStream
    {
        public ulong Next;
        public ulong Acknowledged;
        public long Unacknowledged;
    }
}
