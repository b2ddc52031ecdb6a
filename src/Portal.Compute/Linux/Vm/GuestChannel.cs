using System.Buffers;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text.Json;
using Portal.Contracts.Guest;

namespace Portal.Compute.Linux.Vm;

/// <summary>
/// The host end of the guest channel (see <see cref="GuestProtocol"/>): requests matched to responses by id,
/// events, and stdio demultiplexed into one stream pair per guest process.
///
/// The guest is not trusted: everything it can make the host allocate is bounded. Frames are at most
/// <see cref="GuestProtocol.MaxPayload"/>; output is kept only for processes the host made (the first process, and an
/// exec once its response names it), at most <see cref="GuestProtocol.OutputWindow"/> per stream: an acknowledging
/// guest (protocol 3) sends more only after the reader took it, and output for any other id is dropped and
/// acknowledged. An older guest's output may arrive before its exec's response: up to <see cref="MaxUnclaimed"/> such
/// processes are kept, and a full stream holds the channel back. A guest that breaks the protocol (malformed frames or
/// JSON, frames of the wrong direction, output past the window) closes the channel with <see cref="Violation"/> set.
///
/// A guest of protocol 4 is probed (<see cref="GuestProbe"/>): when a request has waited, or the channel has been idle,
/// with nothing from the guest for a while, the host says Hello again on the same connection. A guest that ended its
/// session on a previous connection's late hang-up keeps everything for the next Hello and would otherwise never answer;
/// the Hello restarts the session, and every waiting request is sent again with its id (the guest answers it once more
/// or when it finishes, and never runs it twice). A guest that answers no Hello is hung up on, so that its owner connects
/// afresh (<see cref="CloseReason"/> says why).
/// </summary>
internal sealed class GuestChannel : IAsyncDisposable
{
    private readonly Stream _stream;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    /// <summary>Processes an older guest (no acknowledgements) may name before the host has their exec's response.</summary>
    public const int MaxUnclaimed = 16;

    /// <summary>How much a reconnect skips, looking for the Hello's response, before it gives up on the guest.</summary>
    private const long MaxResyncBytes = 16L << 20;

    private readonly ConcurrentDictionary<uint, PendingRequest> _pending = new();
    private readonly ConcurrentDictionary<uint, GuestProcessOutput> _outputs = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reader;
    private readonly Func<string?, (ulong Stdout, ulong Stderr)>? _firstProcessDelivered;
    private int _nextRequest;
    private int _disposed;
    private uint? _syncOn;
    private long _lastReceived = Environment.TickCount64;
    private string? _hangUp;
    private Task _probing = Task.CompletedTask;

    /// <param name="resync">
    /// Skip whatever arrives before the response to the first request (the Hello). A guest that has not yet noticed
    /// the previous connection's hang-up can still be writing the rest of a frame meant for it; the Hello's id is
    /// random, so its response's header is the first point in the stream that is surely a frame boundary.
    /// </param>
    private GuestChannel(Stream stream, Action<GuestEvent>? onEvent, bool resync = false, int version = GuestProtocol.MinimumVersion, Func<string?, (ulong Stdout, ulong Stderr)>? firstProcessDelivered = null)
    {
        _stream = stream;
        OnEvent = onEvent;
        Version = version;
        _firstProcessDelivered = firstProcessDelivered;
        if (resync)
        {
            _nextRequest = System.Security.Cryptography.RandomNumberGenerator.GetInt32(1 << 20, int.MaxValue / 2);
            _syncOn = (uint)(_nextRequest + 1);
        }

        _reader = Task.Run(ReadLoopAsync);
    }

    /// <summary>Raised on the reading task for every event; handlers must not block.</summary>
    private Action<GuestEvent>? OnEvent { get; }

    /// <summary>Completes when the guest end went away (the VM stopped, or the channel broke).</summary>
    public Task Closed => _closed.Task;

    /// <summary>Why the channel closed, once it has.</summary>
    public string? CloseReason { get; private set; }

    /// <summary>Set when the channel closed because the guest broke the protocol: the VM must be stopped, not reconnected.</summary>
    public string? Violation { get; private set; }

    /// <summary>The protocol version agreed in the Hello (networking needs <see cref="GuestProtocol.NetworkingVersion"/>).</summary>
    public int Version { get; private set; }

    /// <summary>The guest kernel's release, from the Hello response.</summary>
    public string? GuestKernel { get; private set; }

