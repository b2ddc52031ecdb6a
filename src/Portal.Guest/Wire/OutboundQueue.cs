namespace Portal.Guest.Wire;

/// <summary>
/// What the guest has to say to the host, kept while no host listens. Output is bounded (the oldest output frames
/// go first when over the limit); responses and events are never dropped for size. A new session (a HelloRequest)
/// discards responses to the previous connection's requests, puts the Hello response first, and re-sends every
/// exit event already written (a connection that dropped may have lost it; the host treats repeats as no-ops).
/// </summary>
internal sealed class OutboundQueue(long outputLimitBytes = OutboundQueue.DefaultOutputLimit)
{
    public const long DefaultOutputLimit = 4L << 20;

    private readonly object _gate = new();
    private readonly LinkedList<OutboundFrame> _frames = new();
    private readonly List<OutboundFrame> _writtenExits = [];
    private long _outputBytes;
    private long _droppedOutputBytes;
    private bool _sessionActive;
    private bool _stopped;
    private int _inFlight;
    private int _session;

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

    public IReadOnlyList<OutboundFrame> Snapshot()
    {
        lock (_gate)
        {
            return [.. _frames];
        }
    }

    public void Enqueue(OutboundFrame frame)
    {
        lock (_gate)
        {
            _frames.AddLast(frame);
            if (frame.IsOutput)
            {
                _outputBytes += frame.Payload.Length;
                DropOldestOutput();
            }

            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>A host said Hello: answer first, then re-send written exit events, then everything still queued.</summary>
    public void StartSession(OutboundFrame helloResponse)
    {
        lock (_gate)
        {
            for (var node = _frames.First; node is not null;)
            {
                var next = node.Next;
                if (node.Value.Kind == Contracts.Guest.FrameKind.Response)
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
            _frames.AddFirst(helloResponse);
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

    /// <summary>Blocks the (dedicated) writer thread until a frame can be written (and says in which session); null once stopped.</summary>
    public OutboundFrame? Take(out int session)
    {
        lock (_gate)
        {
            session = _session;
            while (!_stopped)
            {
                if (TakeLocked() is { } frame)
                {
                    session = _session;
                    return frame;
                }

                Monitor.Wait(_gate);
            }

            return null;
        }
    }

    /// <summary>The frame reached the port.</summary>
    public void Written(OutboundFrame frame)
    {
        lock (_gate)
        {
            _inFlight--;
            if (frame.ExitedProcess is not null)
            {
                _writtenExits.Add(frame);
            }
        }
    }

    /// <summary>The frame could not be written (the host went away before any of it left): it goes first next time.</summary>
    public void Unsent(OutboundFrame frame)
    {
        lock (_gate)
        {
            _inFlight--;
            if (frame.Kind != Contracts.Guest.FrameKind.Response)
            {
                _frames.AddFirst(frame);
                if (frame.IsOutput)
                {
                    _outputBytes += frame.Payload.Length;
                }
            }
        }
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
                _frames.Remove(node);
            }

            node = next;
        }
    }
}