    /// <summary>The guest's boot id (protocol 3): output sequence numbers are per boot.</summary>
    public string? GuestBoot { get; private set; }

    /// <summary>Output bytes held for readers, over every process (bounded: see the class summary).</summary>
    public long BufferedOutputBytes => _outputs.Values.Sum(o => o.BufferedBytes);

    /// <summary>How many processes the host keeps output for.</summary>
    public int OutputCount => _outputs.Count;

    private bool Acknowledging => Version >= GuestProtocol.AcknowledgedOutputVersion;

    /// <summary>How many times this connection said Hello again to a guest that had gone quiet.</summary>
    public int Probes { get; private set; }

    /// <summary>A channel over a connected stream that skips the Hello (tests): <paramref name="version"/> is taken as agreed.</summary>
    public static GuestChannel Over(Stream stream, Action<GuestEvent>? onEvent = null, int version = GuestProtocol.MinimumVersion, GuestProbe? probe = null)
    {
        var channel = new GuestChannel(stream, onEvent, version: version);
        if (probe is not null)
        {
            channel.StartProbing(probe);
        }

        return channel;
    }

    /// <summary>
    /// Connects to the worker's socket and says Hello, retrying until the guest agent answers. The guest opens its
    /// port only once it has booted, so until then the Hello waits in the socket. A connection made while QEMU still
    /// holds the previous agent's is closed at once, and a Hello can be lost in the hand-over between two host
    /// connections, so a connection that closes or stays unanswered for a while is replaced by a fresh one.
    /// <paramref name="workerAlive"/> lets a dead worker end the wait at once.
    /// </summary>
    /// <param name="firstProcessDelivered">
    /// Given the guest's boot id, what of the first process's output is already delivered (in the container log): called
    /// on the reading task when the Hello is answered, before the output the guest sends again is read.
    /// </param>
    public static async Task<GuestChannel> ConnectAsync(string socketPath, Action<GuestEvent>? onEvent, Func<bool> workerAlive, TimeSpan timeout, CancellationToken ct, Func<string?, (ulong Stdout, ulong Stderr)>? firstProcessDelivered = null, GuestProbe? probe = null)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        while (true)
        {
            var socket = await OpenAsync(socketPath, workerAlive, deadline.Token).ConfigureAwait(false);
            var channel = new GuestChannel(new NetworkStream(socket, ownsSocket: true), onEvent, resync: true, firstProcessDelivered: firstProcessDelivered);
            try
            {
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token);
                attempt.CancelAfter(HelloAttempt);
                var hello = channel.RequestAsync(new HelloRequest(GuestProtocol.Version), attempt.Token);
                while (!hello.IsCompleted)
                {
                    await Task.WhenAny(hello, Task.Delay(200, deadline.Token)).ConfigureAwait(false);
                    if (!hello.IsCompleted && !workerAlive())
                    {
                        throw new GuestChannelException("The VM worker ended before the guest agent answered.");
                    }
                }

                GuestResponse response;
                try
                {
                    response = await hello.ConfigureAwait(false);
                }
                catch (GuestChannelException e) when (e.FromGuest)
                {
                    // A guest older than this host refuses its version: speak the oldest one (it then has no networking).
                    response = await channel.RequestAsync(new HelloRequest(GuestProtocol.MinimumVersion), deadline.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is OperationCanceledException or GuestChannelException { FromGuest: false } && !deadline.IsCancellationRequested && channel.Violation is null)
                {
                    await channel.DisposeAsync().ConfigureAwait(false);
                    await Task.Delay(100, deadline.Token).ConfigureAwait(false);
                    continue;
                }

                var version = response.Version ?? GuestProtocol.MinimumVersion;
                if (version is < GuestProtocol.MinimumVersion or > GuestProtocol.Version)
                {
                    throw new GuestChannelException($"The guest agent speaks protocol version {version}; this host speaks {GuestProtocol.MinimumVersion} to {GuestProtocol.Version}. Rebuild the guest (deploy/guest/build).");
                }

                channel.StartProbing(probe ?? GuestProbe.Default);
                return channel;
            }
            catch
            {
                await channel.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
    }

    /// <summary>How long one connection waits for the Hello's answer before a fresh one is tried (a booting guest keeps its Hello waiting longer).</summary>
    private static readonly TimeSpan HelloAttempt = TimeSpan.FromSeconds(15);

    private static async Task<Socket> OpenAsync(string socketPath, Func<bool> workerAlive, CancellationToken ct)
    {
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct).ConfigureAwait(false);
                return socket;
            }
            catch (SocketException) when (!ct.IsCancellationRequested)
            {
                socket.Dispose();
                if (!workerAlive())
                {
                    throw new GuestChannelException("The VM worker ended before its guest channel opened.");
                }

                await Task.Delay(20, ct).ConfigureAwait(false);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
    }

    /// <summary>A fresh request id of this connection (random per connection), to send one request under the same id on the next connection too.</summary>
    public uint NewRequestId() => (uint)Interlocked.Increment(ref _nextRequest);

    /// <summary>
    /// Sends a request and waits for its response; a response with Error set throws. With <paramref name="id"/> (from
    /// <see cref="NewRequestId"/> of an earlier connection) a guest of protocol 4 that already ran it answers without
    /// running it again.
    /// </summary>
    public Task<GuestResponse> RequestAsync(GuestRequest request, CancellationToken ct, uint? id = null) =>
        RequestAsync(request, id ?? NewRequestId(), probe: false, ct);

    private async Task<GuestResponse> RequestAsync(GuestRequest request, uint id, bool probe, CancellationToken ct)
    {
        var completion = new TaskCompletionSource<GuestResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        var payload = JsonSerializer.SerializeToUtf8Bytes(request, GuestJsonContext.Default.GuestRequest);
        _pending[id] = new PendingRequest(completion, request, payload, probe, Environment.TickCount64);
        try
        {
            if (_closed.Task.IsCompleted)
            {
                throw new GuestChannelException("The guest channel is closed: the VM is not running.");
            }

            await WriteFrameAsync(FrameKind.Request, id, payload, ct).ConfigureAwait(false);
            var response = await completion.Task.WaitAsync(ct).ConfigureAwait(false);
            if (response.Error is { } error)
            {
                throw new GuestChannelException(error, fromGuest: true);
            }

            return response;
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    /// <summary>Sends bytes to a process's stdin; an empty buffer closes it.</summary>
    public Task SendStdinAsync(uint processId, ReadOnlyMemory<byte> data, CancellationToken ct) =>
        WriteFrameAsync(FrameKind.Stdin, processId, data, ct);

    /// <summary>
    /// The output of a process the host started: created by the host only (the container's first process before its
    /// start; an exec's when its response arrives), so the guest cannot make the host keep output for other ids.
    /// <paramref name="stdoutDelivered"/> and <paramref name="stderrDelivered"/> resume a stream after a reconnect:
    /// output the guest sends again up to them is dropped as delivered.
    /// </summary>
    public GuestProcessOutput Claim(uint processId, ulong stdoutDelivered = 0, ulong stderrDelivered = 0)
    {
        var output = _outputs.GetOrAdd(processId, id => NewOutput(id));
        output.Stdout.Delivered = stdoutDelivered;
        output.Stderr.Delivered = stderrDelivered;
        if (_closed.Task.IsCompleted)
        {
            output.Complete();
            output.SetExit(255);
        }

        return output;
    }

    /// <summary>The output of a process the host made (or, from an older guest, one it named first); null for any other id.</summary>
    public GuestProcessOutput? Output(uint processId) => _outputs.GetValueOrDefault(processId);

    /// <summary>Ends a process's output streams and forgets them: its further output is dropped (and acknowledged).</summary>
    public void Release(uint processId)
    {
        if (_outputs.TryRemove(processId, out var output))
        {
            output.Complete();
            if (Acknowledging)
            {
                // What was received but not read will not be: the guest may forget it (else it keeps it for good).
                _ = AcknowledgeReleasedAsync(output);
            }
        }
    }

    private async Task AcknowledgeReleasedAsync(GuestProcessOutput output)
    {
        await output.Stdout.AcknowledgeAsync(output.Stdout.Delivered).ConfigureAwait(false);
        await output.Stderr.AcknowledgeAsync(output.Stderr.Delivered).ConfigureAwait(false);
    }

    private GuestProcessOutput NewOutput(uint processId) => new(processId, Acknowledging ? AcknowledgeAsync : null);

    private async ValueTask AcknowledgeAsync(uint processId, FrameKind stream, ulong sequence)
    {
        if (!_closed.Task.IsCompleted)
        {
            await WriteFrameAsync(FrameKind.Ack, processId, GuestProtocol.Ack(stream, sequence), _stop.Token).ConfigureAwait(false);
        }
    }

    private async Task WriteFrameAsync(FrameKind kind, uint channel, ReadOnlyMemory<byte> payload, CancellationToken ct)
    {
        if (payload.Length > GuestProtocol.MaxPayload)
        {
            for (var offset = 0; offset < payload.Length; offset += GuestProtocol.MaxPayload)
            {
                await WriteFrameAsync(kind, channel, payload.Slice(offset, Math.Min(GuestProtocol.MaxPayload, payload.Length - offset)), ct).ConfigureAwait(false);
            }

            return;
        }

        var frame = ArrayPool<byte>.Shared.Rent(GuestProtocol.HeaderLength + payload.Length);
        try
        {
            GuestProtocol.WriteHeader(frame, kind, channel, payload.Length);
            payload.Span.CopyTo(frame.AsSpan(GuestProtocol.HeaderLength));
            await _writeLock.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                await _stream.WriteAsync(frame.AsMemory(0, GuestProtocol.HeaderLength + payload.Length), ct).ConfigureAwait(false);
                await _stream.FlushAsync(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                throw new GuestChannelException((Violation is null ? "The guest channel broke: " : "The guest broke the protocol: ") + (Violation ?? e.Message), inner: e, violation: Violation);
            }
            finally
            {
                _writeLock.Release();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }

    private async Task ReadLoopAsync()
    {
        var header = new byte[GuestProtocol.HeaderLength];
        var error = "The guest channel closed.";
        try
        {
            if (_syncOn is { } helloId && !await SkipToResponseAsync(header, helloId).ConfigureAwait(false))
            {
                return;
            }

            var synced = _syncOn is not null;
            while (true)
            {
                if (!synced && !await ReadExactlyAsync(header).ConfigureAwait(false))
                {
                    break;
                }

                synced = false;
                Volatile.Write(ref _lastReceived, Environment.TickCount64);
                var length = GuestProtocol.ReadHeader(header, out var kind, out var channel);
                var payload = new byte[length];
                if (length > 0 && !await ReadExactlyAsync(payload).ConfigureAwait(false))
                {
                    break;
                }

                await DispatchAsync(kind, channel, payload).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is GuestProtocolException or InvalidDataException or JsonException or NotSupportedException)
        {
            Violation = e.Message;
            error = "The guest broke the protocol: " + e.Message;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
            error = "The guest channel broke: " + e.Message;
        }
        finally
        {
            error = _hangUp ?? error;
            foreach (var (_, pending) in _pending)
            {
                pending.Completion.TrySetException(new GuestChannelException(error, violation: Violation));
            }

            foreach (var (_, output) in _outputs)
            {
                output.Complete();
                output.SetExit(255);
            }

            CloseReason = error;
            if (Violation is not null)
            {
                // Hang up on a guest that broke the protocol: nothing it sends is read any more.
                await _stream.DisposeAsync().ConfigureAwait(false);
            }

            _closed.TrySetResult();
        }
    }

    /// <summary>Slides over the stream until <paramref name="header"/> holds the header of the response to <paramref name="requestId"/>.</summary>
    private async Task<bool> SkipToResponseAsync(byte[] header, uint requestId)
    {
        if (!await ReadExactlyAsync(header).ConfigureAwait(false))
        {
            return false;
        }

        var one = new byte[1];
        for (var skipped = 0L; ; skipped++)
        {
            if (skipped > MaxResyncBytes)
            {
                throw new GuestProtocolException($"no response to the Hello in {MaxResyncBytes >> 20} MiB of output.");
            }

            var length = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(header);
            if (header[4] == (byte)FrameKind.Response && length is >= 5 and <= GuestProtocol.MaxPayload + 5
                && System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(5)) == requestId)
            {
                return true;
            }

            if (!await ReadExactlyAsync(one).ConfigureAwait(false))
            {
                return false;
            }

            Buffer.BlockCopy(header, 1, header, 0, header.Length - 1);
            header[^1] = one[0];
        }
    }

    private async Task<bool> ReadExactlyAsync(byte[] buffer)
    {
        try
        {
            await _stream.ReadExactlyAsync(buffer, _stop.Token).ConfigureAwait(false);
            return true;
        }
        catch (EndOfStreamException)
        {
            return false;
        }
    }

    private async Task DispatchAsync(FrameKind kind, uint channel, byte[] payload)
    {
        switch (kind)
        {
            case FrameKind.Response:
                var response = JsonSerializer.Deserialize(payload, GuestJsonContext.Default.GuestResponse) ?? throw new GuestProtocolException($"the response to request {channel} is empty.");
                if (_pending.TryGetValue(channel, out var pending))
                {
                    OnResponse(pending, response);
                    pending.Completion.TrySetResult(response);
                    _pending.TryRemove(channel, out _); // here already, so that a second answer to a request sent again finds nothing
                }

                break;
            case FrameKind.Event:
                var e = JsonSerializer.Deserialize(payload, GuestJsonContext.Default.GuestEvent) ?? throw new GuestProtocolException("an event is empty.");
                if (e is ProcessExitedEvent exited && Output(exited.ProcessId) is { } ended)
                {
                    // Output frames come before the exit on the one channel: the output is complete now.
                    ended.Complete();
                    ended.SetExit(exited.ExitCode);
                }
                else if (e is ProcessExitedEvent early && !Acknowledging)
                {
                    // An older guest may report a quick exec's exit before its response.
                    Unclaimed(early.ProcessId)?.SetExit(early.ExitCode);
                }

                OnEvent?.Invoke(e);
                break;
            case FrameKind.Stdout:
            case FrameKind.Stderr:
                await OnOutputAsync(kind, channel, payload).ConfigureAwait(false);
                break;
            default:
                throw new GuestProtocolException($"a {kind} frame goes from the host to the guest, not back.");
        }
    }

    /// <summary>Runs on the reading task before the requester sees the response, so nothing that follows it is misread.</summary>
    private void OnResponse(PendingRequest pending, GuestResponse response)
    {
        if (pending is { Request: HelloRequest, IsProbe: false } && response.Error is null)
        {
            Version = response.Version ?? GuestProtocol.MinimumVersion;
            GuestKernel = response.Kernel;
            GuestBoot = response.Boot;
            if (_firstProcessDelivered is not null)
            {
                // The guest sends unacknowledged output right after this response: the first process's must find its
                // streams, resumed where the log left off.
                var (stdout, stderr) = _firstProcessDelivered(GuestBoot);
                Claim(1, stdout, stderr);
            }
        }

        if (pending.Request is StartContainerRequest or ExecRequest && response is { Error: null, ProcessId: { } id })
        {
            var output = _outputs.GetOrAdd(id, NewOutput);
            if (output.Announced)
            {
                throw new GuestProtocolException($"two processes were given the id {id}.");
            }

            output.Announced = true;
        }
    }

    private async Task OnOutputAsync(FrameKind kind, uint processId, byte[] payload)
    {
        if (!Acknowledging)
        {
            if ((Output(processId) ?? Unclaimed(processId)) is { } legacy)
            {
                await legacy.Of(kind).WriteUnsequencedAsync(payload, _stop.Token).ConfigureAwait(false);
            }

            return;
        }

        if (payload.Length < GuestProtocol.SequenceLength)
        {
            throw new GuestProtocolException($"an output frame of process {processId} has no sequence number.");
        }

        var sequence = System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(payload);
        if (sequence == 0)
        {
            throw new GuestProtocolException($"an output frame of process {processId} has sequence number 0 (they start at 1).");
        }
        var data = payload.AsMemory(GuestProtocol.SequenceLength);
        var result = Output(processId) is { } output ? output.Of(kind).Accept(sequence, data) : OutputAccept.Discarded;
        switch (result)
        {
            case OutputAccept.Overflow:
                throw new GuestProtocolException($"process {processId} sent more than {GuestProtocol.OutputWindow >> 10} KiB of {kind} without waiting for acknowledgements.");
            case OutputAccept.Duplicate or OutputAccept.Discarded:
                // Delivered before a reconnect, or nobody reads it (an exec whose client left, or an id the host never
                // made): the guest may forget it.
                await AcknowledgeAsync(processId, kind, sequence).ConfigureAwait(false);
                break;
            case OutputAccept.Held:
                // Sent again after a probe while the first copy waits for its reader: acknowledged when that one is read.
                break;
        }
    }

    /// <summary>An older guest named a process before its exec's response: keep a few such, dropping the oldest.</summary>
    private GuestProcessOutput? Unclaimed(uint processId)
    {
        var unclaimed = _outputs.Values.Where(o => !o.Announced && o.ProcessId != 1).OrderBy(o => o.ProcessId).ToList();
        if (unclaimed.Count >= MaxUnclaimed)
        {
            if (_outputs.TryRemove(unclaimed[0].ProcessId, out var oldest))
            {
                oldest.Complete();
            }
        }

        return _outputs.GetOrAdd(processId, NewOutput);
    }

    /// <summary>Closes the connection without waiting for the reader (the guest keeps its output for the next Hello).</summary>
    public void Close()
    {
        _stop.Cancel();
        _stream.Dispose();
    }

    private void StartProbing(GuestProbe probe)
    {
        if (Version >= GuestProtocol.RepeatableRequestsVersion)
        {
            _probing = Task.Run(() => ProbeAsync(probe));
        }
    }

    /// <summary>Says Hello again when the guest has gone quiet (see the class summary), then sends every waiting request again.</summary>
    private async Task ProbeAsync(GuestProbe probe)
    {
        try
        {
            while (!_closed.Task.IsCompleted)
            {
                await Task.Delay(probe.Tick, _stop.Token).ConfigureAwait(false);
                var waiting = _pending.Values.Where(p => !p.IsProbe).Select(p => p.SentAt).DefaultIfEmpty(long.MaxValue).Min();
                var now = Environment.TickCount64;
                var quietSince = Volatile.Read(ref _lastReceived);
                var due = waiting != long.MaxValue ? now - Math.Max(quietSince, waiting) >= probe.Waiting.TotalMilliseconds : now - quietSince >= probe.Idle.TotalMilliseconds;
                if (!due)
                {
                    continue;
                }

                Probes++;
                using (var answer = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
                {
                    answer.CancelAfter(probe.Answer);
                    try
                    {
                        await RequestAsync(new HelloRequest(Version), NewRequestId(), probe: true, answer.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!_stop.IsCancellationRequested)
                    {
                        _hangUp = $"The guest answered no Hello within {probe.Answer.TotalSeconds:0.#} s.";
                        Close();
                        return;
                    }
                }

                foreach (var (id, pending) in _pending)
                {
                    if (!pending.IsProbe)
                    {
                        await WriteFrameAsync(FrameKind.Request, id, pending.Payload, _stop.Token).ConfigureAwait(false);
                    }
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or GuestChannelException or ObjectDisposedException)
        {
            // The channel closed: its owner sees Closed.
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
        try
        {
            await _reader.ConfigureAwait(false);
            await _probing.ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
        }

        _stop.Dispose();
        _writeLock.Dispose();
    }
}

/// <summary>
/// A request waiting for its response (its bytes, to send it again): the connection's first Hello sets the version, a
/// start's or exec's makes the process's output. A probe is a Hello sent again on the same connection.
/// </summary>
internal sealed record PendingRequest(TaskCompletionSource<GuestResponse> Completion, GuestRequest Request, byte[] Payload, bool IsProbe, long SentAt);

/// <summary>
/// When a connection to a guest of protocol 4 says Hello again: a request has waited <see cref="Waiting"/> with nothing
/// from the guest, or nothing came for <see cref="Idle"/>; a guest that answers no Hello within <see cref="Answer"/> is
/// hung up on. Frames of any kind count as something from the guest, so a busy guest is never probed.
/// </summary>
internal sealed record GuestProbe(TimeSpan Waiting, TimeSpan Idle, TimeSpan Answer)
{
    public static GuestProbe Default { get; } = new(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30));

    /// <summary>How often the connection looks.</summary>
    public TimeSpan Tick => TimeSpan.FromTicks(Math.Min(TimeSpan.TicksPerSecond, Math.Min(Waiting.Ticks, Idle.Ticks) / 4));
}

/// <summary>The guest broke the protocol: the channel closes and the VM is stopped with this reason.</summary>
internal sealed class GuestProtocolException(string message) : Exception(message);

/// <summary>The guest channel failed, or the guest refused a request (<see cref="FromGuest"/>).</summary>
internal sealed class GuestChannelException : IOException
{
    public GuestChannelException(string message, bool fromGuest = false, Exception? inner = null, string? violation = null)
        : base(message, inner)
    {
        FromGuest = fromGuest;
        Violation = violation;
    }

    public bool FromGuest { get; }

    /// <summary>Set when the channel failed because the guest broke the protocol.</summary>
    public string? Violation { get; }
}
